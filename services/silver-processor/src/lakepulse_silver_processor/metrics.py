"""Prometheus metrics (``telemetry.metrics_port``, default 9403) and the ``silver/_quality`` table.

Metrics live in an explicit registry: ``main()`` passes the global one (what the HTTP endpoint
serves); tests and the benchmark build private ones. One ``_quality`` row per applied batch records
what the batch did (rows in/out, quarantined, held, released, per-rule failures) for SQL readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from lakepulse_common.freshness import AgeGauge

QUALITY_TABLE = "_quality"
_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass
class BatchStats:
    """What one table batch did; the source of the quality row, the metrics and the control event."""

    table: str
    bronze_version_from: int
    bronze_version_to: int
    silver_version: int | None = None
    rows_in: int = 0
    upserts: int = 0
    deletes: int = 0
    quarantined: int = 0
    held: int = 0
    released: int = 0
    superseded: int = 0
    lsn_min: int | None = None
    lsn_max: int | None = None
    source_ts_ms_max: int | None = None
    rule_failures: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0


QUALITY_SCHEMA = T.StructType(
    [
        T.StructField("table", T.StringType()),
        T.StructField("bronze_version_from", T.LongType()),
        T.StructField("bronze_version_to", T.LongType()),
        T.StructField("silver_version", T.LongType()),
        T.StructField("rows_in", T.LongType()),
        T.StructField("upserts", T.LongType()),
        T.StructField("deletes", T.LongType()),
        T.StructField("quarantined", T.LongType()),
        T.StructField("held", T.LongType()),
        T.StructField("released", T.LongType()),
        T.StructField("superseded", T.LongType()),
        T.StructField("rule_failures", T.MapType(T.StringType(), T.LongType())),
        T.StructField("duration_ms", T.LongType()),
    ]
)


def quality_row(spark: SparkSession, stats: BatchStats) -> DataFrame:
    row = (
        stats.table,
        stats.bronze_version_from,
        stats.bronze_version_to,
        stats.silver_version,
        stats.rows_in,
        stats.upserts,
        stats.deletes,
        stats.quarantined,
        stats.held,
        stats.released,
        stats.superseded,
        stats.rule_failures,
        int(stats.duration_s * 1000),
    )
    from pyspark.sql import functions as F

    return spark.createDataFrame([row], QUALITY_SCHEMA).withColumn("recorded_at", F.current_timestamp())


class SilverMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.registry = registry
        self.rows_in = Counter(
            "lakepulse_silver_rows_in_total",
            "Changes read from bronze (and held changes retried)",
            ["table"],
            registry=registry,
        )
        self.rows_out = Counter(
            "lakepulse_silver_rows_out_total",
            "Changes applied to silver",
            ["table", "kind"],
            registry=registry,
        )
        self.rule_failures = Counter(
            "lakepulse_silver_rule_failures_total",
            "Changes that broke an expectation",
            ["table", "rule", "action"],
            registry=registry,
        )
        self.held = Gauge(
            "lakepulse_silver_held_rows", "Changes waiting for a parent", ["table"], registry=registry
        )
        self.paused = Gauge(
            "lakepulse_silver_table_paused",
            "1 while a table is paused by an incompatible change",
            ["table"],
            registry=registry,
        )
        self.applied_version = Gauge(
            "lakepulse_silver_applied_bronze_version",
            "Last bronze version applied",
            ["table"],
            registry=registry,
        )
        self.batch_duration = Histogram(
            "lakepulse_silver_batch_duration_seconds",
            "Wall time of one table batch",
            ["table"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.duplicate_events = Counter(
            "lakepulse_silver_duplicate_control_events_total",
            "Bronze commit events already applied",
            registry=registry,
        )
        self.control_events = Counter(
            "lakepulse_silver_control_events_total",
            "Silver control events produced",
            ["kind"],
            registry=registry,
        )
        self.freshness_seconds = Gauge(
            "lakepulse_silver_freshness_seconds",
            "Now minus the source commit time of the newest change applied to a silver table",
            ["table"],
            registry=registry,
        )
        self.freshness = AgeGauge(self.freshness_seconds)
        self.errors = Counter(
            "lakepulse_silver_errors_total",
            "Failures that stopped or disturbed the silver processor",
            ["kind"],
            registry=registry,
        )

    def record(self, stats: BatchStats, rules: dict[str, str]) -> None:
        table = stats.table
        self.rows_in.labels(table).inc(stats.rows_in)
        self.rows_out.labels(table, "upsert").inc(stats.upserts)
        self.rows_out.labels(table, "delete").inc(stats.deletes)
        self.rows_out.labels(table, "quarantine").inc(stats.quarantined)
        for rule, count in stats.rule_failures.items():
            self.rule_failures.labels(table, rule, rules.get(rule, "quarantine")).inc(count)
        self.applied_version.labels(table).set(stats.bronze_version_to)
        self.batch_duration.labels(table).observe(stats.duration_s)
        self.freshness.observe(table, stats.source_ts_ms_max)
