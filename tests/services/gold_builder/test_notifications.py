"""Change-notification payloads, SQL literals and the compaction policy (no Spark, no Kafka)."""

from __future__ import annotations

import datetime as dt

import pytest

from lakepulse_gold_builder.build import sql_literals
from lakepulse_gold_builder.maintenance import CompactionPolicy, resolve_tables
from lakepulse_gold_builder.notifications import GoldChange, affected_keys

pytestmark = pytest.mark.unit


def test_affected_keys_are_sorted_deduplicated_and_capped() -> None:
    keys, count, truncated = affected_keys("order_id", [5, 3, 3, 9, 1], limit=3)
    assert keys == {"order_id": [1, 3, 5]} and count == 4 and truncated


def test_gold_change_round_trips_through_json() -> None:
    change = GoldChange(
        table="fact_sales",
        delta_version=3,
        operation="replace_where",
        mode="incremental",
        build_id="b",
        affected={"order_date": ["2016-05-31"]},
        affected_count=1,
    )
    assert GoldChange.from_bytes(change.to_bytes()) == change


def test_sql_literals_render_dates_and_ints_and_refuse_anything_else() -> None:
    assert sql_literals([dt.date(2016, 5, 2), dt.date(2016, 5, 1)]) == "DATE'2016-05-01', DATE'2016-05-02'"
    assert sql_literals([3, 1, 3]) == "1, 3"
    with pytest.raises(TypeError):
        sql_literals(["1; DROP TABLE x"])


def test_compaction_policy_reports_tables_due_and_restarts_their_count() -> None:
    policy = CompactionPolicy(every_commits=2)
    assert policy.record(["fact_sales"]) == []
    assert policy.record(["fact_sales", "sales_metrics"]) == ["fact_sales"]
    assert policy.record(["fact_sales"]) == []
    assert CompactionPolicy(0).record(["fact_sales"]) == []


def test_unknown_tables_are_refused_for_maintenance() -> None:
    with pytest.raises(ValueError, match="unknown gold tables"):
        resolve_tables(["fact_sales", "nope"])


def test_affected_dates_are_listed_as_iso_strings() -> None:
    keys, _, _ = affected_keys("order_date", [dt.date(2016, 6, 1), dt.date(2016, 5, 31)], limit=10)
    assert keys == {"order_date": ["2016-05-31", "2016-06-01"]}
