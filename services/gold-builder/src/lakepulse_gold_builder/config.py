"""The gold builder's settings: the shared :class:`LakePulseSettings` plus a ``gold`` section.

Environment examples: ``LAKEPULSE_GOLD__CONSUMER_GROUP=lakepulse-gold-builder``,
``LAKEPULSE_GOLD__VACUUM_RETAIN_HOURS=168``, ``LAKEPULSE_TELEMETRY__METRICS_PORT=9404``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from lakepulse_common.settings import LakePulseSettings, SparkSettings, TelemetrySettings

SERVICE_NAME = "gold-builder"

# Set through ``spark.extra_conf`` (so LAKEPULSE_SPARK__EXTRA_CONF still overrides them):
# - Delta reconstructs a table's state with 50 tasks by default; gold reads a dozen small logs per
#   build, and on a 2-core machine those tasks cost more than the data.
# - Spark writes Parquet timestamps as INT96 by default; delta-rs reads INT96 as nanoseconds, which
#   cannot hold the SCD2 sentinels (1900-01-01, 9999-12-31). Microseconds are what every reader takes.
SPARK_DEFAULTS: dict[str, str] = {
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # An incremental build runs ~90 small Spark jobs over a few hundred rows each; generating and
    # compiling a class per whole stage costs more than running them interpreted. Measured without it:
    # incremental builds 0.84-0.89x the time, a 1M-row full rebuild unchanged (docs/gold-builder.md).
    "spark.sql.codegen.wholeStage": "false",
}


class GoldSettings(BaseModel):
    consumer_group: str = "lakepulse-gold-builder"
    poll_timeout_s: float = Field(default=1.0, gt=0, description="one poll of the control topic")
    batch_window_s: float = Field(
        default=0.5, ge=0, description="after a first silver event, gather more for this long"
    )
    round_wait_s: float = Field(
        default=0.0,
        ge=0,
        description="while a silver round with commits in the batch has not ended, keep gathering for at"
        " most this long after the first event: one build per round, at a point where the round's tables"
        " are all applied. 0 (default) builds on every silver commit: lower latency (docs/gold-builder.md)",
    )
    max_events_per_batch: int = Field(default=500, ge=1)
    notify_max_keys: int = Field(
        default=1000, ge=1, description="affected keys listed in one change notification, then truncated"
    )
    optimize_every_commits: int = Field(
        default=50, ge=0, description="OPTIMIZE a gold table after this many incremental commits; 0 = never"
    )
    vacuum_retain_hours: float = Field(default=168.0, ge=0)
    warm_snapshots: bool = Field(
        default=True, description="warm the snapshots a build committed, in the background, before the next"
    )
    interpreted_incremental: bool = Field(
        default=True,
        description="evaluate incremental builds' expressions interpreted, not compiled (p50 0.68x at"
        " scale 0.05, docs/gold-builder.md); full rebuilds and backfills stay compiled",
    )
    max_incremental_orders: int = Field(
        default=20_000,
        ge=1,
        description="an update affecting more orders is a full rebuild (after a backlog: bounded memory)",
    )
    target_file_rows: int = Field(
        default=2_000_000, ge=1, description="rows per data file when a table is rewritten in full"
    )


class GoldSparkSettings(SparkSettings):
    """Subclasses, not instance defaults, so the tuning survives when only some ``LAKEPULSE_SPARK__*``
    (or ``LAKEPULSE_TELEMETRY__*``) variables are set: pydantic then builds the section from its fields."""

    extra_conf: dict[str, str] = Field(default_factory=lambda: dict(SPARK_DEFAULTS))
    # Smaller heaps keep the local stack's memory down (bench/results/README.md, Memory); at 512m,
    # builds of ~15k orders spent minutes collecting garbage.
    driver_memory: str = "768m"


class GoldTelemetrySettings(TelemetrySettings):
    metrics_port: int = Field(default=9404, ge=0, le=65535, description="0 disables the /metrics endpoint")


class GoldBuilderSettings(LakePulseSettings):
    gold: GoldSettings = GoldSettings()
    telemetry: GoldTelemetrySettings = GoldTelemetrySettings()
    spark: GoldSparkSettings = GoldSparkSettings()
