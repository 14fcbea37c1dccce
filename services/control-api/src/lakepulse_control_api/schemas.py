"""Request and response models of the REST API: every endpoint declares its response model."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lakepulse_control_api.models import JobKind, JobState

TABLE_PATTERN = r"^[a-z_][a-z0-9_]*$"
QUALIFIED_TABLE_PATTERN = r"^(silver|gold)\.[a-z_][a-z0-9_]*$"
TOPIC_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


ReprocessLayer = Literal["silver", "gold"]
REPROCESS_LAYERS: tuple[ReprocessLayer, ...] = ("silver", "gold")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorMessage(BaseModel):
    detail: str


# --- jobs -------------------------------------------------------------------------------------------


class ReplayRequest(_Request):
    """Re-ingest into bronze from one CDC topic: an offset range or a timestamp range."""

    topic: str = Field(max_length=249, pattern=TOPIC_PATTERN, examples=["lakepulse.cdc.orders"])
    partitions: list[int] | None = Field(
        default=None, min_length=1, max_length=1000, description="default: every partition of the topic"
    )
    start_offset: int | None = Field(default=None, ge=0, description="inclusive")
    end_offset: int | None = Field(default=None, ge=0, description="exclusive")
    start_timestamp: datetime | None = Field(default=None, description="inclusive (Kafka record time)")
    end_timestamp: datetime | None = Field(default=None, description="exclusive (Kafka record time)")


class ReprocessRequest(_Request):
    """Rebuild silver and/or gold tables from bronze (MERGE on key + source LSN, so no duplicates)."""

    tables: list[str] | Literal["all"] = Field(
        default="all",
        description='"all", or qualified names such as ["silver.orders", "gold.fact_sales"]',
        examples=[["silver.orders"]],
    )
    layers: list[ReprocessLayer] = Field(
        default_factory=lambda: list(REPROCESS_LAYERS), min_length=1, description='layers "all" covers'
    )
    from_bronze_version: int | None = Field(default=None, ge=0, description="default: from the start")


class BackfillRequest(_Request):
    """Recompute gold for a date range (inclusive on both ends)."""

    start_date: date
    end_date: date
    tables: list[str] | None = Field(default=None, description="gold tables; default: all of them")


class MaintenanceRequest(_Request):
    action: Literal["optimize", "vacuum"]
    layer: Literal["bronze", "silver", "gold"]
    table: str = Field(max_length=128, pattern=TABLE_PATTERN)
    retain_hours: float | None = Field(
        default=None, ge=0, le=100_000, description="vacuum only: keep files removed less than this long ago"
    )


class TargetProgress(BaseModel):
    service: str
    action: str
    state: JobState
    progress: float
    message: str | None = None


class JobOut(BaseModel):
    id: str
    kind: JobKind
    state: JobState
    progress: float = Field(ge=0, le=1)
    message: str | None
    params: dict[str, Any]
    scope: list[str] = Field(description="tables the job writes (layer.table, layer.* or *)")
    targets: list[TargetProgress]
    cancel_requested: bool
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobList(BaseModel):
    jobs: list[JobOut]
    total: int


# --- status -----------------------------------------------------------------------------------------


class QualitySummary(BaseModel):
    rows_input: int
    rows_written: int
    rows_quarantined: int
    quarantine_ratio: float = Field(description="quarantined / input over the retained control events")


class TableStatus(BaseModel):
    layer: str
    table: str
    status: Literal["active", "paused", "failed"]
    status_reason: str | None
    status_changed_at: datetime | None
    service: str | None
    delta_version: int | None
    last_commit_at: datetime | None
    last_commit_rows: int
    commits: int
    rows_deleted: int
    source_commit_ts_ms: int | None
    freshness_seconds: float | None = Field(description="now minus the newest applied source commit time")
    source_lsn: int | None
    last_schema_change_at: datetime | None
    quality: QualitySummary


class ServiceStatus(BaseModel):
    service: str
    alive: bool
    last_heartbeat_at: datetime | None
    seconds_since_heartbeat: float | None
    last_event_at: datetime | None
    details: dict[str, Any]


class PartitionLagOut(BaseModel):
    topic: str
    partition: int
    committed: int
    high_watermark: int
    lag: int


class ServiceLagOut(BaseModel):
    service: str
    source: Literal["consumer_group", "commit_events"]
    group: str | None
    total_lag: int
    partitions: list[PartitionLagOut]
    error: str | None


class PipelineStatus(BaseModel):
    generated_at: datetime
    control_events_applied: int
    control_caught_up: bool = Field(description="the control topic was read up to its end at least once")
    services: list[ServiceStatus]
    tables: list[TableStatus]
    paused_tables: list[str]
    failed_tables: list[str]
    quality: QualitySummary
    consumer_lag: list[ServiceLagOut]


# --- tables -----------------------------------------------------------------------------------------


class TableRef(BaseModel):
    layer: str
    table: str


class TableList(BaseModel):
    tables: list[TableRef]


class HistoryEntry(BaseModel):
    version: int
    timestamp: datetime | None
    operation: str | None
    operation_parameters: dict[str, Any]
    operation_metrics: dict[str, Any]
    other: dict[str, Any] = Field(description="the commit's remaining commitInfo fields")


class TableHistory(BaseModel):
    layer: str
    table: str
    latest_version: int
    history: list[HistoryEntry]


class SchemaField(BaseModel):
    name: str
    type: Any = Field(description="a Delta type name, or a nested struct/array/map definition")
    nullable: bool
    metadata: dict[str, Any]


class TableSchema(BaseModel):
    layer: str
    table: str
    version: int
    fields: list[SchemaField]


class TablePreview(BaseModel):
    layer: str
    table: str
    version: int
    columns: list[str]
    rows: list[dict[str, Any]]


# --- health -----------------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok", "failing"]
    detail: str | None = None


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    postgres: bool
    kafka: bool
    control_consumer: bool
