"""Pipeline state folded from the control topic: per-table commits and status, per-service heartbeats.

The fold is a pure function of the event sequence, so rebuilding it by re-reading the retained
control topic from the beginning gives the same state as having watched it live. Commit events are
deduplicated by Delta version (a producer retry re-sends the same ``(layer, table, version)``), so the
quality counters never count one commit twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from lakepulse_common.control_events import ControlEvent, EventKind

TableKey = tuple[str, str]  # (layer, table)
PartitionKey = tuple[str, int]  # (topic, partition)


@dataclass(frozen=True)
class TableState:
    layer: str
    table: str
    service: str | None = None
    delta_version: int | None = None
    last_commit_at: datetime | None = None
    last_commit_rows: int = 0
    source_commit_ts_ms: int | None = None
    source_lsn: int | None = None
    commits: int = 0
    rows_input: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    rows_deleted: int = 0
    status: str = "active"
    status_reason: str | None = None
    status_changed_at: datetime | None = None
    last_schema_change_at: datetime | None = None


@dataclass(frozen=True)
class ServiceState:
    service: str
    last_heartbeat_at: datetime | None = None
    last_event_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    """An immutable copy handed to request handlers, so they never see a half-applied event."""

    tables: dict[TableKey, TableState]
    services: dict[str, ServiceState]
    committed_offsets: dict[str, dict[PartitionKey, int]]
    events_applied: int


class PipelineState:
    """Thread-safe fold of :class:`ControlEvent`s (the consumer thread writes, request handlers read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[TableKey, TableState] = {}
        self._services: dict[str, ServiceState] = {}
        self._offsets: dict[str, dict[PartitionKey, int]] = {}
        self._events_applied = 0

    def apply(self, event: ControlEvent) -> None:
        with self._lock:
            self._events_applied += 1
            self._touch_service(event)
            if event.kind is EventKind.COMMIT:
                self._apply_commit(event)
            elif event.kind is EventKind.TABLE_STATUS:
                self._apply_status(event)
            elif event.kind is EventKind.SCHEMA_CHANGE and event.layer and event.table:
                table = self._table(event.layer, event.table)
                self._tables[(event.layer, event.table)] = replace(
                    table, last_schema_change_at=event.produced_at
                )

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                tables=dict(self._tables),
                services=dict(self._services),
                committed_offsets={service: dict(offsets) for service, offsets in self._offsets.items()},
                events_applied=self._events_applied,
            )

    def _table(self, layer: str, table: str) -> TableState:
        return self._tables.get((layer, table)) or TableState(layer=layer, table=table)

    def _touch_service(self, event: ControlEvent) -> None:
        current = self._services.get(event.service) or ServiceState(service=event.service)
        last_event = max(filter(None, (current.last_event_at, event.produced_at)))
        if event.kind is EventKind.HEARTBEAT:
            newer = current.last_heartbeat_at is None or event.produced_at >= current.last_heartbeat_at
            current = replace(
                current,
                last_heartbeat_at=event.produced_at if newer else current.last_heartbeat_at,
                details=dict(event.details) if newer else current.details,
            )
        self._services[event.service] = replace(current, last_event_at=last_event)

    def _apply_commit(self, event: ControlEvent) -> None:
        if not event.layer or not event.table or event.delta_version is None:
            return
        table = self._table(event.layer, event.table)
        if table.delta_version is not None and event.delta_version <= table.delta_version:
            return  # a duplicate (producer retry) or an out-of-order older commit
        rows = event.rows
        self._tables[(event.layer, event.table)] = replace(
            table,
            service=event.service,
            delta_version=event.delta_version,
            last_commit_at=event.produced_at,
            last_commit_rows=rows.written if rows else 0,
            source_commit_ts_ms=_newest(table.source_commit_ts_ms, event.source_commit_ts_ms),
            source_lsn=_newest(table.source_lsn, event.source_lsn.max if event.source_lsn else None),
            commits=table.commits + 1,
            rows_input=table.rows_input + (rows.input if rows else 0),
            rows_written=table.rows_written + (rows.written if rows else 0),
            rows_quarantined=table.rows_quarantined + (rows.quarantined if rows else 0),
            rows_deleted=table.rows_deleted + (rows.deleted if rows else 0),
        )
        offsets = self._offsets.setdefault(event.service, {})
        for offset_range in event.kafka_offsets:
            key = (offset_range.topic, offset_range.partition)
            offsets[key] = max(offsets.get(key, 0), offset_range.end)

    def _apply_status(self, event: ControlEvent) -> None:
        if not event.layer or not event.table:
            return
        status = str(event.details.get("status", "")).lower()
        if status not in {"active", "paused", "failed"}:
            return
        table = self._table(event.layer, event.table)
        reason = event.details.get("reason")
        self._tables[(event.layer, event.table)] = replace(
            table,
            status=status,
            status_reason=str(reason) if reason is not None else None,
            status_changed_at=event.produced_at,
        )


def _newest(current: int | None, candidate: int | None) -> int | None:
    if candidate is None:
        return current
    return candidate if current is None else max(current, candidate)
