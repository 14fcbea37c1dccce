"""``foreachBatch`` logic: parse once, write each bronze table idempotently, then announce.

Per micro-batch: the Kafka rows are parsed and classified in one columnar pass, kept on local disk
(:func:`~lakepulse_common.spark.materialize_on_disk`) for the jobs that follow; a tiny
aggregation gives the tables touched and their offset/LSN ranges; duplicates (same key + LSN) are
flagged; each table gets one Delta append tagged ``app id = lakepulse-bronze:<query id>:<table>``,
``version = <batch id>`` (recorded in a :class:`CommitLedger`); the audit row commits alongside;
only then are control events produced and flushed. A crash anywhere replays the batch: appends
already committed are found in the log and skipped, and the announcer re-announces commits whose
events may not have gone out.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from opentelemetry import trace
from opentelemetry.trace import Link
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from lakepulse_bronze_writer import delta_io
from lakepulse_bronze_writer.audit import AuditContext, audit_frame
from lakepulse_bronze_writer.config import BronzeSettings, FaultPoint
from lakepulse_bronze_writer.control import Announcer
from lakepulse_bronze_writer.envelope import (
    AUDIT_TABLE,
    HEARTBEATS_TABLE,
    QUARANTINE_TABLE,
    TRANSACTIONS_TABLE,
    parse_kafka_records,
)
from lakepulse_bronze_writer.layout import DATA_LAYOUT, HEARTBEATS_LAYOUT, TRANSACTIONS_LAYOUT, project
from lakepulse_bronze_writer.metrics import BronzeMetrics
from lakepulse_bronze_writer.quarantine import quarantine_frame
from lakepulse_bronze_writer.stats import BatchStats, TableStats, aggregate
from lakepulse_common.commit_ledger import CLOCK_MARGIN_MS, CommitLedger
from lakepulse_common.errors import LakePulseError
from lakepulse_common.spark import (
    interpreted_expressions,
    materialize_on_disk,
    release_materialized,
    release_unreachable_jvm_objects,
)
from lakepulse_common.storage import table_uri
from lakepulse_common.telemetry import context_from_headers, inject_trace_headers
from lakepulse_common.topics import TopicNames

log = logging.getLogger(__name__)

_POSITION = ["_topic", "_partition", "_offset"]


class ShutdownInProgressError(LakePulseError):
    """A micro-batch started after a graceful stop was requested; it will be replayed on restart."""


def _kill_self_at(point: FaultPoint, configured: FaultPoint) -> None:
    """TEST ONLY fault injection: die without cleanup, as a power cut or OOM kill would."""
    if configured == point:
        log.warning("fault injection: SIGKILL at %s", point)
        os.kill(os.getpid(), signal.SIGKILL)


class BronzeBatchWriter:
    """The ``foreachBatch`` callable; also guards batches against a concurrent graceful stop."""

    def __init__(
        self,
        spark: SparkSession,
        bronze: BronzeSettings,
        topics: TopicNames,
        lake_root: str,
        checkpoint_dir: Path,
        announcer: Announcer,
        metrics: BronzeMetrics,
        tracer: trace.Tracer,
    ) -> None:
        self._spark = spark
        self._bronze = bronze
        self._topics = topics
        self._lake_root = lake_root
        self._checkpoint_dir = checkpoint_dir
        self._announcer = announcer
        self._metrics = metrics
        self._tracer = tracer
        self._max_lsn: dict[str, dict[tuple[str, int], int]] = {}
        self._ledger = CommitLedger(spark)
        self._not_before_ms: int | None = None
        self._query_id: str | None = None
        self._stamps: dict[str, Column] = {}
        self.lock = threading.Lock()
        self.batch_durations: deque[float] = deque(maxlen=10_000)
        self.stopping = False

    @property
    def query_id(self) -> str:
        """The streaming query's id, persisted in the checkpoint: the stable part of ``txnAppId``."""
        if self._query_id is None:
            metadata = orjson.loads((self._checkpoint_dir / "metadata").read_bytes())
            self._query_id = str(metadata["id"])
        return self._query_id

    def app_id(self, table: str) -> str:
        return f"lakepulse-bronze:{self.query_id}:{table}"

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        with self.lock:
            if self.stopping:
                # Failing (not returning) keeps the batch's offsets uncommitted: it runs again on restart.
                raise ShutdownInProgressError(f"batch {batch_id} refused: the writer is stopping")
            self.process(batch, batch_id)

    def process(self, batch: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        started_at = datetime.now(UTC)
        self._not_before_ms = self._first_attempt_ms(batch_id)
        # The Kafka source gives one partition per topic-partition (dozens with every source table's
        # topics); each table's append then scanned all of them, dozens of tiny tasks per table per
        # batch. One partition per core keeps the parallelism and drops the per-task overhead.
        records = batch.coalesce(self._spark.sparkContext.defaultParallelism)
        parsed = materialize_on_disk(parse_kafka_records(records, self._topics))
        # The ingestion stamps stay literals (added after the checkpoint, per table): the writer's sort
        # by the partition column then folds away instead of sorting the whole batch.
        self._stamps = {
            "_ingested_at": F.lit(started_at),
            "_batch_id": F.lit(batch_id).cast("bigint"),
            "_ingest_date": F.lit(started_at.date()),
        }
        try:
            with self._tracer.start_as_current_span(
                "bronze.batch", attributes={"lakepulse.batch_id": batch_id}
            ) as span:
                stats = BatchStats.from_rows(aggregate(parsed))
                if not stats.input_rows:
                    return
                span.set_attribute("lakepulse.rows", stats.input_rows)
                for link in self._event_links(stats.traceparents):
                    span.add_link(link.context)
                _kill_self_at("before_delta_commit", self._bronze.fault_injection)
                # Known only now: a small batch's writes skip code generation (its cost, per batch, is
                # larger than the evaluation's). The batch's own (streaming) session, not self._spark.
                small = stats.input_rows <= self._bronze.interpreted_max_rows
                with interpreted_expressions(parsed.sparkSession, enabled=small):
                    duplicates = self._write_tables(parsed, stats, batch_id, started_at)
                finished_at = datetime.now(UTC)
                _kill_self_at("after_delta_commit", self._bronze.fault_injection)
                announced = self._announcer.announce(sorted([*stats.tables, AUDIT_TABLE]))
                self._compact_if_due(announced)
                self._record_metrics(stats, duplicates, finished_at, time.monotonic() - started)
        finally:
            release_materialized(parsed)
            release_unreachable_jvm_objects()

    def _event_links(self, traceparents: list[str]) -> list[Link]:
        """Links to the traces of (a capped sample of) the events in the batch: one per topic-partition."""
        links = []
        for traceparent in traceparents[: self._bronze.max_trace_links]:
            context = trace.get_current_span(context_from_headers({"traceparent": traceparent}))  # type: ignore[arg-type]
            if context.get_span_context().is_valid:
                links.append(Link(context.get_span_context()))
        return links

    def _first_attempt_ms(self, batch_id: int) -> int | None:
        """When the batch first ran (its offsets entry is written before it starts), with a margin.

        No commit of this batch can be older: a log scan for one after a restart stops there.
        """
        offsets = self._checkpoint_dir / "offsets" / str(batch_id)
        try:
            written = offsets.stat().st_mtime
        except FileNotFoundError:
            return None
        return int(written * 1000) - CLOCK_MARGIN_MS

    def _append(self, df: DataFrame, table: str, batch_id: int, metadata: dict[str, object]) -> None:
        delta_io.append(
            df,
            table_uri(self._lake_root, "bronze", table),
            app_id=self.app_id(table),
            txn_version=batch_id,
            metadata=metadata,
            max_records_per_file=self._bronze.max_records_per_file,
            ledger=self._ledger,
            not_before_ms=self._not_before_ms,
        )

    def _write_tables(self, parsed: DataFrame, stats: BatchStats, batch_id: int, started_at: datetime) -> int:
        """One idempotent append per touched table and the audit row, committed concurrently.

        Returns the number of rows flagged duplicate. The audit row is complete before the appends
        start (its ``finished_at`` ends the checks, not the commits), so it commits alongside them
        instead of after them: one commit latency less per batch.
        """
        trace_headers = dict(inject_trace_headers({}))
        data_tables = [
            t for t in stats.tables if t not in (QUARANTINE_TABLE, TRANSACTIONS_TABLE, HEARTBEATS_TABLE)
        ]
        duplicates_df, dup_counts = self._duplicates(parsed, stats, data_tables)
        audit = audit_frame(
            self._spark,
            stats,
            AuditContext(
                batch_id,
                "kafka",
                self.app_id(AUDIT_TABLE),
                started_at,
                datetime.now(UTC),
                sum(dup_counts.values()),
            ),
        )
        frames: dict[str, DataFrame] = {}
        for table in sorted(stats.tables):
            rows = parsed.where(F.col("_route") == table).withColumns(self._stamps)
            if table == QUARANTINE_TABLE:
                frames[table] = quarantine_frame(parsed.withColumns(self._stamps))
            elif table == TRANSACTIONS_TABLE:
                frames[table] = project(rows, TRANSACTIONS_LAYOUT)
            elif table == HEARTBEATS_TABLE:
                frames[table] = project(rows, HEARTBEATS_LAYOUT)
            else:
                stats.tables[table].duplicates = dup_counts.get(table, 0)
                flagged = self._flag_duplicates(rows, duplicates_df, stats.tables[table].duplicates)
                frames[table] = project(flagged, DATA_LAYOUT)

        def append(table: str) -> None:
            if table == AUDIT_TABLE:
                self._append(audit, AUDIT_TABLE, batch_id, {"details": {"batch_id": batch_id}})
                return
            metadata = stats.tables[table].commit_metadata(batch_id, trace_headers)
            self._append(frames[table], table, batch_id, metadata)

        # Tables commit independently (one txn id each); concurrent jobs overlap the per-commit latency.
        jobs = [*frames, AUDIT_TABLE]
        with ThreadPoolExecutor(max_workers=min(self._bronze.parallel_table_writes, len(jobs))) as pool:
            list(pool.map(append, jobs))
        for table in data_tables:
            self._remember_written_lsns(table, stats.tables[table])
        if duplicates_df is not None:
            duplicates_df.unpersist()
        return sum(dup_counts.values())

    @staticmethod
    def _flag_duplicates(rows: DataFrame, duplicates_df: DataFrame | None, count: int) -> DataFrame:
        if duplicates_df is None or not count:
            return rows.withColumn("_is_duplicate", F.lit(False))
        flagged = rows.join(F.broadcast(duplicates_df.drop("_route")), _POSITION, "left")
        return flagged.withColumn("_is_duplicate", F.coalesce(F.col("_dup"), F.lit(False))).drop("_dup")

    def _duplicates(
        self, parsed: DataFrame, stats: BatchStats, data_tables: list[str]
    ) -> tuple[DataFrame | None, dict[str, int]]:
        """Positions of rows whose (key, LSN) already occurred: earlier in this batch, or in recent bronze.

        Within the batch every data row with a key and an LSN is checked. Across batches only
        non-snapshot rows are checked (one snapshot shares one LSN), only against the last
        ``duplicate_lookback_days`` ingest dates, and only rows of Kafka partitions that reach back
        to or below the newest LSN already written there, so a stream in LSN order pays nothing.
        """
        if not data_tables:
            return None, {}
        keyed = parsed.where(
            (F.col("_kind") == "data") & F.col("_key").isNotNull() & F.col("source_lsn").isNotNull()
        ).select("_route", "_key", "source_lsn", "op", *_POSITION)
        found: DataFrame | None = None
        # A hash aggregation answers "any repeat at all?"; the positions (a sort per key) are only
        # computed for the rare batch that has one.
        repeated = keyed.groupBy("_route", "_key", "source_lsn").count().where(F.col("count") > 1)
        if repeated.limit(1).count():
            window = Window.partitionBy("_route", "_key", "source_lsn").orderBy(*_POSITION)
            found = (
                keyed.withColumn("_n", F.row_number().over(window))
                .where(F.col("_n") > 1)
                .select("_route", *_POSITION)
            )
        since = (datetime.now(UTC).date() - timedelta(days=self._bronze.duplicate_lookback_days)).isoformat()
        for table in data_tables:
            reaching = self._reaching_back(table, stats.tables[table], since)
            if not reaching:
                continue
            # Only rows at or below their partition's newest written LSN can repeat an earlier batch,
            # and only bronze rows in that LSN window can be repeated: Delta's file statistics on
            # source_lsn skip every older file.
            low = min(stats.tables[table].partition_lsns[part][0] for part in reaching)
            high = max(reaching.values())
            uri = table_uri(self._lake_root, "bronze", table)
            existing = (
                self._spark.read.format("delta")
                .load(uri)
                .where(
                    (F.col("_ingest_date") >= F.lit(since).cast("date"))
                    & F.col("source_lsn").between(low, high)
                    & F.col("_key").isNotNull()
                )
                .select("_key", "source_lsn")
            )
            in_window = F.lit(False)
            for (topic, partition), newest in reaching.items():
                same_partition = (F.col("_topic") == topic) & (F.col("_partition") == partition)
                in_window = in_window | (same_partition & (F.col("source_lsn") <= newest))
            candidates = keyed.where((F.col("_route") == table) & (F.col("op") != "r") & in_window)
            seen = candidates.join(existing, ["_key", "source_lsn"], "left_semi").select("_route", *_POSITION)
            found = seen if found is None else found.unionByName(seen)
        if found is None:
            return None, {}
        duplicates_df = found.distinct().withColumn("_dup", F.lit(True)).persist(StorageLevel.MEMORY_AND_DISK)
        counts = {row["_route"]: row["count"] for row in duplicates_df.groupBy("_route").count().collect()}
        return duplicates_df, counts

    def _reaching_back(self, table: str, table_stats: TableStats, since: str) -> dict[tuple[str, int], int]:
        """The batch's Kafka partitions whose lowest LSN is not above the newest already written there.

        A stream in LSN order (per partition) reaches back nowhere and pays no bronze read; a
        redelivery, an emitter restart or concurrent source transactions do. The newest LSN per
        partition is read from bronze once per table and process, then kept from the batches written.
        """
        if table not in self._max_lsn:
            self._max_lsn[table] = self._newest_lsns(table, since)
        newest = self._max_lsn[table]
        return {
            part: newest[part]
            for part, (low, _high) in table_stats.partition_lsns.items()
            if part in newest and low <= newest[part]
        }

    def _newest_lsns(self, table: str, since: str) -> dict[tuple[str, int], int]:
        uri = table_uri(self._lake_root, "bronze", table)
        if not delta_io.table_exists(self._spark, uri):
            return {}
        rows = (
            self._spark.read.format("delta")
            .load(uri)
            .where((F.col("_ingest_date") >= F.lit(since).cast("date")) & F.col("source_lsn").isNotNull())
            .groupBy("_topic", "_partition")
            .agg(F.max("source_lsn").alias("newest"))
            .collect()
        )
        return {(row["_topic"], row["_partition"]): int(row["newest"]) for row in rows}

    def _remember_written_lsns(self, table: str, table_stats: TableStats) -> None:
        newest = self._max_lsn.setdefault(table, {})
        for part, (_low, high) in table_stats.partition_lsns.items():
            newest[part] = max(newest.get(part, high), high)

    def _compact_if_due(self, announced: dict[str, list[int]]) -> None:
        every = self._bronze.compact_every_commits
        if not every:
            return
        since = (datetime.now(UTC).date() - timedelta(days=self._bronze.compact_lookback_days)).isoformat()
        due = [t for t, versions in announced.items() if any(v and v % every == 0 for v in versions)]
        for table in due:
            delta_io.compact(self._spark, table_uri(self._lake_root, "bronze", table), since)
            self._metrics.compactions.labels(table=table).inc()
        if due:
            self._announcer.announce(due)

    def _record_metrics(
        self, stats: BatchStats, duplicates: int, finished_at: datetime, elapsed: float
    ) -> None:
        m = self._metrics
        for name, table in stats.tables.items():
            for kind, n in table.kinds.items():
                m.rows.labels(table=name, kind=kind).inc(n)
            if table.duplicates:
                m.duplicates.labels(table=name).inc(table.duplicates)
        for reason, n in stats.reasons.items():
            m.quarantined.labels(reason=reason).inc(n)
        m.batches.inc()
        m.batch_rows.set(stats.input_rows)
        m.batch_duration.observe(elapsed)
        m.observe_source_commits({name: table.max_source_ts_ms for name, table in stats.tables.items()})
        if stats.max_kafka_ts is not None:
            newest = (
                stats.max_kafka_ts.replace(tzinfo=UTC)
                if stats.max_kafka_ts.tzinfo is None
                else stats.max_kafka_ts
            )
            m.lag_seconds.set(max(0.0, (finished_at - newest).total_seconds()))
        self.batch_durations.append(elapsed)
        log.info(
            "bronze batch: %d rows, %d quarantined, %d duplicates in %.2fs (%s)",
            stats.input_rows,
            stats.kinds.get("quarantine", 0),
            duplicates,
            elapsed,
            ", ".join(f"{t}={s.rows}" for t, s in sorted(stats.tables.items())),
        )
