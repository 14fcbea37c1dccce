"""Per-batch statistics: one small aggregation over the parsed batch, summarised on the driver.

The aggregation groups by (route, kind, reason, target table, topic, partition), so its result has a
handful of rows however large the batch is; everything the writer needs afterwards (which tables to
write, Kafka offset ranges, LSN ranges, audit and metric counts) is derived from those rows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F


def aggregate(parsed: DataFrame) -> list[Row]:
    data = F.col("_kind") == "data"
    return (
        parsed.groupBy("_route", "_kind", "_reason", "_target_table", "_topic", "_partition")
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.min("_offset").alias("min_offset"),
            F.max("_offset").alias("max_offset"),
            F.min("source_lsn").alias("min_lsn"),
            F.max("source_lsn").alias("max_lsn"),
            F.max("source_ts_ms").alias("max_source_ts_ms"),
            F.min("_kafka_timestamp").alias("min_kafka_ts"),
            F.max("_kafka_timestamp").alias("max_kafka_ts"),
            F.count_if(F.col("op") == "d").alias("deletes"),
            F.first("_traceparent", ignorenulls=True).alias("traceparent"),
            F.count_if(data & F.col("source_ts_ms").isNull()).alias("missing_source_ts"),
            F.count_if(data & F.col("source_tx_id").isNull()).alias("missing_tx_id"),
            F.count_if(F.col("_schema_wrapped")).alias("schema_wrapped"),
            F.count_if(data & (F.col("source_snapshot").isin("true", "first", "last", "incremental"))).alias(
                "snapshot_rows"
            ),
        )
        .collect()
    )


@dataclass
class TableStats:
    """What one micro-batch puts into one bronze table."""

    table: str
    rows: int = 0
    deletes: int = 0
    quarantined_for_table: int = 0
    duplicates: int = 0
    min_lsn: int | None = None
    max_lsn: int | None = None
    max_source_ts_ms: int | None = None
    offsets: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    # LSN range of the change events per Kafka partition: a key's redeliveries stay in its partition.
    partition_lsns: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    kinds: Counter[str] = field(default_factory=Counter)

    def add_offsets(self, topic: str | None, partition: int | None, low: int, high: int) -> None:
        if topic is None or partition is None:
            return
        known = self.offsets.get((topic, partition))
        self.offsets[(topic, partition)] = (min(known[0], low), max(known[1], high)) if known else (low, high)

    def add_partition_lsns(
        self, topic: str | None, partition: int | None, low: int | None, high: int | None
    ) -> None:
        if topic is None or partition is None or low is None or high is None:
            return
        known = self.partition_lsns.get((topic, partition))
        self.partition_lsns[(topic, partition)] = (
            (min(known[0], low), max(known[1], high)) if known else (low, high)
        )

    def commit_metadata(self, batch_id: int, trace: dict[str, str]) -> dict[str, Any]:
        """What the Delta commit records (``userMetadata``) and the control event announces."""
        meta: dict[str, Any] = {
            "rows": {
                "input": self.rows,
                "written": self.rows,
                "quarantined": self.quarantined_for_table,
                "deleted": self.deletes,
            },
            "kafka_offsets": [
                {"topic": topic, "partition": part, "start": low, "end": high + 1}
                for (topic, part), (low, high) in sorted(self.offsets.items())
            ],
            "details": {"batch_id": batch_id, "kinds": dict(self.kinds), "duplicates": self.duplicates},
        }
        if self.min_lsn is not None and self.max_lsn is not None:
            meta["source_lsn"] = {"min": self.min_lsn, "max": self.max_lsn}
        if self.max_source_ts_ms is not None:
            meta["source_commit_ts_ms"] = self.max_source_ts_ms
        if trace.get("traceparent"):
            meta["trace"] = {k: v for k, v in trace.items() if k in ("traceparent", "tracestate")}
        return meta


def _aware(row: Row) -> Row:
    """PySpark returns timestamps as naive local times; make them timezone-aware."""
    values = row.asDict()
    for name in ("min_kafka_ts", "max_kafka_ts"):
        if values[name] is not None and values[name].tzinfo is None:
            values[name] = values[name].astimezone(UTC)
    return Row(**values)


def _lower(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _upper(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass
class BatchStats:
    """The whole micro-batch: per-table stats plus the counters the audit table records."""

    tables: dict[str, TableStats]
    input_rows: int
    kinds: Counter[str]
    reasons: Counter[str]
    missing_source_ts: int
    missing_tx_id: int
    schema_wrapped: int
    snapshot_rows: int
    offset_gaps: int
    min_kafka_ts: datetime | None
    max_kafka_ts: datetime | None
    traceparents: list[str] = field(default_factory=list)

    @classmethod
    def from_rows(cls, rows: list[Row]) -> BatchStats:
        tables: dict[str, TableStats] = {}
        kinds: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        spans: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 2**62, -1])
        totals = Counter[str]()
        min_ts: datetime | None = None
        max_ts: datetime | None = None
        traceparents: dict[str, None] = {}
        for row in rows:
            row = _aware(row)
            stats = tables.setdefault(row["_route"], TableStats(row["_route"]))
            stats.rows += row["rows"]
            stats.deletes += row["deletes"]
            stats.kinds[row["_kind"]] += row["rows"]
            stats.min_lsn = _lower(stats.min_lsn, row["min_lsn"])
            stats.max_lsn = _upper(stats.max_lsn, row["max_lsn"])
            stats.max_source_ts_ms = _upper(stats.max_source_ts_ms, row["max_source_ts_ms"])
            stats.add_offsets(row["_topic"], row["_partition"], row["min_offset"], row["max_offset"])
            if row["_kind"] == "data":
                stats.add_partition_lsns(row["_topic"], row["_partition"], row["min_lsn"], row["max_lsn"])
            kinds[row["_kind"]] += row["rows"]
            if row["_reason"] is not None:
                reasons[row["_reason"]] += row["rows"]
                target = row["_target_table"]
                if target is not None:
                    tables.setdefault(target, TableStats(target)).quarantined_for_table += row["rows"]
            if row["_topic"] is not None:
                span = spans[(row["_topic"], row["_partition"])]
                span[0] += row["rows"]
                span[1] = min(span[1], row["min_offset"])
                span[2] = max(span[2], row["max_offset"])
            if row["traceparent"]:
                traceparents[row["traceparent"]] = None
            for name in ("missing_source_ts", "missing_tx_id", "schema_wrapped", "snapshot_rows"):
                totals[name] += row[name]
            if row["min_kafka_ts"] is not None:
                min_ts = row["min_kafka_ts"] if min_ts is None else min(min_ts, row["min_kafka_ts"])
                max_ts = row["max_kafka_ts"] if max_ts is None else max(max_ts, row["max_kafka_ts"])
        # Quarantine targets that received no row of their own only carry a count: drop them.
        tables = {name: stats for name, stats in tables.items() if stats.rows}
        return cls(
            tables=tables,
            input_rows=sum(kinds.values()),
            kinds=kinds,
            reasons=reasons,
            missing_source_ts=totals["missing_source_ts"],
            missing_tx_id=totals["missing_tx_id"],
            schema_wrapped=totals["schema_wrapped"],
            snapshot_rows=totals["snapshot_rows"],
            offset_gaps=sum(high - low + 1 - n for n, low, high in spans.values()),
            min_kafka_ts=min_ts,
            max_kafka_ts=max_ts,
            traceparents=list(traceparents),
        )
