"""The silver processor's settings: the shared :class:`LakePulseSettings` plus a ``silver`` section.

Environment examples: ``LAKEPULSE_SILVER__CONSUMER_GROUP=lakepulse-silver``,
``LAKEPULSE_SILVER__OPTIMIZE_EVERY_COMMITS=50``, ``LAKEPULSE_TELEMETRY__METRICS_PORT=9403``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from lakepulse_common.settings import LakePulseSettings, SparkSettings, TelemetrySettings

SERVICE_NAME = "silver-processor"


class SilverSettings(BaseModel):
    consumer_group: str = Field(default="lakepulse-silver-processor", min_length=1)
    poll_timeout_s: float = Field(default=1.0, gt=0, description="one control-topic poll")
    poll_max_events: int = Field(default=500, ge=1, description="control events handled per cycle")
    max_bronze_versions_per_batch: int = Field(
        default=50, ge=1, description="bronze commits applied in one silver commit (bounds batch size)"
    )
    change_data_feed: bool = Field(
        default=True, description="enable Delta's change data feed on silver tables (gold reads it)"
    )
    deletion_vectors: bool = Field(
        default=False,
        description="Delta deletion vectors make MERGE cheaper, but delta-rs 1.6 (lakepulse sql/verify, "
        "the control API's previews) cannot read tables that use them",
    )
    target_file_size_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024 * 1024,
        description="OPTIMIZE's file size. Small on purpose: without deletion vectors a MERGE rewrites every"
        " file it touches whole, so a file is the unit of MERGE cost (2 MiB ≈ 100k orders-shaped rows)",
    )
    merge_broadcast_max_rows: int = Field(
        default=200_000,
        ge=0,
        description="MERGE sources up to this many rows are broadcast (no shuffle of the target)",
    )
    merge_broadcast_min_target_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=0,
        description="...but only into targets larger than this: a MERGE into one or two files shuffles"
        " faster than it broadcasts (measured: shuffling 0.8x at 50k and 200k rows, broadcasting 0.9x"
        " at 500k)",
    )
    optimize_every_commits: int = Field(
        default=100, ge=0, description="compact a table after this many silver commits; 0 disables"
    )
    tombstone_retention_hours: float = Field(
        default=7 * 24.0, gt=0, description="how long delete markers guard against late duplicates"
    )
    hold_missing_parents: bool = Field(
        default=True, description="hold a child whose parent is missing instead of applying it"
    )
    hold_snapshot_rows: bool = Field(
        default=False,
        description="hold snapshot reads too; off: the source's foreign keys put their parents in the"
        " same snapshot, so they are applied as they come",
    )
    interpreted_max_rows: int = Field(
        default=50_000,
        ge=0,
        description="a batch of at most this many bronze rows evaluates its expressions interpreted, not"
        " compiled (all but the MERGE): a round of small batches 0.67x the time; 0 = always compiled",
    )
    align_transactions: bool = Field(
        default=False,
        description="apply a change only once every event of its source transaction is in bronze"
        " (needs the transaction topic); waiting changes are held under transaction_incomplete",
    )
    transaction_lookback_days: int = Field(
        default=7, ge=1, description="END events and arrival counts older than this are not consulted"
    )
    flush_timeout_s: float = Field(default=30.0, gt=0)


# Small-table tuning: Delta's snapshot state and MERGE shuffles default to far more partitions than
# a 2-core machine and ≤10k-row batches need.
SPARK_DEFAULTS = {
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.databricks.delta.merge.repartitionBeforeWrite.enabled": "false",
    # Size estimates from compressed Parquet let Spark broadcast a multi-million-row MERGE target
    # (driver OOM in the benchmark): only explicitly hinted (small) sides are broadcast.
    "spark.sql.autoBroadcastJoinThreshold": "-1",
    # Optimized writes bin a MERGE's output into files of this many MiB (Delta's default: 512). Large
    # bins put a whole snapshot load into one file that every later MERGE rewrites; 2 matches
    # ``target_file_size_bytes``.
    "spark.databricks.delta.optimizeWrite.binSize": "2",
}


class SilverSparkSettings(SparkSettings):
    """Subclasses, not instance defaults, so the tuning survives when only some ``LAKEPULSE_SPARK__*``
    (or ``LAKEPULSE_TELEMETRY__*``) variables are set: pydantic then builds the section from its fields."""

    extra_conf: dict[str, str] = Field(default_factory=lambda: dict(SPARK_DEFAULTS))
    # Smaller heaps keep the local stack's memory down (bench/results/README.md, Memory).
    driver_memory: str = "640m"


class SilverTelemetrySettings(TelemetrySettings):
    metrics_port: int = Field(default=9403, ge=0, le=65535, description="0 disables the /metrics endpoint")


class SilverProcessorSettings(LakePulseSettings):
    silver: SilverSettings = SilverSettings()
    spark: SilverSparkSettings = SilverSparkSettings()
    telemetry: SilverTelemetrySettings = SilverTelemetrySettings()
