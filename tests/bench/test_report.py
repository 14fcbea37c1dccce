"""Headline table, ratios to in-run baselines, scaling table, markdown summary."""

import pytest

from bench.report import flatten, headline_rows, ratios, scaling_points, scaling_rows, write_summary

pytestmark = pytest.mark.unit

RESULTS = {
    "machine": {"cores": 2},
    "scales": [1.0],
    "reference_scale": 1.0,
    "ceilings": {"parquet_write_rows_per_s": 2_000_000, "kafka_produce_rows_per_s": 400_000},
    "cdc": {
        "status": "ok",
        "throughput_events_per_s": 100_000,
        "latency_ms": {"p50": 12.0, "p95": 30.5, "p99": 80.0},
    },
    "bronze": {
        "status": "ok",
        "tuned": {"rows_per_s": 90_000},
        "naive": {"rows_per_s": 30_000},
        "peak_rss_mib": 1500.0,
    },
    "silver": {
        "status": "ok",
        "2000000_rows": {"table_rows": 2_000_000, "merge_p95_s": 1.4},
        "500000_rows": {"table_rows": 500_000, "merge_p95_s": 0.8},
    },
    "floor": {
        "status": "ok",
        "delta_merge_cdf": {"p50_s": 1.1, "p95_s": 1.4},
        "delta_append": {"p50_s": 0.3, "p95_s": 0.4},
        "gold_write_chain": {"p50_s": 2.2, "p95_s": 2.4},
    },
    "gold": {"status": "ok", "incremental_p95_s": 6.0},
    "pipeline": {
        "status": "ok",
        "rate": 1000.0,
        "visibility_ms": {"p50": 3000, "p95": 4500, "p99": 5000},
        "memory": {"total_peak": {"rss_mib": 3000.0, "pss_mib": 2800.0}},
    },
    "sql": {"status": "ok", "mart_query_p50_ms": 42.0, "command": {"p50_ms": 900.0}},
    "freshness": {
        "rate_requested_tx_per_s": 1000.0,
        "achieved_tx_per_s": 990.0,
        "visibility_ms": {"p50": 4000, "p95": 9000, "p99": 11000},
        "memory": {
            "per_service_peak": {"kafka": {"rss_mib": 600.0, "pss_mib": 590.0}},
            "stack_peak": {"rss_mib": 4000.0, "pss_mib": 3500.0},
        },
        "series": {"freshness": [[1.0, 5000, "fact_sales"]], "memory": [[0.0, 1.0, 1.0]]},
    },
}


def test_ratios_compare_with_baselines_of_the_same_run():
    assert ratios(RESULTS) == {
        "bronze_tuned_vs_naive": 3.0,
        "bronze_tuned_vs_parquet_ceiling": 0.045,
        "cdc_vs_kafka_produce_ceiling": 0.25,
        "silver_merge_p95_vs_delta_merge_floor": 1.0,
        "gold_incremental_p95_vs_delta_append_floor": 15.0,
        "gold_incremental_p95_vs_gold_write_chain_floor": 2.5,
        "freshness_visibility_p95_vs_pipeline_floor": 2.0,
        "freshness_achieved_vs_requested_rate": 0.99,
    }
    assert ratios({})["bronze_tuned_vs_naive"] is None


def test_headline_rows_cover_the_issue_figures_and_skip_missing_stages():
    rows = {figure: (value, baseline) for figure, value, baseline in headline_rows(RESULTS)}
    assert rows["bronze backlog drain"] == ("90,000 rows/s", "3× the seed's naive snippet (30,000 rows/s)")
    assert rows["bronze drain ÷ Parquet write ceiling"] == ("0.045", "pyarrow, same run")
    assert rows["CDC commit→Kafka p95"] == ("30.5 ms", "")
    assert rows["silver MERGE p95 @ 500,000 rows"] == ("0.8 s", "target ≤ 1 s: met")
    assert rows["silver MERGE p95 @ 2,000,000 rows"] == ("1.4 s", "target ≤ 1 s: missed")
    assert rows["freshness commit→gold p99 (per source tx)"] == ("11,000 ms", "at 1000 tx/s")
    assert rows["peak memory, whole stack"] == ("3,500 MiB PSS", "RSS sum 4,000 MiB")
    floor = "at 1000 changes/s, 3 bare Spark drivers"
    assert rows["pipeline floor commit→gold p95 (per change)"] == ("4,500 ms", floor)
    assert rows["pipeline floor: peak memory of its three drivers"][0] == "2,800 MiB PSS"
    assert rows["freshness p95 ÷ pipeline floor p95"][0] == "2"
    assert rows["SQL on a gold mart p50 (slowest of the stage's queries)"] == (
        "42 ms",
        "target ≤ 100 ms: met",
    )
    assert rows["peak RSS, bronze stage run"][0] == "1,500 MiB"
    assert rows["Delta floor: one-row MERGE, change data feed on p95"] == ("1.4 s", "p50 1.1 s")
    assert rows["silver MERGE p95 (largest table) ÷ Delta one-row MERGE p95"][0] == "1"
    assert rows["gold incremental p95 ÷ Delta one-row append p95"][0] == "15"
    assert rows["gold incremental p95 ÷ gold's write chain p95"][0] == "2.5"
    chain = "Delta floor: gold's write chain (fact append, then 4 marts replaced concurrently) p95"
    assert rows[chain] == ("2.4 s", "p50 2.2 s")
    assert "Delta floor: one-row MERGE p95" not in rows  # not measured in this run
    assert "gold full rebuild" not in rows  # the gold stage gave no full-rebuild figure
    silver = [figure for figure in rows if figure.startswith("silver MERGE p95 @")]
    assert silver == ["silver MERGE p95 @ 500,000 rows", "silver MERGE p95 @ 2,000,000 rows"]


SCALING = {
    "seed": {
        "0.1": {"status": "ok", "rows_total": 100_000, "seconds": 2.0, "peak_rss_mib": 200.0},
        "1": {"status": "ok", "rows_total": 1_000_000, "seconds": 16.0, "peak_rss_mib": 300.0},
        "4": {"status": "failed (exit 1)"},
    },
    "silver": {
        "0.1": {"status": "ok", "peak_rss_mib": 900.0,
                "50000_rows": {"table_rows": 50_000, "merge_p95_s": 0.3},
                "200000_rows": {"table_rows": 200_000, "merge_p95_s": 0.5}},
        "1": {"status": "ok", "peak_rss_mib": 1800.0,
              "2000000_rows": {"table_rows": 2_000_000, "merge_p95_s": 1.5}},
    },
}  # fmt: skip


def test_scaling_points_take_each_stages_timed_figure_and_skip_failed_runs():
    points = scaling_points(SCALING)
    assert [(p["stage"], p["scale"], p["rows"], p["seconds"]) for p in points] == [
        ("seed", 0.1, 100_000, 2.0),
        ("seed", 1.0, 1_000_000, 16.0),
        ("silver", 0.1, 200_000, 0.5),
        ("silver", 1.0, 2_000_000, 1.5),
    ]


def test_scaling_rows_show_growth_against_the_smallest_scale():
    rows = scaling_rows(SCALING)
    assert rows[1] == ("seed", "1", "1,000,000", "load s", "16", "8×", "300", "1.5×")
    assert rows[3][5:] == ("3×", "1,800", "2×")


def test_summary_has_headline_scaling_plots_and_every_figure_but_no_series(tmp_path):
    images = [tmp_path / "throughput.png"]
    path = write_summary(tmp_path, RESULTS | {"scaling": SCALING}, images)
    text = path.read_text()
    assert "## Headline figures" in text and "## Scaling" in text
    assert "![throughput](throughput.png)" in text
    assert "| bronze.naive.rows_per_s | 30000 |" in text
    assert "series" not in text
    assert all(key != "freshness.series" for key, _ in flatten("", RESULTS))
