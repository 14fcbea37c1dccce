"""Freshness figures: percentiles, commit lag from gold events or derived from silver, visibility."""

import pytest

from bench.freshness import (
    FreshnessPoint,
    GoldCommit,
    SilverCommit,
    freshness_points,
    percentiles,
    summarise,
    visibility_latencies,
)

pytestmark = pytest.mark.unit


def test_percentiles_are_nearest_rank_observed_values():
    values = list(range(1, 101))  # 1..100
    assert percentiles(values) == {"p50": 50, "p95": 95, "p99": 99, "max": 100}
    assert percentiles([7.5]) == {"p50": 7.5, "p95": 7.5, "p99": 7.5, "max": 7.5}
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None, "max": None}


def test_gold_event_source_time_is_used_when_present():
    gold = [GoldCommit("fact_sales", 3, committed_ms=10_000, source_ts_ms=8_500)]
    points = freshness_points(gold, [SilverCommit("orders", 1, 9_999)], {("fact_sales", 3): {"orders": 1}})
    assert points == [FreshnessPoint("fact_sales", 3, 10_000, 8_500, 1_500, "gold_event")]


def test_without_it_the_newest_source_time_up_to_the_pinned_silver_versions_is_used():
    silver = [
        SilverCommit("orders", 1, 1_000),
        SilverCommit("orders", 2, 3_000),
        SilverCommit("orders", 3, 9_000),  # after the build pinned orders@2: not covered
        SilverCommit("order_lines", 5, 2_000),
        SilverCommit("order_lines", 6, 4_000),
    ]
    gold = [
        GoldCommit("fact_sales", 7, committed_ms=6_000),
        GoldCommit("fact_sales", 8, committed_ms=12_000),
        GoldCommit("dim_date", 1, committed_ms=5_000),  # no change notification: unknown, left out
    ]
    pinned = {("fact_sales", 7): {"orders": 2, "order_lines": 6}, ("fact_sales", 8): {"orders": 3}}
    points = freshness_points(gold, silver, pinned)
    assert [(p.version, p.covered_ms, p.lag_ms, p.method) for p in points] == [
        (7, 4_000, 2_000, "silver_versions"),
        (8, 9_000, 3_000, "silver_versions"),
    ]


def test_visibility_is_the_wait_for_the_first_gold_commit_covering_each_source_commit():
    points = [
        FreshnessPoint("t", 1, committed_ms=1_500, covered_ms=1_000, lag_ms=500, method="gold_event"),
        FreshnessPoint("t", 2, committed_ms=2_600, covered_ms=2_000, lag_ms=600, method="gold_event"),
    ]
    latencies, invisible = visibility_latencies(points, start_ms=800, end_ms=2_400, step_ms=200)
    # source commits at 800, 1000 → visible at 1500; 1200..2000 → at 2600; 2200 → never
    assert latencies == [700, 500, 1_400, 1_200, 1_000, 800, 600]
    assert invisible == 1


def test_visibility_never_goes_back_when_a_later_commit_covers_less():
    points = [
        FreshnessPoint("t", 1, committed_ms=1_000, covered_ms=900, lag_ms=100, method="gold_event"),
        FreshnessPoint("t", 2, committed_ms=2_000, covered_ms=500, lag_ms=1_500, method="gold_event"),
    ]
    latencies, invisible = visibility_latencies(points, start_ms=600, end_ms=700, step_ms=100)
    assert (latencies, invisible) == ([400], 0)


def test_summary_reports_the_chosen_table_within_the_workload_window():
    points = [
        FreshnessPoint("fact_sales", 1, committed_ms=500, covered_ms=400, lag_ms=100, method="gold_event"),
        FreshnessPoint(
            "fact_sales", 2, committed_ms=1_800, covered_ms=1_300, lag_ms=500, method="gold_event"
        ),
        FreshnessPoint("dim_date", 4, committed_ms=1_900, covered_ms=1_300, lag_ms=600, method="gold_event"),
    ]
    figures = summarise(points, "fact_sales", start_ms=1_000, end_ms=1_300)
    assert figures["gold_commits"] == 1 and figures["gold_commits_all_tables"] == 2
    assert figures["commit_lag_ms"]["p95"] == 500
    # source commits every 10 ms from 1000 to 1290, all visible at 1800: 800 … 510 ms
    assert figures["visibility_ms"] == {"p50": 650, "p95": 790, "p99": 800, "max": 800}
    assert figures["method"] == "gold_event"
    assert figures["series_freshness"] == [[0.8, 500, "fact_sales"], [0.9, 600, "dim_date"]]
