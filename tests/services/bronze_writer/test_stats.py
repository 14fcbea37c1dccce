"""Per-batch statistics summarised from the aggregation rows (pure unit tests)."""

from datetime import UTC, datetime

from pyspark.sql import Row

from lakepulse_bronze_writer.stats import BatchStats

_TS = datetime(2026, 1, 1, tzinfo=UTC)


def _row(
    route: str, kind: str, partition: int, offsets: tuple[int, int], lsns: tuple[int, int] | None
) -> Row:
    return Row(
        _route=route,
        _kind=kind,
        _reason="bad" if kind == "quarantine" else None,
        _target_table="orders",
        _topic="lp.cdc.orders",
        _partition=partition,
        rows=offsets[1] - offsets[0] + 1,
        min_offset=offsets[0],
        max_offset=offsets[1],
        min_lsn=lsns[0] if lsns else None,
        max_lsn=lsns[1] if lsns else None,
        max_source_ts_ms=1,
        min_kafka_ts=_TS,
        max_kafka_ts=_TS,
        deletes=0,
        traceparent=None,
        missing_source_ts=0,
        missing_tx_id=0,
        schema_wrapped=0,
        snapshot_rows=0,
    )


def test_lsn_ranges_are_kept_per_kafka_partition_for_change_events_only():
    stats = BatchStats.from_rows(
        [
            _row("orders", "data", 0, (10, 19), (500, 900)),
            _row("orders", "data", 1, (0, 4), (100, 300)),
            _row("orders", "tombstone", 1, (5, 5), None),
            _row("_quarantine", "quarantine", 0, (20, 20), (50, 50)),
        ]
    )
    orders = stats.tables["orders"]
    assert orders.partition_lsns == {("lp.cdc.orders", 0): (500, 900), ("lp.cdc.orders", 1): (100, 300)}
    assert (orders.min_lsn, orders.max_lsn) == (100, 900)
    assert orders.offsets[("lp.cdc.orders", 1)] == (0, 5)
    assert stats.tables["_quarantine"].partition_lsns == {}
    assert orders.quarantined_for_table == 1
