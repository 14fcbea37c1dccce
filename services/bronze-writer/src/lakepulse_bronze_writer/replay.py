"""Replay: re-ingest a Kafka offset (or time) range of one CDC topic into bronze, without duplicates.

Bronze holds every Kafka record exactly once, identified by ``(topic, partition, offset)``. A replay
reads the asked range with a Spark batch query, parses it exactly as the stream does
(:func:`~lakepulse_bronze_writer.envelope.parse_kafka_records`), drops every record whose position is
already in its bronze table (a left anti-join on the position columns, pruned by their file
statistics) and appends only the missing ones. So a replay over intact bronze writes nothing, and a
replay after a table was lost or restored from an old copy writes exactly what is missing.

A long range is replayed in steps of at most ``bronze.replay_chunk_records`` records (consecutive
offsets, partition by partition), each read, parsed, compared and appended on its own, so memory stays
bounded and the stream's micro-batches run between steps. Each step's appends carry
``txnAppId = lakepulse-bronze-replay:<job_id>:<digest of the step's offset ranges>`` /
``txnVersion = 0``: a re-delivered command (or a rerun after a crash between two appends) is skipped by
Delta for the steps and tables it already wrote, and finds nothing missing in any case (a rerun whose
range grew has different last steps; the anti-join alone keeps those exact). The commits carry the
usual LakePulse ``userMetadata``, so the announcer announces them like any batch and silver applies
them.

Offsets the stream has not committed yet are left to the stream: writing them here too would make
the stream's own later append a duplicate. The replay therefore stops at the stream's committed
position, read from its checkpoint.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakepulse_bronze_writer import delta_io
from lakepulse_bronze_writer.audit import AuditContext, audit_frame
from lakepulse_bronze_writer.config import BronzeWriterSettings
from lakepulse_bronze_writer.envelope import (
    AUDIT_TABLE,
    HEARTBEATS_TABLE,
    QUARANTINE_TABLE,
    TRANSACTIONS_TABLE,
    parse_kafka_records,
)
from lakepulse_bronze_writer.layout import DATA_LAYOUT, HEARTBEATS_LAYOUT, TRANSACTIONS_LAYOUT, project
from lakepulse_bronze_writer.quarantine import quarantine_frame
from lakepulse_bronze_writer.stats import BatchStats, aggregate
from lakepulse_bronze_writer.stream import consumer_tuning, kafka_source_options
from lakepulse_common.commands import CommandRejectedError
from lakepulse_common.kafka import create_consumer, watermarks
from lakepulse_common.spark import materialize_on_disk, release_materialized
from lakepulse_common.storage import table_uri
from lakepulse_common.telemetry import inject_trace_headers
from lakepulse_common.topics import TopicNames

log = logging.getLogger(__name__)

POSITION = ["_topic", "_partition", "_offset"]
OffsetRanges = dict[int, tuple[int, int]]  # partition -> [start, end)


def replay_app_id(job_id: str, step: OffsetRanges) -> str:
    """The Delta transaction id of one replay step: the job and exactly the offsets it covers."""
    ranges = ",".join(f"{p}:{start}-{end}" for p, (start, end) in sorted(step.items()))
    return f"lakepulse-bronze-replay:{job_id}:{hashlib.sha256(ranges.encode()).hexdigest()[:16]}"


def split_ranges(ranges: OffsetRanges, max_records: int) -> list[OffsetRanges]:
    """Consecutive steps of at most ``max_records`` offsets, partition by partition (deterministic)."""
    steps: list[OffsetRanges] = []
    current: OffsetRanges = {}
    room = max_records
    for partition, (start, end) in sorted(ranges.items()):
        while start < end:
            stop = min(end, start + room)
            current[partition] = (start, stop)
            room -= stop - start
            start = stop
            if room == 0:
                steps.append(current)
                current, room = {}, max_records
    if current:
        steps.append(current)
    return steps


@dataclass(frozen=True)
class ReplayRequest:
    """The ``replay`` command's parameters (docs/control-api.md), validated."""

    topic: str
    table: str
    partitions: tuple[int, ...]
    start_offset: int | None = None
    end_offset: int | None = None
    start_timestamp_ms: int | None = None
    end_timestamp_ms: int | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any], topics: TopicNames) -> ReplayRequest:
        topic = params.get("topic")
        table = topics.table_of_cdc_topic(topic) if isinstance(topic, str) else None
        if table is None or not isinstance(topic, str):
            raise CommandRejectedError(f"replay: {topic!r} is not a CDC topic of prefix {topics.prefix!r}")
        partitions = params.get("partitions")
        if (
            not isinstance(partitions, list)
            or not partitions
            or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in partitions)
        ):
            raise CommandRejectedError("replay: partitions must be a non-empty list of partition numbers")
        values = {name: params.get(name) for name in _RANGE_PARAMS}
        for name, value in values.items():
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise CommandRejectedError(f"replay: {name} must be a non-negative integer")
        by_offset = values["start_offset"] is not None and values["end_offset"] is not None
        by_time = values["start_timestamp_ms"] is not None and values["end_timestamp_ms"] is not None
        if by_offset == by_time:
            raise CommandRejectedError(
                "replay: give either start_offset + end_offset or start_timestamp_ms + end_timestamp_ms"
            )
        return cls(topic, table, tuple(sorted(set(partitions))), **values)


_RANGE_PARAMS = ("start_offset", "end_offset", "start_timestamp_ms", "end_timestamp_ms")


@dataclass
class ReplayResult:
    requested: OffsetRanges
    replayed: OffsetRanges
    records_read: int = 0
    restored: dict[str, int] = field(default_factory=dict)
    versions: dict[str, list[int]] = field(default_factory=dict)

    @property
    def left_to_stream(self) -> int:
        """Offsets of the asked range the stream has not passed yet (it will write them itself)."""
        return sum(
            max(0, end - max(start, self.replayed.get(p, (start, start))[1]))
            for p, (start, end) in self.requested.items()
        )

    def summary(self) -> str:
        restored = ", ".join(f"{t}={n}" for t, n in sorted(self.restored.items())) or "nothing"
        text = f"{self.records_read} records read, restored: {restored}"
        if self.left_to_stream:
            text += f"; {self.left_to_stream} offsets not yet reached by the stream were left to it"
        return text


def requested_ranges(consumer: Consumer, request: ReplayRequest, timeout_s: float = 10.0) -> OffsetRanges:
    """Per partition ``[start, end)`` offsets, inside the retained range; timestamps resolved by Kafka."""
    ranges: OffsetRanges = {}
    bounds = watermarks(consumer, request.topic, request.partitions, timeout_s)
    if request.start_timestamp_ms is not None and request.end_timestamp_ms is not None:
        starts = _offsets_at(consumer, request, request.start_timestamp_ms, bounds, timeout_s)
        ends = _offsets_at(consumer, request, request.end_timestamp_ms, bounds, timeout_s)
    else:
        starts = dict.fromkeys(request.partitions, int(request.start_offset or 0))
        ends = dict.fromkeys(request.partitions, int(request.end_offset or 0))
    for partition in request.partitions:
        low, high = bounds[partition]
        start, end = max(starts[partition], low), min(ends[partition], high)
        ranges[partition] = (start, max(start, end))
    return ranges


def _offsets_at(
    consumer: Consumer,
    request: ReplayRequest,
    timestamp_ms: int,
    bounds: Mapping[int, tuple[int, int]],
    timeout_s: float,
) -> dict[int, int]:
    """The first offset with a record time >= ``timestamp_ms`` (the high watermark when there is none)."""
    asked = [TopicPartition(request.topic, p, timestamp_ms) for p in request.partitions]
    found = consumer.offsets_for_times(asked, timeout=timeout_s)
    return {tp.partition: tp.offset if tp.offset >= 0 else bounds[tp.partition][1] for tp in found}


def stream_positions(stream_checkpoint: Path) -> dict[tuple[str, int], int]:
    """The next offset of each topic-partition after the stream's last *committed* micro-batch.

    Structured Streaming writes ``offsets/<n>`` (planned end offsets of batch n) before the batch and
    ``commits/<n>`` after it; the newest n present in both is the stream's durable position.
    """
    commits = _batch_ids(stream_checkpoint / "commits")
    planned = _batch_ids(stream_checkpoint / "offsets")
    done = sorted(commits & planned)
    if not done:
        return {}
    lines = (stream_checkpoint / "offsets" / str(done[-1])).read_text().splitlines()
    positions: dict[tuple[str, int], int] = {}
    for line in lines[2:]:  # "v1", the batch metadata, then one JSON object per source
        source = orjson.loads(line) if line.strip().startswith("{") else {}
        for topic, partitions in source.items():
            for partition, offset in partitions.items():
                positions[(topic, int(partition))] = int(offset)
    return positions


def _batch_ids(directory: Path) -> set[int]:
    if not directory.is_dir():
        return set()
    return {int(p.name) for p in directory.iterdir() if p.name.isdigit()}


def clip_to_stream(
    ranges: OffsetRanges, topic: str, positions: Mapping[tuple[str, int], int]
) -> OffsetRanges:
    """Only offsets the stream already passed: the rest is the stream's own work."""
    clipped: OffsetRanges = {}
    for partition, (start, end) in ranges.items():
        stop = min(end, positions.get((topic, partition), 0))
        if stop > start:
            clipped[partition] = (start, stop)
    return clipped


def read_range(
    spark: SparkSession, settings: BronzeWriterSettings, topic: str, ranges: OffsetRanges
) -> DataFrame:
    """The Kafka records of ``ranges`` (end exclusive) as a batch DataFrame in the stream's source shape."""
    starting = {topic: {str(p): start for p, (start, _) in ranges.items()}}
    ending = {topic: {str(p): end for p, (_, end) in ranges.items()}}
    options = (
        kafka_source_options(settings.kafka)
        | consumer_tuning(settings.bronze)
        | {
            "assign": orjson.dumps({topic: sorted(ranges)}).decode(),
            "startingOffsets": orjson.dumps(starting).decode(),
            "endingOffsets": orjson.dumps(ending).decode(),
            "includeHeaders": "true",
            "failOnDataLoss": "true",
        }
    )
    return spark.read.format("kafka").options(**options).load()


def missing_rows(spark: SparkSession, lake_root: str, parsed: DataFrame, topic: str) -> DataFrame:
    """Parsed records whose Kafka position is not yet in the bronze table they route to."""
    routes = [row[0] for row in parsed.select("_route").distinct().collect()]
    present: DataFrame | None = None
    bounds = parsed.agg(F.min("_offset"), F.max("_offset")).first()
    low, high = (bounds[0], bounds[1]) if bounds is not None else (0, -1)
    for route in routes:
        uri = table_uri(lake_root, "bronze", route)
        if not delta_io.table_exists(spark, uri):
            continue
        positions = (
            spark.read.format("delta")
            .load(uri)
            .where((F.col("_topic") == topic) & F.col("_offset").between(low, high))
            .select(F.lit(route).alias("_route"), *POSITION)
        )
        present = positions if present is None else present.unionByName(positions)
    if present is None:
        return parsed
    return parsed.join(present, ["_route", *POSITION], "left_anti")


def table_frame(missing: DataFrame, table: str, stamps: Mapping[str, Any]) -> DataFrame:
    """The rows of one bronze table, in its layout (as the stream writes them)."""
    rows = missing.where(F.col("_route") == table).withColumns(dict(stamps))
    if table == QUARANTINE_TABLE:
        return quarantine_frame(missing.withColumns(dict(stamps)))
    if table == TRANSACTIONS_TABLE:
        return project(rows, TRANSACTIONS_LAYOUT)
    if table == HEARTBEATS_TABLE:
        return project(rows, HEARTBEATS_LAYOUT)
    # A restored row is the original record, not a re-delivery: it is not flagged duplicate.
    return project(rows.withColumn("_is_duplicate", F.lit(False)), DATA_LAYOUT)


class Replayer:
    """Runs replay requests against one lake; the caller serialises it with the stream's writer."""

    def __init__(self, spark: SparkSession, settings: BronzeWriterSettings) -> None:
        self.spark = spark
        self.settings = settings
        self.topics = TopicNames.from_settings(settings.kafka)

    def plan(self, request: ReplayRequest) -> ReplayResult:
        """Resolve the asked range and clip it to what the stream has committed."""
        consumer = create_consumer(self.settings.kafka, "lakepulse-bronze-replay", "lakepulse-bronze-replay")
        try:
            available = set(consumer.list_topics(request.topic, timeout=10).topics[request.topic].partitions)
            unknown = [p for p in request.partitions if p not in available]
            if not available or unknown:
                raise CommandRejectedError(
                    f"replay: {request.topic} has no partition(s) {unknown or 'at all'}"
                )
            asked = requested_ranges(consumer, request)
        finally:
            consumer.close()
        positions = stream_positions(self.settings.bronze_checkpoint_dir / "stream")
        return ReplayResult(requested=asked, replayed=clip_to_stream(asked, request.topic, positions))

    def steps(self, result: ReplayResult) -> list[OffsetRanges]:
        return split_ranges(result.replayed, self.settings.bronze.replay_chunk_records)

    def write_step(
        self, job_id: str, request: ReplayRequest, step: OffsetRanges, result: ReplayResult
    ) -> list[str]:
        """Append the step's missing records (adding to ``result``); returns the bronze tables written."""
        started_at = datetime.now(UTC)
        records = read_range(self.spark, self.settings, request.topic, step)
        # As the streaming batch does: computed once, kept on local disk, not in the columnar cache.
        parsed = materialize_on_disk(parse_kafka_records(records, self.topics))
        try:
            result.records_read += parsed.count()
            missing = materialize_on_disk(
                missing_rows(self.spark, self.settings.lake_root, parsed, request.topic)
            )
            try:
                return self._append(job_id, replay_app_id(job_id, step), missing, result, started_at)
            finally:
                release_materialized(missing)
        finally:
            release_materialized(parsed)

    def _append(
        self, job_id: str, app_id: str, missing: DataFrame, result: ReplayResult, started_at: datetime
    ) -> list[str]:
        stats = BatchStats.from_rows(aggregate(missing))
        if not stats.input_rows:
            return []
        trace_headers = dict(inject_trace_headers({}))
        stamps = {
            "_ingested_at": F.lit(started_at),
            "_batch_id": F.lit(None).cast("bigint"),
            "_ingest_date": F.lit(started_at.date()),
        }
        for table in sorted(stats.tables):
            table_stats = stats.tables[table]
            metadata = table_stats.commit_metadata(-1, trace_headers)
            metadata["details"] = {"replay_job_id": job_id, "kinds": dict(table_stats.kinds)}
            delta_io.append(
                table_frame(missing, table, stamps),
                table_uri(self.settings.lake_root, "bronze", table),
                app_id=app_id,
                txn_version=0,
                metadata=metadata,
                max_records_per_file=self.settings.bronze.max_records_per_file,
            )
            result.restored[table] = result.restored.get(table, 0) + table_stats.rows
        audit = audit_frame(
            self.spark, stats, AuditContext(-1, "replay", app_id, started_at, datetime.now(UTC), 0)
        )
        delta_io.append(
            audit,
            table_uri(self.settings.lake_root, "bronze", AUDIT_TABLE),
            app_id=app_id,
            txn_version=0,
            metadata={"details": {"replay_job_id": job_id}},
        )
        log.info(
            "replay %s step %s restored %s", job_id, app_id, {t: s.rows for t, s in stats.tables.items()}
        )
        return sorted([*stats.tables, AUDIT_TABLE])
