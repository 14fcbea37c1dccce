"""The bronze writer's settings: the shared LakePulse sections plus a ``bronze`` section.

Environment variables use the shared prefix and ``__`` nesting, e.g.
``LAKEPULSE_BRONZE__TRIGGER_INTERVAL_S=2`` or ``LAKEPULSE_BRONZE__MAX_OFFSETS_PER_TRIGGER=100000``.
Defaults are sized for a 2-core machine draining a backlog and then following a live stream.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from lakepulse_common.settings import LakePulseSettings, SparkSettings, TelemetrySettings

SERVICE_NAME = "bronze-writer"
DEFAULT_METRICS_PORT = 9402

FaultPoint = Literal["none", "before_delta_commit", "after_delta_commit"]


class BronzeSettings(BaseModel):
    """Streaming, file-size and quality knobs of the bronze writer."""

    trigger_interval_s: float = Field(
        default=1.0, ge=0, description="processing-time trigger; 0 starts the next batch at once"
    )
    max_offsets_per_trigger: int | None = Field(
        default=200_000, ge=1, description="cap per micro-batch, so a backlog drains in bounded batches"
    )
    min_partitions: int | None = Field(
        default=None, ge=1, description="Kafka source tasks per batch; default one per topic-partition"
    )
    kafka_fetch_max_wait_ms: int = Field(
        default=10,
        ge=0,
        description="the source's consumers' fetch.max.wait.ms (Kafka's default 500 made every"
        " topic-partition of a small batch wait for the previous fetch's long poll)",
    )
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    fail_on_data_loss: bool = Field(
        default=True, description="stop loudly when Kafka retention deleted offsets not yet written"
    )
    shuffle_partitions: int = Field(default=2, ge=1, description="for the small duplicate-detection shuffle")
    parallel_table_writes: int = Field(
        default=4, ge=1, description="tables of one batch appended concurrently (commit latency overlaps)"
    )
    target_file_size_mb: int = Field(default=128, ge=1, description="OPTIMIZE's target file size")
    compact_min_file_size_mb: int = Field(
        default=16,
        ge=1,
        description="files at least this big are left alone by compaction (Delta's default, 1 GiB,"
        " made every compaction rewrite the whole day's partition)",
    )
    max_records_per_file: int = Field(default=1_000_000, ge=0, description="0 = unlimited")
    compact_every_commits: int = Field(
        default=50,
        ge=0,
        description="OPTIMIZE recent partitions of a table every N of its versions; 0 = never",
    )
    compact_lookback_days: int = Field(
        default=1, ge=0, description="partitions older than this are left alone"
    )
    duplicate_lookback_days: int = Field(
        default=1, ge=0, description="ingest-date partitions searched for cross-batch key+LSN duplicates"
    )
    interpreted_max_rows: int = Field(
        default=50_000,
        ge=0,
        description="the appends of a batch of at most this many rows evaluate their expressions"
        " interpreted, not compiled (steady-state batch p95 0.6x); 0 = always compiled",
    )
    max_trace_links: int = Field(default=32, ge=0, description="links from a batch span to event traces")
    control_flush_timeout_s: float = Field(default=30.0, gt=0)
    replay_chunk_records: int = Field(
        default=200_000,
        ge=1,
        description="Kafka records a replay reads, parses and appends per step (stream batches run between)",
    )
    query_name: str = "lakepulse-bronze"
    checkpoint_dir: Path | None = Field(default=None, description="default <state_dir>/checkpoints/bronze")
    fault_injection: FaultPoint = Field(
        default="none",
        description="TEST ONLY: SIGKILL this process at a point of the first non-empty batch (crash tests)",
    )


class BronzeSparkSettings(SparkSettings):
    """A subclass, not an instance default, so it survives when only some ``LAKEPULSE_SPARK__*`` are set."""

    # A batch is parsed once onto local disk (materialize_on_disk), not held in the heap; its heap peaked
    # at 433 MiB with 1 GiB allowed. Smaller heaps keep the local stack's memory down
    # (bench/results/README.md, Memory).
    driver_memory: str = "512m"


class BronzeWriterSettings(LakePulseSettings):
    """Everything the bronze writer reads from the environment; built once in ``main()``."""

    telemetry: TelemetrySettings = TelemetrySettings(metrics_port=DEFAULT_METRICS_PORT)
    bronze: BronzeSettings = BronzeSettings()
    spark: BronzeSparkSettings = BronzeSparkSettings()

    @property
    def bronze_checkpoint_dir(self) -> Path:
        return self.bronze.checkpoint_dir or self.checkpoints_dir / "bronze"
