"""The control-topic fold and the job rules, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lakepulse_common.control_events import ControlEvent, EventKind, Layer, OffsetRange, RowCounts
from lakepulse_control_api.jobs import aggregate, scopes_overlap
from lakepulse_control_api.lake import json_safe
from lakepulse_control_api.models import JobState
from lakepulse_control_api.state import PipelineState

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def commit(version: int, *, at: datetime = T0, quarantined: int = 0, end: int = 10) -> ControlEvent:
    return ControlEvent(
        kind=EventKind.COMMIT,
        service="bronze-writer",
        layer=Layer.BRONZE,
        table="orders",
        delta_version=version,
        rows=RowCounts(input=10, written=10 - quarantined, quarantined=quarantined),
        produced_at=at,
        source_commit_ts_ms=version * 1000,
        kafka_offsets=[OffsetRange(topic="t", partition=0, start=0, end=end)],
    )


def test_commits_are_deduplicated_by_version_and_offsets_only_move_forward() -> None:
    state = PipelineState()
    for event in (
        commit(0, end=5),
        commit(1, quarantined=2, end=9),
        commit(1, quarantined=2, end=9),
        commit(0),
    ):
        state.apply(event)
    snapshot = state.snapshot()
    table = snapshot.tables[("bronze", "orders")]
    assert (table.delta_version, table.commits, table.rows_quarantined, table.rows_input) == (1, 2, 2, 20)
    assert table.source_commit_ts_ms == 1000
    assert snapshot.committed_offsets == {"bronze-writer": {("t", 0): 9}}
    assert snapshot.events_applied == 4


def test_status_and_heartbeats() -> None:
    state = PipelineState()
    state.apply(
        ControlEvent(kind=EventKind.HEARTBEAT, service="gold-builder", produced_at=T0, details={"n": 2})
    )
    state.apply(
        ControlEvent(kind=EventKind.HEARTBEAT, service="gold-builder", produced_at=T0 - timedelta(seconds=5))
    )
    state.apply(
        ControlEvent(
            kind=EventKind.TABLE_STATUS,
            service="gold-builder",
            layer=Layer.GOLD,
            table="fact_sales",
            details={"status": "PAUSED", "reason": "schema drift"},
        )
    )
    state.apply(
        ControlEvent(
            kind=EventKind.TABLE_STATUS,
            service="gold-builder",
            layer=Layer.GOLD,
            table="fact_sales",
            details={"status": "exploded"},
        )
    )
    snapshot = state.snapshot()
    service = snapshot.services["gold-builder"]
    assert service.last_heartbeat_at == T0 and service.details == {"n": 2}  # an older beat never wins
    table = snapshot.tables[("gold", "fact_sales")]
    assert (table.status, table.status_reason) == ("paused", "schema drift")


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        (["silver.orders"], ["silver.orders"], True),
        (["silver.orders"], ["silver.customers"], False),
        (["silver.*"], ["silver.orders"], True),
        (["gold.*"], ["silver.orders"], False),
        (["*"], ["bronze.x"], True),
        (["silver.or"], ["silver.orders"], False),
    ],
)
def test_scopes_overlap(first: list[str], second: list[str], overlap: bool) -> None:
    assert scopes_overlap(first, second) is overlap
    assert scopes_overlap(second, first) is overlap


def test_aggregate_derives_the_job_from_its_targets() -> None:
    def target(state: str, progress: float, message: str | None = None) -> dict[str, object]:
        return {"state": state, "progress": progress, "message": message, "updated_at": "x"}

    assert aggregate({"a": target("queued", 0), "b": target("queued", 0)})[0] is JobState.QUEUED
    assert aggregate({"a": target("running", 0.5), "b": target("queued", 0)})[:2] == (JobState.RUNNING, 0.25)
    assert aggregate({"a": target("succeeded", 0.2), "b": target("succeeded", 1)})[:2] == (
        JobState.SUCCEEDED,
        1.0,
    )
    assert aggregate({"a": target("succeeded", 1), "b": target("cancelled", 0.3)})[0] is JobState.CANCELLED
    state, _, message = aggregate({"a": target("running", 0.5), "b": target("failed", 0.1, "boom")})
    assert state is JobState.FAILED and message == "b: boom"


def test_json_safe_previews() -> None:
    assert json_safe({"x": [float("inf"), b"\xff", (1, None)]}) == {"x": [None, "/w==", [1, None]]}
