"""The control-event schema: how stages announce commits, and how the control plane commands them.

Events go to ``<prefix>.control`` keyed by ``<layer>.<table>`` (so one table's events stay ordered),
commands to ``<prefix>.commands`` keyed by the target service. Both are JSON (orjson). The schema is
versioned: consumers accept ``schema_version`` <= :data:`SCHEMA_VERSION` and ignore unknown fields,
so producers may add optional fields without a version bump; removing or retyping one needs a bump.
A consumer deduplicates commit events on :attr:`ControlEvent.dedupe_key` (layer, table, Delta version).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lakepulse_common.errors import ControlEventError

SCHEMA_VERSION = 1


class Layer(StrEnum):
    SOURCE = "source"
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"


class EventKind(StrEnum):
    COMMIT = "commit"  # a Delta commit to one table
    HEARTBEAT = "heartbeat"  # service liveness
    SCHEMA_CHANGE = "schema_change"  # a source or table schema changed
    TABLE_STATUS = "table_status"  # a table was paused, resumed or failed
    JOB_PROGRESS = "job_progress"  # progress of a control-plane job
    ROUND_END = "round_end"  # a stage finished one round of commits across tables (see ROUND_ID)


ROUND_ID = "round_id"
"""``details`` key of a round: on each commit event a stage makes while it works through one round of
upstream events (several tables, one after another), and on the ``round_end`` event it sends after
the round's last commit (``details.commits`` = table -> newest version committed in the round).

A downstream stage that reads the newest versions of all tables anyway (gold) waits for the round's
end instead of rebuilding after every table's commit: one build per round, at a point where every
table of the round is applied."""


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))


class LsnRange(_Message):
    """Source PostgreSQL LSNs (as 64-bit integers) covered by a commit, inclusive."""

    min: int = Field(ge=0)
    max: int = Field(ge=0)


class OffsetRange(_Message):
    """Kafka offsets covered by a commit: ``start`` inclusive, ``end`` exclusive."""

    topic: str
    partition: int = Field(ge=0)
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class RowCounts(_Message):
    input: int = Field(default=0, ge=0)
    written: int = Field(default=0, ge=0)
    quarantined: int = Field(default=0, ge=0)
    deleted: int = Field(default=0, ge=0)


class TraceContext(_Message):
    """W3C trace context, so a downstream stage continues the trace of what it reacts to."""

    traceparent: str | None = None
    tracestate: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class ControlEvent(_Message):
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    kind: EventKind
    service: str
    layer: Layer | None = None
    table: str | None = None
    delta_version: int | None = Field(default=None, ge=0)
    rows: RowCounts | None = None
    source_lsn: LsnRange | None = None
    source_commit_ts_ms: int | None = Field(default=None, description="newest source commit time covered")
    kafka_offsets: list[OffsetRange] = Field(default_factory=list)
    trace: TraceContext | None = None
    produced_at: datetime = Field(default_factory=_now)
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> bytes:
        """Kafka key: events of one table share a partition and stay in commit order."""
        return f"{self.layer or '-'}.{self.table or self.service}".encode()

    @property
    def dedupe_key(self) -> tuple[str | None, str | None, int | None]:
        return (self.layer, self.table, self.delta_version)

    @classmethod
    def from_bytes(cls, data: bytes) -> ControlEvent:
        return _decode(cls, data)


M = TypeVar("M", bound=_Message)


class CommandAction(StrEnum):
    REPLAY = "replay"
    REPROCESS = "reprocess"
    BACKFILL = "backfill"
    OPTIMIZE = "optimize"
    VACUUM = "vacuum"
    SNAPSHOT = "snapshot"
    CANCEL = "cancel"


class Command(_Message):
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)
    command_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    job_id: str
    target_service: str
    action: CommandAction
    params: dict[str, Any] = Field(default_factory=dict)
    issued_at: datetime = Field(default_factory=_now)
    trace: TraceContext | None = None

    @property
    def key(self) -> bytes:
        return self.target_service.encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Command:
        return _decode(cls, data)


def _decode(model: type[M], data: bytes) -> M:
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ControlEventError(f"not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ControlEventError("a control message must be a JSON object")
    version = payload.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ControlEventError(
            f"unsupported schema_version {version!r} (this build reads <= {SCHEMA_VERSION})"
        )
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise ControlEventError(str(exc)) from exc
