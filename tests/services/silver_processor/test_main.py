"""Wiring: the console script resolves, and silver control events carry what downstream needs."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from lakepulse_common.control_events import ControlEvent, EventKind, Layer, LsnRange
from lakepulse_silver_processor.consumer import commit_event, status_event
from lakepulse_silver_processor.main import main
from lakepulse_silver_processor.metrics import BatchStats

pytestmark = pytest.mark.unit


def test_console_script_points_at_main() -> None:
    [script] = [e for e in entry_points(group="console_scripts") if e.name == "lakepulse-silver-processor"]
    assert script.load() is main


def test_commit_and_status_events_round_trip() -> None:
    stats = BatchStats(
        table="orders",
        bronze_version_from=3,
        bronze_version_to=5,
        silver_version=9,
        rows_in=12,
        upserts=8,
        deletes=2,
        quarantined=1,
        held=1,
        lsn_min=100,
        lsn_max=180,
        source_ts_ms_max=1_764_000_000_000,
        rule_failures={"quantity_positive": 1},
    )
    event = ControlEvent.from_bytes(commit_event(stats, None).to_bytes())
    assert (event.kind, event.layer, event.table, event.delta_version) == (
        EventKind.COMMIT,
        Layer.SILVER,
        "orders",
        9,
    )
    assert event.rows is not None
    assert (event.rows.input, event.rows.written, event.rows.deleted, event.rows.quarantined) == (12, 8, 2, 1)
    assert event.source_lsn == LsnRange(min=100, max=180)
    assert event.details["bronze_version_to"] == 5
    assert event.dedupe_key == ("silver", "orders", 9)
    paused = status_event("orders", ["primary key changed"])
    assert (paused.kind, paused.details["status"]) == (EventKind.TABLE_STATUS, "paused")
