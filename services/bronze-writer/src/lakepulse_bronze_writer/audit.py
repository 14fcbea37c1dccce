"""The ``_batch_audit`` bronze table: one row per micro-batch (or ingested file) with quality counts.

It records schema validation (quarantine reasons), duplicate detection, format checks (schema-wrapped
envelopes, missing source timestamps or transaction ids) and completeness (offset gaps inside the
batch's Kafka ranges, lag). The row is built on the driver from :class:`BatchStats`; it is one row,
so this is not per-row work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession

from lakepulse_bronze_writer.stats import BatchStats

AUDIT_DDL = (
    "_batch_id BIGINT, source STRING, app_id STRING, started_at TIMESTAMP, finished_at TIMESTAMP,"
    " duration_ms BIGINT, input_rows BIGINT, data_rows BIGINT, tombstones BIGINT, heartbeats BIGINT,"
    " transaction_events BIGINT, quarantined BIGINT, duplicates BIGINT, schema_wrapped BIGINT,"
    " snapshot_rows BIGINT, missing_source_ts_ms BIGINT, missing_tx_id BIGINT, offset_gaps BIGINT,"
    " min_source_lsn BIGINT, max_source_lsn BIGINT, min_kafka_timestamp TIMESTAMP,"
    " max_kafka_timestamp TIMESTAMP, lag_ms BIGINT, tables MAP<STRING, BIGINT>,"
    " quarantine_reasons MAP<STRING, BIGINT>, source_file STRING, source_file_sha256 STRING,"
    " _ingested_at TIMESTAMP, _ingest_date DATE"
)


@dataclass(frozen=True)
class AuditContext:
    batch_id: int
    source: str  # "kafka" or "file"
    app_id: str
    started_at: datetime
    finished_at: datetime
    duplicates: int
    source_file: str | None = None
    source_file_sha256: str | None = None


def audit_frame(spark: SparkSession, stats: BatchStats, ctx: AuditContext) -> DataFrame:
    """The one-row audit DataFrame for a batch."""
    data_tables = [t for t in stats.tables.values() if t.kinds.get("data")]
    min_lsns = [t.min_lsn for t in data_tables if t.min_lsn is not None]
    max_lsns = [t.max_lsn for t in data_tables if t.max_lsn is not None]
    lag_ms = (
        int((ctx.finished_at - stats.max_kafka_ts).total_seconds() * 1000) if stats.max_kafka_ts else None
    )
    row = (
        ctx.batch_id,
        ctx.source,
        ctx.app_id,
        ctx.started_at,
        ctx.finished_at,
        int((ctx.finished_at - ctx.started_at).total_seconds() * 1000),
        stats.input_rows,
        stats.kinds.get("data", 0),
        stats.kinds.get("tombstone", 0),
        stats.kinds.get("heartbeat", 0),
        stats.kinds.get("transaction", 0),
        stats.kinds.get("quarantine", 0),
        ctx.duplicates,
        stats.schema_wrapped,
        stats.snapshot_rows,
        stats.missing_source_ts,
        stats.missing_tx_id,
        stats.offset_gaps,
        min(min_lsns) if min_lsns else None,
        max(max_lsns) if max_lsns else None,
        stats.min_kafka_ts,
        stats.max_kafka_ts,
        lag_ms,
        {name: t.rows for name, t in stats.tables.items()},
        dict(stats.reasons),
        ctx.source_file,
        ctx.source_file_sha256,
        ctx.finished_at,
        ctx.finished_at.date(),
    )
    return spark.createDataFrame([row], AUDIT_DDL)
