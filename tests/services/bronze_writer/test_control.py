"""Commit metadata → control events (pure functions, no services)."""

from __future__ import annotations

from collections import Counter

import pytest

from lakepulse_bronze_writer.control import event_for_commit
from lakepulse_bronze_writer.delta_io import Commit
from lakepulse_bronze_writer.stats import TableStats
from lakepulse_common.control_events import ControlEvent, EventKind, Layer

pytestmark = pytest.mark.unit

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_batch_commit_is_announced_with_what_its_delta_metadata_recorded() -> None:
    stats = TableStats("orders", rows=5, deletes=1, quarantined_for_table=2, min_lsn=10, max_lsn=90)
    stats.max_source_ts_ms = 1_700_000_000_000
    stats.kinds = Counter({"data": 4, "tombstone": 1})
    stats.add_offsets("p.cdc.orders", 0, 3, 5)
    stats.add_offsets("p.cdc.orders", 1, 7, 8)
    stats.add_offsets("p.cdc.orders", 0, 2, 2)
    metadata = stats.commit_metadata(12, {"traceparent": TRACEPARENT})

    event = event_for_commit("orders", Commit(4, "WRITE", metadata, {"numOutputRows": "5"}))

    assert event.kind is EventKind.COMMIT and event.layer is Layer.BRONZE
    assert (event.table, event.delta_version) == ("orders", 4)
    assert event.rows is not None and (event.rows.written, event.rows.quarantined, event.rows.deleted) == (
        5,
        2,
        1,
    )
    assert [(o.partition, o.start, o.end) for o in event.kafka_offsets] == [(0, 2, 6), (1, 7, 9)]
    assert event.source_lsn is not None and (event.source_lsn.min, event.source_lsn.max) == (10, 90)
    assert event.source_commit_ts_ms == 1_700_000_000_000
    assert event.trace is not None and event.trace.traceparent == TRACEPARENT
    assert event.details["batch_id"] == 12
    assert ControlEvent.from_bytes(event.to_bytes()).dedupe_key == ("bronze", "orders", 4)


def test_an_optimize_commit_is_announced_without_rows() -> None:
    event = event_for_commit("orders", Commit(9, "OPTIMIZE", None, {"numRemovedFiles": "12"}))
    assert event.delta_version == 9 and event.details["operation"] == "OPTIMIZE"
    assert event.rows is not None and event.rows.written == 0 and not event.kafka_offsets
