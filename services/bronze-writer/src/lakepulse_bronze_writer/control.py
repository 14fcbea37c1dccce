"""Commit announcements on the control topic, sent only after the Delta commit and never lost.

The announcer keeps, per bronze table, the last Delta version whose event was produced and flushed
(``announced.json`` next to the streaming checkpoint). After a batch, and once at start-up, it reads
the table's Delta history after that version and announces every commit it finds, oldest first: the
commit metadata LakePulse stores in ``userMetadata`` carries the rows, Kafka offsets, LSN range and
trace context, so a re-announcement after a crash says exactly what the first one would have said.
Commits without that metadata (OPTIMIZE, other writers) are announced too, so consumers see every
version with no gap. Consumers deduplicate on (layer, table, version).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from pyspark.sql import SparkSession

from lakepulse_bronze_writer import delta_io
from lakepulse_bronze_writer.config import SERVICE_NAME
from lakepulse_bronze_writer.metrics import BronzeMetrics
from lakepulse_common.announced import AnnouncedState
from lakepulse_common.control_events import (
    ControlEvent,
    EventKind,
    Layer,
    LsnRange,
    OffsetRange,
    RowCounts,
    TraceContext,
)
from lakepulse_common.errors import LakePulseError
from lakepulse_common.storage import table_uri
from lakepulse_common.topics import TopicNames

log = logging.getLogger(__name__)


class ControlDeliveryError(LakePulseError):
    """A control event could not be delivered; the batch fails and is retried, never skipped."""


def event_for_commit(table: str, commit: delta_io.Commit, service: str = SERVICE_NAME) -> ControlEvent:
    """The control event announcing one Delta commit of a bronze table."""
    meta: dict[str, Any] = commit.metadata or {}
    rows = meta.get("rows")
    if rows is None:
        metrics = commit.operation_metrics
        written = int(metrics.get("numOutputRows", "0")) if commit.operation == "WRITE" else 0
        rows = {"written": written}
    lsn = meta.get("source_lsn")
    trace = meta.get("trace")
    details = {"operation": commit.operation, **meta.get("details", {})}
    return ControlEvent(
        kind=EventKind.COMMIT,
        service=service,
        layer=Layer.BRONZE,
        table=table,
        delta_version=commit.version,
        rows=RowCounts.model_validate(rows),
        source_lsn=LsnRange.model_validate(lsn) if lsn else None,
        source_commit_ts_ms=meta.get("source_commit_ts_ms"),
        kafka_offsets=[OffsetRange.model_validate(o) for o in meta.get("kafka_offsets", [])],
        trace=TraceContext.model_validate(trace) if trace else None,
        details=details,
    )


class Announcer:
    """Produces one commit event per unannounced Delta version of each bronze table."""

    def __init__(
        self,
        spark: SparkSession,
        producer: Producer,
        topics: TopicNames,
        lake_root: str,
        state_path: Path,
        metrics: BronzeMetrics,
        flush_timeout_s: float = 30.0,
    ) -> None:
        self._spark = spark
        self._producer = producer
        self._topics = topics
        self._lake_root = lake_root
        self._state = AnnouncedState(state_path)
        self._metrics = metrics
        self._flush_timeout_s = flush_timeout_s
        self._errors: list[str] = []

    def _on_delivery(self, err: object, _msg: object) -> None:
        if err is not None:
            self._errors.append(str(err))

    def catch_up(self) -> dict[str, list[int]]:
        """At start-up: announce what a crash may have left unannounced, on every bronze table."""
        bronze_root = f"{self._lake_root.rstrip('/')}/bronze"
        tables = set(delta_io.list_tables(self._spark, bronze_root)) | set(self._state.versions)
        return self.announce(sorted(tables))

    def announce(self, tables: list[str]) -> dict[str, list[int]]:
        """Announce every commit after the last announced version; returns the versions per table."""
        produced: dict[str, list[int]] = {}

        def pending(table: str) -> list[delta_io.Commit]:
            uri = table_uri(self._lake_root, "bronze", table)
            return delta_io.commits_after(self._spark, uri, self._state.last(table))

        with ThreadPoolExecutor(max_workers=4) as pool:
            histories = list(pool.map(pending, tables))
        for table, commits in zip(tables, histories, strict=True):
            for commit in commits:
                event = event_for_commit(table, commit)
                self._producer.produce(
                    self._topics.control, key=event.key, value=event.to_bytes(), on_delivery=self._on_delivery
                )
                self._producer.poll(0)
            if commits:
                produced[table] = [commit.version for commit in commits]
        if not produced:
            return produced
        remaining = self._producer.flush(self._flush_timeout_s)
        if remaining or self._errors:
            errors, self._errors = self._errors, []
            raise ControlDeliveryError(f"control events not delivered ({remaining} pending): {errors[:3]}")
        for table, versions in produced.items():
            self._state.versions[table] = versions[-1]
            self._metrics.control_events.labels(table=table).inc(len(versions))
            log.info("announced bronze.%s@%s", table, ",".join(map(str, versions)))
        self._state.save()
        return produced
