"""Prometheus metrics of the bronze writer, served on ``telemetry.metrics_port`` (default 9402).

Metrics live in an explicit registry: ``main()`` passes the global one (what the HTTP endpoint
serves); tests and the benchmark build private ones so several writers can live in one process.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from lakepulse_common.freshness import AgeGauge

_BATCH_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0)


class BronzeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.registry = registry
        self.rows = Counter(
            "lakepulse_bronze_rows_total",
            "Rows appended to bronze tables",
            ["table", "kind"],
            registry=registry,
        )
        self.quarantined = Counter(
            "lakepulse_bronze_quarantined_total", "Records sent to _quarantine", ["reason"], registry=registry
        )
        self.duplicates = Counter(
            "lakepulse_bronze_duplicates_total",
            "Rows flagged _is_duplicate (same key + LSN seen again)",
            ["table"],
            registry=registry,
        )
        self.batches = Counter("lakepulse_bronze_batches_total", "Micro-batches committed", registry=registry)
        self.replayed_batches = Counter(
            "lakepulse_bronze_replayed_batches_total",
            "Micro-batches whose Delta commits already existed (replay after a crash)",
            registry=registry,
        )
        self.batch_duration = Histogram(
            "lakepulse_bronze_batch_duration_seconds",
            "Wall time of one foreachBatch call",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.batch_rows = Gauge(
            "lakepulse_bronze_last_batch_rows", "Kafka records in the last micro-batch", registry=registry
        )
        self.lag_seconds = Gauge(
            "lakepulse_bronze_lag_seconds",
            "Ingest time minus the newest Kafka timestamp of the last batch",
            registry=registry,
        )
        self.offsets_behind = Gauge(
            "lakepulse_bronze_kafka_offsets_behind_latest",
            "Max offsets behind the latest per Kafka partition (from the query progress)",
            registry=registry,
        )
        self.control_events = Counter(
            "lakepulse_bronze_control_events_total", "Commit events produced", ["table"], registry=registry
        )
        self.compactions = Counter(
            "lakepulse_bronze_compactions_total",
            "OPTIMIZE runs on bronze tables",
            ["table"],
            registry=registry,
        )
        self.files_ingested = Counter(
            "lakepulse_bronze_files_ingested_total",
            "Files ingested (skipped re-runs excluded)",
            registry=registry,
        )
        self.freshness_seconds = Gauge(
            "lakepulse_bronze_freshness_seconds",
            "Now minus the source commit time of the newest change written to a bronze table",
            ["table"],
            registry=registry,
        )
        self.freshness = AgeGauge(self.freshness_seconds)
        self.errors = Counter(
            "lakepulse_bronze_errors_total",
            "Failures that stopped or disturbed the bronze writer",
            ["kind"],
            registry=registry,
        )

    def observe_source_commits(self, newest_ms: Mapping[str, int | None]) -> None:
        """After a batch: ``{table: newest source commit time (ms) written}`` feeds the freshness gauge."""
        for table, timestamp_ms in newest_ms.items():
            self.freshness.observe(table, timestamp_ms)

    @classmethod
    def global_registry(cls) -> BronzeMetrics:
        return cls(REGISTRY)
