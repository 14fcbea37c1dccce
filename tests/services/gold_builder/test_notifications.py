"""Change-notification payloads, commit-event provenance, SQL literals and the compaction policy
(no Spark, no Kafka)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from lakepulse_common.control_events import ControlEvent, EventKind, Layer, LsnRange, TraceContext
from lakepulse_common.topics import TopicNames
from lakepulse_gold_builder import metrics as gold_metrics
from lakepulse_gold_builder.build import sql_literals
from lakepulse_gold_builder.maintenance import CompactionPolicy, resolve_tables
from lakepulse_gold_builder.notifications import GoldChange, Provenance, Publisher, affected_keys

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


def _silver_commit(table: str, lsn: tuple[int, int] | None, ts_ms: int | None) -> ControlEvent:
    return ControlEvent(
        kind=EventKind.COMMIT,
        service="silver-processor",
        layer=Layer.SILVER,
        table=table,
        delta_version=1,
        source_lsn=LsnRange(min=lsn[0], max=lsn[1]) if lsn else None,
        source_commit_ts_ms=ts_ms,
    )


def test_provenance_spans_the_lsns_and_keeps_the_newest_commit_time_of_the_events() -> None:
    trace = TraceContext(traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    events = [
        _silver_commit("orders", (100, 180), 1_000),
        _silver_commit("customers", (90, 120), 3_000),
        _silver_commit("colors", None, None),  # a commit without source position (e.g. OPTIMIZE)
    ]
    provenance = Provenance.of_events(events, trace)
    assert provenance.source_lsn == LsnRange(min=90, max=180)
    assert provenance.source_commit_ts_ms == 3_000
    assert provenance.trace == trace
    assert Provenance.of_events([_silver_commit("colors", None, None)], None) == Provenance()


class RecordingProducer:
    """Stands in for Kafka: what the publisher produced, by topic."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def produce(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, value))

    def poll(self, _timeout: float) -> int:
        return 0


def test_commit_events_carry_the_provenance_of_the_running_build_only() -> None:
    producer = RecordingProducer()
    topics = TopicNames("p")
    publisher = Publisher(producer, topics, max_keys=10)  # type: ignore[arg-type]
    provenance = Provenance(
        source_lsn=LsnRange(min=5, max=9),
        source_commit_ts_ms=1_764_000_000_000,
        trace=TraceContext(traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    )
    # The freshness gauge is process-wide and only moves forward: a table name no other test uses.
    table = f"dim_customer_{uuid.uuid4().hex[:8]}"
    with publisher.building(provenance):
        publisher.committed(
            table=table, delta_version=4, operation="overwrite", mode="incremental", build_id="b"
        )
    publisher.committed(table="dim_date", delta_version=2, operation="overwrite", mode="full", build_id="c")
    events = [ControlEvent.from_bytes(value) for topic, value in producer.sent if topic == topics.control]
    built, outside = events
    assert (built.table, built.source_lsn, built.source_commit_ts_ms) == (
        table,
        provenance.source_lsn,
        provenance.source_commit_ts_ms,
    )
    assert built.trace == provenance.trace
    assert (outside.source_lsn, outside.source_commit_ts_ms, outside.trace) == (None, None, None)
    assert gold_metrics.FRESHNESS.newest_ms(table) == provenance.source_commit_ts_ms
