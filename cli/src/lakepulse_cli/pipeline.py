"""A live view of the pipeline, folded from the control topic.

Every stage announces its commits (and liveness) on ``<prefix>.control``; this module reads that
topic with a private consumer group and keeps, per (layer, table), the newest Delta version, the
rows written and quarantined so far, and the newest source commit time covered — enough to show
progress, rates and freshness without touching any table.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lakepulse_common.control_events import ControlEvent, EventKind, Layer
from lakepulse_common.errors import ControlEventError
from lakepulse_common.kafka import create_consumer
from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.topics import TopicNames


@dataclass
class TableProgress:
    layer: str
    table: str
    delta_version: int = -1
    rows_written: int = 0
    rows_quarantined: int = 0
    source_lsn_max: int = 0
    source_commit_ts_ms: int | None = None
    committed_at: datetime | None = None
    status: str = "active"

    def freshness_s(self, now: datetime | None = None) -> float | None:
        """Now minus the source commit time of the newest change this table has applied."""
        if self.source_commit_ts_ms is None:
            return None
        now = now or datetime.now(UTC)
        return max(0.0, now.timestamp() - self.source_commit_ts_ms / 1000)


@dataclass
class PipelineView:
    tables: dict[tuple[str, str], TableProgress] = field(default_factory=dict)
    heartbeats: dict[str, datetime] = field(default_factory=dict)
    heartbeat_details: dict[str, dict[str, object]] = field(default_factory=dict)
    # (topic, partition) → end offset (exclusive) of everything bronze has committed from it.
    kafka_consumed: dict[tuple[str, int], int] = field(default_factory=dict)
    seen: set[tuple[str | None, str | None, int | None]] = field(default_factory=set)

    def apply(self, event: ControlEvent) -> None:
        if event.kind is EventKind.HEARTBEAT:
            self.heartbeats[event.service] = event.produced_at
            self.heartbeat_details[event.service] = dict(event.details)
            return
        if event.layer is None or event.table is None:
            return
        progress = self.tables.setdefault(
            (event.layer.value, event.table), TableProgress(event.layer.value, event.table)
        )
        if event.kind is EventKind.TABLE_STATUS:
            progress.status = str(event.details.get("status", progress.status))
            return
        if event.kind is not EventKind.COMMIT or event.dedupe_key in self.seen:
            return  # a commit announced twice (after a restart) counts once
        self.seen.add(event.dedupe_key)
        if event.layer is Layer.BRONZE:
            for offsets in event.kafka_offsets:
                position = (offsets.topic, offsets.partition)
                self.kafka_consumed[position] = max(self.kafka_consumed.get(position, 0), offsets.end)
        progress.delta_version = max(progress.delta_version, event.delta_version or 0)
        if event.rows:
            progress.rows_written += event.rows.written
            progress.rows_quarantined += event.rows.quarantined
        if event.source_lsn:
            progress.source_lsn_max = max(progress.source_lsn_max, event.source_lsn.max)
        if event.source_commit_ts_ms is not None:
            progress.source_commit_ts_ms = max(progress.source_commit_ts_ms or 0, event.source_commit_ts_ms)
        progress.committed_at = event.produced_at

    def layer_rows(self, layer: str) -> int:
        return sum(p.rows_written for (lay, _), p in self.tables.items() if lay == layer)

    def layer_quarantined(self, layer: str) -> int:
        return sum(p.rows_quarantined for (lay, _), p in self.tables.items() if lay == layer)

    def paused(self, layer: str) -> set[str]:
        return {p.table for p in self.of_layer(layer) if p.status == "paused"}

    def of_layer(self, layer: str) -> list[TableProgress]:
        return sorted((p for (lay, _), p in self.tables.items() if lay == layer), key=lambda p: p.table)


class ControlWatcher(threading.Thread):
    """Background consumer that keeps a :class:`PipelineView` up to date."""

    def __init__(self, settings: LakePulseSettings, *, from_beginning: bool = True) -> None:
        super().__init__(name="control-watcher", daemon=True)
        self.view = PipelineView()
        self.lock = threading.Lock()
        self.events_seen = 0
        # Heartbeats arrive every few seconds whatever happens: "the pipeline went quiet" is about commits.
        self.commits_seen = 0
        self._stop_event = threading.Event()
        self._consumer = create_consumer(
            settings.kafka,
            "lakepulse-cli-watch",
            f"lakepulse-cli-watch-{time.time_ns()}",
            **{"auto.offset.reset": "earliest" if from_beginning else "latest"},
        )
        self._consumer.subscribe([TopicNames.from_settings(settings.kafka).control])

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                for message in self._consumer.consume(500, 0.5):
                    value = None if message.error() else message.value()
                    if value is None:
                        continue
                    try:
                        event = ControlEvent.from_bytes(value)
                    except ControlEventError:
                        continue  # not ours to judge: the control plane reports malformed events
                    with self.lock:
                        self.view.apply(event)
                        self.events_seen += 1
                        if event.kind is EventKind.COMMIT:
                            self.commits_seen += 1
        finally:
            self._consumer.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)
