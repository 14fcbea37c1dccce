"""Silver control events as the silver processor sends them, for the gold-builder tests."""

from __future__ import annotations

from lakepulse_common.control_events import ROUND_ID, ControlEvent, EventKind, Layer


def silver_commit(table: str, version: int | None = None, round_id: str | None = None) -> ControlEvent:
    return ControlEvent(
        kind=EventKind.COMMIT,
        service="silver-processor",
        layer=Layer.SILVER,
        table=table,
        delta_version=version,
        details={ROUND_ID: round_id} if round_id else {},
    )


def round_end(round_id: str, commits: dict[str, int] | None = None) -> ControlEvent:
    return ControlEvent(
        kind=EventKind.ROUND_END,
        service="silver-processor",
        layer=Layer.SILVER,
        details={ROUND_ID: round_id, "commits": commits or {}},
    )
