"""After every gold commit: a control event on ``<prefix>.control`` and a change notification on
``<prefix>.gold.changes`` for downstream consumers (dashboards, caches, reverse ETL).

Change notification schema (JSON, key = table name, one message per Delta commit)::

    {"schema_version": 1, "table": "fact_sales", "delta_version": 12, "operation": "replace_where",
     "mode": "incremental", "build_id": "…", "produced_at": "…",
     "affected": {"order_date": ["2016-05-31", …]}, "affected_count": 3, "truncated": false,
     "silver_versions": {"orders": 41, "order_lines": 40}}

``operation`` is ``overwrite`` (whole table replaced) or ``replace_where`` (only the rows matching
``affected`` were replaced); ``affected`` maps a column to the values whose rows changed, listed up to
``gold.notify_max_keys`` values (``truncated`` says when more changed; ``affected_count`` is the total).
Consumers read the table at ``delta_version`` or later; the same commit may be announced twice, so
deduplicate on (table, delta_version).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from confluent_kafka import KafkaException, Producer
from pydantic import BaseModel, ConfigDict, Field

from lakepulse_common.control_events import ControlEvent, EventKind, Layer, LsnRange, RowCounts, TraceContext
from lakepulse_common.topics import TopicNames
from lakepulse_gold_builder import metrics
from lakepulse_gold_builder.config import SERVICE_NAME

log = logging.getLogger(__name__)

CHANGE_SCHEMA_VERSION = 1
Operation = Literal["overwrite", "replace_where"]
BuildMode = Literal["full", "incremental", "backfill"]


class GoldChange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = CHANGE_SCHEMA_VERSION
    table: str
    delta_version: int = Field(ge=0)
    operation: Operation
    mode: BuildMode
    build_id: str
    produced_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    affected: dict[str, list[Any]] = Field(default_factory=dict)
    affected_count: int = 0
    truncated: bool = False
    silver_versions: dict[str, int] = Field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, data: bytes) -> GoldChange:
        return cls.model_validate(orjson.loads(data))


def affected_keys(column: str, values: Iterable[Any], limit: int) -> tuple[dict[str, list[Any]], int, bool]:
    """The ``affected`` map of a notification: sorted values (dates as ISO strings), capped at ``limit``."""
    ordered = sorted(set(values))
    listed = [value.isoformat() if isinstance(value, dt.date) else value for value in ordered[:limit]]
    return {column: listed}, len(ordered), len(ordered) > limit


@dataclass(frozen=True)
class Provenance:
    """What a build reflects of the source, stamped on each of its commit events.

    ``source_lsn`` and ``source_commit_ts_ms`` come from the silver commit events that triggered the
    build (the LSNs they cover, the newest source commit); ``trace`` is the build span's context.
    """

    source_lsn: LsnRange | None = None
    source_commit_ts_ms: int | None = None
    trace: TraceContext | None = None

    @classmethod
    def of_events(cls, events: Iterable[ControlEvent], trace: TraceContext | None) -> Provenance:
        lsns = [event.source_lsn for event in events if event.source_lsn is not None]
        times = [event.source_commit_ts_ms for event in events if event.source_commit_ts_ms is not None]
        return cls(
            source_lsn=LsnRange(min=min(r.min for r in lsns), max=max(r.max for r in lsns)) if lsns else None,
            source_commit_ts_ms=max(times) if times else None,
            trace=trace,
        )


class Publisher:
    """Publishes gold commits; ``flush`` blocks until Kafka acknowledged everything (or raises).

    Commits happen on the build's writer threads, so what the running build reflects is kept on the
    publisher (:meth:`building`) rather than in a context variable those threads would not see.
    """

    def __init__(self, producer: Producer, topics: TopicNames, *, max_keys: int) -> None:
        self._producer = producer
        self._topics = topics
        self.max_keys = max_keys
        self.published: list[GoldChange] = []
        self.provenance = Provenance()

    @contextmanager
    def building(self, provenance: Provenance) -> Iterator[Provenance]:
        """Stamp the commit events published inside the block with ``provenance``."""
        previous, self.provenance = self.provenance, provenance
        try:
            yield provenance
        finally:
            self.provenance = previous

    def committed(
        self,
        *,
        table: str,
        delta_version: int,
        operation: Operation,
        mode: BuildMode,
        build_id: str,
        rows_written: int | None = None,
        affected: Mapping[str, Iterable[Any]] | None = None,
        silver_versions: Mapping[str, int] | None = None,
    ) -> GoldChange:
        keys: dict[str, list[Any]] = {}
        count, truncated = 0, False
        for column, values in (affected or {}).items():
            listed, n, cut = affected_keys(column, values, self.max_keys)
            keys |= listed
            count, truncated = count + n, truncated or cut
        change = GoldChange(
            table=table,
            delta_version=delta_version,
            operation=operation,
            mode=mode,
            build_id=build_id,
            affected=keys,
            affected_count=count,
            truncated=truncated,
            silver_versions=dict(silver_versions or {}),
        )
        provenance = self.provenance
        event = ControlEvent(
            kind=EventKind.COMMIT,
            service=SERVICE_NAME,
            layer=Layer.GOLD,
            table=table,
            delta_version=delta_version,
            rows=RowCounts(written=rows_written or 0),
            source_lsn=provenance.source_lsn,
            source_commit_ts_ms=provenance.source_commit_ts_ms,
            trace=provenance.trace,
            details={"operation": operation, "mode": mode, "build_id": build_id, "affected_count": count},
        )
        self._producer.produce(self._topics.control, key=event.key, value=event.to_bytes())
        self._producer.produce(self._topics.gold_changes, key=table.encode(), value=change.to_bytes())
        self._producer.poll(0)
        metrics.FRESHNESS.observe(table, provenance.source_commit_ts_ms)
        self.published.append(change)
        log.info("gold.%s@%d %s (%s, %d keys)", table, delta_version, operation, mode, count)
        return change

    def publish_event(self, event: ControlEvent) -> None:
        self._producer.produce(self._topics.control, key=event.key, value=event.to_bytes())
        self._producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> None:
        remaining = self._producer.flush(timeout_s)
        if remaining:
            raise KafkaException(f"{remaining} gold notifications not acknowledged after {timeout_s}s")
