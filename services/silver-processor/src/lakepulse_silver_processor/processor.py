"""One table batch, bronze versions ``(a, b]`` → silver, in a crash-safe order of Delta commits.

Order of writes (each one idempotent on its own): quarantine, newly held changes, delete markers,
SCD2 history, then the silver MERGE carrying the ``(lakepulse-silver:<table>, b)`` transaction id —
the commit that marks the range applied — then the release of held changes it applied, and the
quality row. A crash before the silver commit replays the range; everything before it re-merges to
the same rows. A batch with no new bronze data (``a == b``) only retries held changes.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakepulse_common.errors import LakePulseError
from lakepulse_common.progress import silver_app_id
from lakepulse_common.spark import (
    CODEGEN_FACTORY_MODE,
    interpreted_expressions,
    release_materialized,
    session_conf,
)
from lakepulse_silver_processor import lake, merge, quarantine, transactions
from lakepulse_silver_processor.changes import (
    cast_error_columns,
    decode_changes,
    key_field_sets,
    profile_bronze,
    schema_problems,
    stage,
)
from lakepulse_silver_processor.cleansing import NULL_KEY_RULE, cleanse
from lakepulse_silver_processor.config import SilverSettings
from lakepulse_silver_processor.expectations import EXPECTATIONS, PARENTS, evaluate, mark_missing_parents
from lakepulse_silver_processor.metrics import BatchStats, SilverMetrics
from lakepulse_silver_processor.reader import BronzeReader
from lakepulse_silver_processor.schemas import HISTORY_TABLES, TABLES, TableSchema
from lakepulse_silver_processor.sinks import PRIMARY_KEY_PROPERTY, SilverTables

log = logging.getLogger(__name__)


class ExpectationFailed(LakePulseError):
    """A ``fail`` expectation was broken: nothing of the batch is committed."""


class SilverProcessor:
    def __init__(
        self, spark: SparkSession, lake_root: str, settings: SilverSettings, metrics: SilverMetrics
    ) -> None:
        self.spark = spark
        self.lake_root = lake_root
        self.settings = settings
        self.metrics = metrics
        self.bronze = BronzeReader(spark, lake_root)
        self.tables = SilverTables(spark, lake_root, settings)
        self.paused: dict[str, list[str]] = {}
        self._commits_since_optimize: dict[str, int] = {}

    def uri(self, table: str) -> str:
        return self.tables.uri(table)

    def broadcasts_merge_source(self, source_rows: int, uri: str) -> bool:
        """Whether a MERGE of ``source_rows`` into the table at ``uri`` broadcasts its source.

        Broadcasting spares the join that finds the touched files a shuffle of the target's keys,
        which pays only when the target is larger than a file or two (docs/silver-processor.md, Layout).
        """
        settings = self.settings
        return source_rows <= settings.merge_broadcast_max_rows and (
            lake.size_in_bytes(self.spark, uri) > settings.merge_broadcast_min_target_bytes
        )

    def applied_version(self, table: str) -> int:
        return lake.applied_version(self.spark, self.uri(table), silver_app_id(table))

    def bronze_latest(self, table: str) -> int:
        return self.bronze.latest_version(table)

    def apply(self, table: str, up_to: int | None = None, *, retry_held: bool = False) -> list[BatchStats]:
        """Bring ``table`` to bronze version ``up_to`` (default: the latest); returns one stats per batch."""
        schema = TABLES.get(table)
        if schema is None or table in self.paused:
            return []
        latest = self.bronze_latest(table)
        target = latest if up_to is None else min(up_to, latest)
        done = self.applied_version(table)
        results: list[BatchStats] = []
        while done < target:
            end = min(target, done + self.settings.max_bronze_versions_per_batch)
            stats = self._apply_range(table, schema, done, end)
            if stats is None:
                return results
            results.append(stats)
            done = end
        if retry_held and not results and self.has_held(table):
            stats = self._apply_range(table, schema, done, done)
            if stats is not None:
                results.append(stats)
        return results

    def has_held(self, table: str) -> bool:
        uri = self.uri(quarantine.HELD_TABLE)
        if not lake.table_exists(self.spark, uri):
            return False
        return lake.read(self.spark, uri).where(F.col("table") == table).limit(1).count() > 0

    # --- one batch ---------------------------------------------------------------------------------

    def _apply_range(self, table: str, schema: TableSchema, start: int, end: int) -> BatchStats | None:
        """One batch; a small one (``interpreted_max_rows``) with interpreted expressions, see
        :func:`lakepulse_common.spark.interpreted_expressions`, except for the MERGE into the table."""
        bronze = self.bronze.read_versions(table, start + 1, end) if end > start else None
        rows = 0 if bronze is None else bronze.rows
        small = rows is not None and rows <= self.settings.interpreted_max_rows
        with interpreted_expressions(self.spark, enabled=small):
            frame = self.bronze.empty() if bronze is None else bronze.frame
            return self._apply_batch(table, schema, start, end, frame)

    def _apply_batch(
        self, table: str, schema: TableSchema, start: int, end: int, bronze: DataFrame
    ) -> BatchStats | None:
        began = time.monotonic()
        stats = BatchStats(table=table, bronze_version_from=start + 1, bronze_version_to=end)
        silver_uri = self.uri(table)
        silver_schema = (
            lake.table_schema(self.spark, silver_uri) if lake.table_exists(self.spark, silver_uri) else None
        )
        staged = stage(bronze).localCheckpoint()
        seen = profile_bronze(staged)
        declared = set(schema.column_names)
        stored = {f.name for f in silver_schema.fields} if silver_schema else set()
        extras = sorted((seen.columns | stored) - declared - set(merge.SILVER_META))
        columns = [*schema.column_names, *extras]
        decoded = decode_changes(staged, schema, extras)
        if self.settings.align_transactions and end > start:
            # Before evaluating: this batch's own changes count towards their transactions.
            self.tables.record_arrivals(table, decoded, end)
        held_stored = self.tables.held_of(table)
        keys = decoded.select("_pk")
        if held_stored is not None:
            keys = keys.unionByName(held_stored.select("_pk"))
        tombstones = self.tables.tombstones_for(table, keys)
        # The newest delete per key (stored markers, or a delete in this batch): a change older than
        # it is superseded and never waits for a parent that was deleted with it.
        markers = merge.newest_markers(decoded, tombstones)
        batch = decoded
        if held_stored is not None:
            # A held change whose key was deleted later, or whose key's silver row is newer (a later
            # update was applied), leaves _held (counted as released): it could never win the MERGE.
            newer = markers
            if silver_schema is not None:
                newer = merge.newest_markers(
                    decoded, markers.unionByName(self.tables.positions_of(silver_uri, schema, held_stored))
                )
            batch = batch.unionByName(
                merge.drop_superseded(quarantine.decode_held(held_stored, decoded.schema), newer)
            )
        evaluated = self._evaluate(batch, schema, markers).localCheckpoint()
        profile = evaluated.agg(
            F.count("*").alias("rows"),
            F.sum(F.when(F.size("_toast") > 0, 1).otherwise(0)).alias("toast"),
            F.sum(F.when(F.size("_quarantine_rules") > 0, 1).otherwise(0)).alias("quarantined"),
            F.sum(F.when(F.col("_held_rule").isNotNull(), 1).otherwise(0)).alias("held"),
            F.min("_source_lsn").alias("lsn_min"),
            F.max("_source_lsn").alias("lsn_max"),
            F.max("_source_ts_ms").alias("ts_max"),
            cast_error_columns().alias("cast_errors"),
            key_field_sets().alias("key_fields"),
            F.flatten(
                F.collect_list(
                    F.concat(
                        "_quarantine_rules",
                        "_warn_rules",
                        "_fail_rules",
                        F.when(F.col("_held_rule").isNotNull(), F.array("_held_rule")).otherwise(
                            F.array().cast("array<string>")
                        ),
                    )
                )
            ).alias("broken"),
        ).first()
        assert profile is not None
        problems = schema_problems(schema, profile["cast_errors"] or [], profile["key_fields"] or [])
        problems += self._silver_problems(schema, silver_schema, silver_uri)
        if problems:
            self._pause(table, problems)
            return None
        stats.rows_in = int(profile["rows"])
        stats.quarantined = int(profile["quarantined"] or 0)
        stats.held = int(profile["held"] or 0)
        stats.lsn_min, stats.lsn_max = profile["lsn_min"], profile["lsn_max"]
        stats.source_ts_ms_max = profile["ts_max"]
        stats.rule_failures = dict(Counter(profile["broken"] or []))
        fails = sorted(r for r in stats.rule_failures if self._action_of(table, r) == "fail")
        if fails:
            raise ExpectationFailed(
                f"{table}: rows broke fail expectations {fails} (bronze {start + 1}..{end})"
            )
        truncates = list(seen.truncates)

        accepted = evaluated.where((F.size("_quarantine_rules") == 0) & F.col("_held_rule").isNull())
        if truncates:
            accepted = merge.drop_before(accepted, truncates[-1].lsn)
        accepted = merge.drop_superseded(accepted, tombstones)
        if profile["toast"]:
            # Only a batch with TOAST placeholders needs the per-column window that fills them.
            current = self.tables.current_of(silver_uri, schema, accepted, columns) if silver_schema else None
            accepted = merge.resolve_toast(accepted, columns, current)
        accepted = accepted.localCheckpoint()
        latest = merge.latest_per_key(accepted)

        counts = latest.agg(
            F.sum(F.when(F.col("_op") == "d", 1).otherwise(0)).alias("deletes"),
            F.count("*").alias("all"),
        ).first()
        assert counts is not None
        stats.deletes = int(counts["deletes"] or 0)
        stats.upserts = int(counts["all"]) - stats.deletes

        if stats.quarantined:
            self.tables.write_quarantine(table, evaluated, columns, start + 1, end)
        if stats.held:
            self.metrics.held.labels(table).set(
                self.tables.write_held(table, evaluated, decoded.columns, end)
            )
        if stats.deletes or truncates:  # a stale marker is harmless: positions still decide
            self.tables.write_tombstones(table, latest, truncates)
        if table in HISTORY_TABLES:
            self.tables.write_history(table, schema, accepted, columns, truncates)
        self.tables.ensure_silver(table, schema, extras)
        if truncates:
            merge.truncate_current(self.spark, silver_uri, truncates[-1].lsn)
        source = merge.silver_rows(latest, columns, end)
        broadcast = self.broadcasts_merge_source(int(counts["all"]), silver_uri)

        def merge_into_current() -> None:
            # The MERGE rewrites whole target files (up to ``target_file_size_bytes`` each) however
            # small the batch: compiled expressions, 1.19x faster on 100k-row files than interpreted.
            with session_conf(self.spark, {CODEGEN_FACTORY_MODE: "FALLBACK"}):
                merge.merge_current(
                    self.spark,
                    silver_uri,
                    source,
                    schema.primary_key,
                    columns,
                    broadcast_source=broadcast,
                )

        if end > start:
            before = lake.latest_version(self.spark, silver_uri)
            with lake.commit_markers(self.spark, app_id=silver_app_id(table), txn_version=end):
                merge_into_current()
            if lake.latest_version(self.spark, silver_uri) == before:
                # Nothing changed, so the MERGE committed nothing: record the range with an empty append.
                empty = self.spark.createDataFrame([], lake.table_schema(self.spark, silver_uri))
                lake.append_once(empty, silver_uri, app_id=silver_app_id(table), txn_version=end)
        elif counts["all"]:
            merge_into_current()
        if held_stored is not None:
            released = held_stored.join(
                evaluated.where(F.col("_held_rule").isNotNull()).select("_pk", "_source_lsn", "_source_seq"),
                ["_pk", "_source_lsn", "_source_seq"],
                "left_anti",
            )
            stats.released = released.count()
            if stats.released:
                quarantine.release_held(self.spark, self.uri(quarantine.HELD_TABLE), released, table)
        stats.silver_version = lake.latest_version(self.spark, silver_uri)
        stats.duration_s = time.monotonic() - began
        self.tables.write_quality(stats, new_data=end > start)
        self.metrics.record(stats, {r.name: r.action.value for r in EXPECTATIONS.get(table, ())})
        self._maybe_optimize(table)
        for frame in (staged, evaluated, accepted, tombstones):
            if frame is not None:
                release_materialized(frame)
        log.info(
            "silver %s@%s: bronze %d..%d, %d in, %d upserts, %d deletes, %d quarantined, %d held,"
            " %d released",
            table,
            stats.silver_version,
            start + 1,
            end,
            stats.rows_in,
            stats.upserts,
            stats.deletes,
            stats.quarantined,
            stats.held,
            stats.released,
        )
        return stats

    # --- helpers -----------------------------------------------------------------------------------

    def _evaluate(self, batch: DataFrame, schema: TableSchema, markers: DataFrame) -> DataFrame:
        evaluated = self._hold_missing_parents(batch, schema, markers)
        if not self.settings.align_transactions:
            return evaluated
        ends, arrivals = self.tables.transaction_state()
        wanted = batch.where(F.col(transactions.TRANSACTION_COLUMN).isNotNull())
        complete = transactions.complete_transactions(wanted, ends, arrivals)
        return transactions.mark_incomplete(evaluated, complete)

    def tables_with_releasable_transactions(self) -> list[str]:
        if not self.settings.align_transactions:
            return []
        return self.tables.tables_with_releasable_transactions()

    def _hold_missing_parents(self, batch: DataFrame, schema: TableSchema, markers: DataFrame) -> DataFrame:
        """Mark ``_held_rule`` on upserts whose parent row is missing, unless a newer delete of the key
        supersedes them: an order's lines updated and then deleted with the order would otherwise be
        held (the order is gone) only to be released as superseded by the next batch."""
        evaluated = evaluate(cleanse(batch, schema), schema, EXPECTATIONS.get(schema.name, ()))
        rules = PARENTS.get(schema.name, ())
        if not rules or not self.settings.hold_missing_parents:
            return evaluated.withColumn("_held_rule", F.lit(None).cast("string"))
        parent_keys: dict[str, DataFrame | None] = {}
        for rule in rules:
            parent_uri = self.uri(rule.parent_table)
            if not lake.table_exists(self.spark, parent_uri):
                parent_keys[rule.name] = None
                continue
            wanted = batch.select(F.col(rule.column).alias("_parent_key")).distinct()
            parent_keys[rule.name] = (
                lake.read(self.spark, parent_uri)
                .select(F.col(rule.parent_column).alias("_parent_key"))
                .join(F.broadcast(wanted), "_parent_key", "left_semi")
            )
        marked = mark_missing_parents(
            evaluated, rules, parent_keys, hold_snapshot_rows=self.settings.hold_snapshot_rows
        )
        flagged = merge.flag_superseded(marked, markers)
        not_held = F.col("_superseded") | F.col("_held_rule").isNull()
        return flagged.withColumn(
            "_held_rule", F.when(not_held, F.lit(None).cast("string")).otherwise(F.col("_held_rule"))
        ).drop("_superseded")

    @staticmethod
    def _action_of(table: str, rule: str) -> str:
        if rule == NULL_KEY_RULE:
            return "quarantine"
        for expectation in EXPECTATIONS.get(table, ()):
            if expectation.name == rule:
                return expectation.action.value
        return "hold"

    def _silver_problems(self, schema: TableSchema, silver: T.StructType | None, uri: str) -> list[str]:
        if silver is None:
            return []
        problems: list[str] = []
        stored = {f.name: f.dataType for f in silver.fields}
        for column in schema.columns:
            if column.name in stored and stored[column.name] != column.spark_type:
                problems.append(
                    f"column {column.name}: silver has {stored[column.name].simpleString()},"
                    f" declared {column.spark_type.simpleString()}"
                )
        key = lake.table_property(self.spark, uri, PRIMARY_KEY_PROPERTY)
        if key is not None and key != ",".join(schema.primary_key):
            problems.append(
                f"primary key changed: silver has ({key}), declared ({','.join(schema.primary_key)})"
            )
        return problems

    def _pause(self, table: str, problems: list[str]) -> None:
        log.error("silver %s paused: %s", table, "; ".join(problems))
        self.paused[table] = problems
        self.metrics.paused.labels(table).set(1)
        self.metrics.errors.labels("table_paused").inc()

    def _maybe_optimize(self, table: str) -> None:
        every = self.settings.optimize_every_commits
        if not every:
            return
        count = self._commits_since_optimize.get(table, 0) + 1
        if count >= every:
            self.tables.optimize(table, TABLES[table])
            count = 0
        self._commits_since_optimize[table] = count
