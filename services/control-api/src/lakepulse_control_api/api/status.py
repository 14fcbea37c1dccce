"""``/api/v1/status``: where the pipeline stands, per layer and table, from the control topic and Kafka."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from lakepulse_control_api.api.deps import Plane
from lakepulse_control_api.lag import ServiceLag
from lakepulse_control_api.schemas import (
    PartitionLagOut,
    PipelineStatus,
    QualitySummary,
    ServiceLagOut,
    ServiceStatus,
    TableStatus,
)
from lakepulse_control_api.state import ServiceState, TableState

router = APIRouter(prefix="/api/v1", tags=["status"])


@router.get("/status", response_model=PipelineStatus)
def pipeline_status(plane: Plane) -> PipelineStatus:
    """Tables (version, last commit, rows, freshness, quality, paused/failed), services and lag."""
    snapshot = plane.state.snapshot()
    now = datetime.now(UTC)
    timeout = plane.settings.heartbeat_interval_s * plane.settings.control.liveness_factor
    tables = [_table_status(t, now) for _, t in sorted(snapshot.tables.items())]
    return PipelineStatus(
        generated_at=now,
        control_events_applied=snapshot.events_applied,
        control_caught_up=plane.consumer.caught_up,
        services=[_service_status(s, now, timeout) for _, s in sorted(snapshot.services.items())],
        tables=tables,
        paused_tables=[f"{t.layer}.{t.table}" for t in tables if t.status == "paused"],
        failed_tables=[f"{t.layer}.{t.table}" for t in tables if t.status == "failed"],
        quality=_quality(
            sum(t.quality.rows_input for t in tables),
            sum(t.quality.rows_written for t in tables),
            sum(t.quality.rows_quarantined for t in tables),
        ),
        consumer_lag=[_lag_out(lag) for lag in plane.lag.measure(snapshot.committed_offsets)],
    )


def _quality(rows_input: int, rows_written: int, rows_quarantined: int) -> QualitySummary:
    return QualitySummary(
        rows_input=rows_input,
        rows_written=rows_written,
        rows_quarantined=rows_quarantined,
        quarantine_ratio=round(rows_quarantined / rows_input, 6) if rows_input else 0.0,
    )


def _table_status(table: TableState, now: datetime) -> TableStatus:
    freshness = None
    if table.source_commit_ts_ms is not None:
        freshness = max(now.timestamp() - table.source_commit_ts_ms / 1000, 0.0)
    return TableStatus(
        layer=table.layer,
        table=table.table,
        status=table.status,
        status_reason=table.status_reason,
        status_changed_at=table.status_changed_at,
        service=table.service,
        delta_version=table.delta_version,
        last_commit_at=table.last_commit_at,
        last_commit_rows=table.last_commit_rows,
        commits=table.commits,
        rows_deleted=table.rows_deleted,
        source_commit_ts_ms=table.source_commit_ts_ms,
        freshness_seconds=round(freshness, 3) if freshness is not None else None,
        source_lsn=table.source_lsn,
        last_schema_change_at=table.last_schema_change_at,
        quality=_quality(table.rows_input, table.rows_written, table.rows_quarantined),
    )


def _service_status(service: ServiceState, now: datetime, timeout_s: float) -> ServiceStatus:
    since = (now - service.last_heartbeat_at).total_seconds() if service.last_heartbeat_at else None
    return ServiceStatus(
        service=service.service,
        alive=since is not None and since <= timeout_s,
        last_heartbeat_at=service.last_heartbeat_at,
        seconds_since_heartbeat=round(since, 3) if since is not None else None,
        last_event_at=service.last_event_at,
        details=service.details,
    )


def _lag_out(lag: ServiceLag) -> ServiceLagOut:
    return ServiceLagOut(
        service=lag.service,
        source=lag.source,
        group=lag.group,
        total_lag=lag.total,
        partitions=[
            PartitionLagOut(
                topic=p.topic,
                partition=p.partition,
                committed=p.committed,
                high_watermark=p.high_watermark,
                lag=p.lag,
            )
            for p in lag.partitions
        ],
        error=lag.error,
    )
