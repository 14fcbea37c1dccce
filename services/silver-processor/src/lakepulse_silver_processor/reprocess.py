"""Reprocess: rebuild a silver table from bronze, then bring the live table to the rebuilt state.

The state of a key depends on its whole change history (positions, deletes, TOAST fill, truncates),
so the rebuild always replays bronze from its first version up to the version the live table has
applied — with the processor's own code, into a staging lake under ``<lake root>/_reprocess/<job>``
(bronze, and parent tables that are not rebuilt themselves, are read from the live lake). The live
table is then *synchronised* to the staged one with one MERGE per table:

* a key whose rebuilt row differs (business columns or source position) is updated,
* a key only the rebuild has is inserted, a key only the live table has is deleted,
* a key whose row is the same is not touched (``_bronze_version`` and ``_updated_at`` say when the
  live row was written and are not compared).

So reprocessing unchanged input changes nothing (no commit at all), and a re-delivered command is a
no-op. ``from_bronze_version = v`` limits the synchronisation to the keys that have a change in
bronze versions ``v..applied`` (all keys when that range holds a truncate). SCD2 history tables are
synchronised the same way on ``(_pk, _source_lsn, _source_seq)``; quarantine rows found by the rebuild
are added (never removed). Each table that changed is announced with a silver commit event, so gold
follows through its usual incremental path (the MERGE writes the change data feed).

Limits: delete markers pruned from ``_tombstones`` are not known to the live table, so a late change
they would have dropped may differ; a child whose parent has since been deleted is held by the
rebuild (the parent check sees today's parents) and therefore removed from the live table.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakepulse_common.control_events import Layer
from lakepulse_common.errors import LakePulseError
from lakepulse_common.spark import java_class
from lakepulse_common.storage import for_spark, table_uri
from lakepulse_silver_processor import lake, quarantine, scd2
from lakepulse_silver_processor.changes import TRUNCATE_OP, decode_changes, pk_json, stage
from lakepulse_silver_processor.config import SilverSettings
from lakepulse_silver_processor.metrics import SilverMetrics
from lakepulse_silver_processor.processor import SilverProcessor
from lakepulse_silver_processor.reader import BronzeReader
from lakepulse_silver_processor.schemas import HISTORY_TABLES, TABLES
from lakepulse_silver_processor.sinks import SilverTables

log = logging.getLogger(__name__)

STAGING_DIR = "_reprocess"
NOT_COMPARED = frozenset({"_bronze_version", "_updated_at"})
HISTORY_MATCH = ("_pk", "_source_lsn", "_source_seq")


class ReprocessError(LakePulseError):
    """The rebuild could not produce a table (paused on a schema problem, a ``fail`` expectation)."""


def staging_root(lake_root: str, job_id: str) -> str:
    return f"{lake_root.rstrip('/')}/{STAGING_DIR}/{re.sub(r'[^A-Za-z0-9_-]', '_', job_id)}"


class StagedProcessor(SilverProcessor):
    """The silver processor writing into a staging lake.

    Bronze is read from the live lake, and so are the parent tables of the expectations that are not
    rebuilt in the same job; everything the processor writes lands under the staging root.
    """

    def __init__(
        self,
        spark: SparkSession,
        live_root: str,
        staging: str,
        rebuilt: Sequence[str],
        settings: SilverSettings,
    ) -> None:
        quiet = settings.model_copy(update={"optimize_every_commits": 0, "change_data_feed": False})
        super().__init__(spark, staging, quiet, SilverMetrics())
        self.bronze = BronzeReader(spark, live_root)
        self._live = SilverTables(spark, live_root, settings)
        self._rebuilt = frozenset(rebuilt)

    def uri(self, table: str) -> str:
        if table in TABLES and table not in self._rebuilt:
            return self._live.uri(table)
        return super().uri(table)


@dataclass
class SyncResult:
    """What one MERGE did to one live table."""

    table: str
    version: int | None = None  # the new version, None when nothing changed
    inserted: int = 0
    updated: int = 0
    deleted: int = 0


@dataclass
class TableReprocess:
    table: str
    applied: int
    scope_keys: int | None  # None: every key
    synced: list[SyncResult] = field(default_factory=list)

    @property
    def changed(self) -> list[SyncResult]:
        return [s for s in self.synced if s.version is not None]


def _same(columns: Sequence[str]) -> str:
    return " AND ".join(f"t.`{c}` <=> s.`{c}`" for c in columns) or "true"


def sync_table(
    spark: SparkSession,
    uri: str,
    staged: DataFrame,
    match: Sequence[str],
    pk: Column | None,
    scope: DataFrame | None,
) -> SyncResult:
    """MERGE the live table at ``uri`` to ``staged`` for the keys in ``scope`` (all keys when None).

    ``pk`` computes the key's ``_pk`` text from a row (None when the table has a ``_pk`` column).
    """
    from delta.tables import DeltaTable

    lake.add_missing_columns(spark, uri, staged.schema)
    key = pk if pk is not None else F.col("_pk")
    live = lake.read(spark, uri)
    upserts = staged.withColumn("_scope_pk", key)
    current = live.withColumn("_scope_pk", key)
    if scope is not None:
        keys = scope.select(F.col("_pk").alias("_scope_pk")).distinct()
        upserts = upserts.join(keys, "_scope_pk", "left_semi")
        current = current.join(keys, "_scope_pk", "left_semi")
    compared = [c for c in staged.columns if c not in NOT_COMPARED]
    # Only rows that differ go into the MERGE: Delta commits a MERGE that matched rows even when no
    # clause applied, and an unchanged table must not get a new version.
    same = [F.col(f"s.`{c}`").eqNullSafe(F.col(f"t.`{c}`")) for c in compared]
    differing = upserts.drop("_scope_pk").alias("s").join(current.alias("t"), same, "left_anti")
    gone = current.select(*match).join(staged.select(*match), list(match), "left_anti")
    source = differing.withColumn("_sync", F.lit("upsert"))
    source = source.unionByName(gone.withColumn("_sync", F.lit("delete")), allowMissingColumns=True)
    source = source.localCheckpoint()
    result = SyncResult(table=uri.rstrip("/").rsplit("/", 1)[-1])
    if source.isEmpty():
        return result
    assignments: dict[str, str | Column] = {f"`{c}`": f"s.`{c}`" for c in staged.columns}
    before = lake.latest_version(spark, uri)
    (
        DeltaTable.forPath(spark, for_spark(uri))
        .alias("t")
        .merge(source.alias("s"), " AND ".join(f"t.`{c}` = s.`{c}`" for c in match))
        .whenMatchedDelete(condition="s._sync = 'delete'")
        .whenMatchedUpdate(condition=f"s._sync = 'upsert' AND NOT ({_same(compared)})", set=assignments)
        .whenNotMatchedInsert(condition="s._sync = 'upsert'", values=assignments)
        .execute()
    )
    after = lake.latest_version(spark, uri)
    if after != before:
        metrics = DeltaTable.forPath(spark, for_spark(uri)).history(1).first()
        counts = dict(metrics["operationMetrics"] or {}) if metrics is not None else {}
        result.version = after
        result.inserted = int(counts.get("numTargetRowsInserted", 0))
        result.updated = int(counts.get("numTargetRowsUpdated", 0))
        result.deleted = int(counts.get("numTargetRowsDeleted", 0))
    return result


class Reprocessor:
    """Rebuilds live silver tables for one job; the caller runs it between control-topic batches."""

    def __init__(self, processor: SilverProcessor, job_id: str, tables: Sequence[str]) -> None:
        self.live = processor
        self.spark = processor.spark
        self.job_id = job_id
        self.staging = staging_root(processor.lake_root, job_id)
        self.staged = StagedProcessor(
            self.spark, processor.lake_root, self.staging, tables, processor.settings
        )

    def __enter__(self) -> Reprocessor:
        self._remove_staging()  # leftovers of a crashed run of the same job
        return self

    def __exit__(self, *_: object) -> None:
        self._remove_staging()

    def _remove_staging(self) -> None:
        path = java_class(self.spark, "org.apache.hadoop.fs.Path")(for_spark(self.staging))
        fs = path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration())
        if fs.exists(path):
            fs.delete(path, True)

    def table(self, table: str, from_bronze_version: int | None) -> TableReprocess:
        schema = TABLES[table]
        applied = self.live.applied_version(table)
        self.staged.apply(table, applied)
        if table in self.staged.paused:
            raise ReprocessError(f"rebuild of {table} paused: {'; '.join(self.staged.paused[table])}")
        if self.staged.applied_version(table) != applied:
            raise ReprocessError(f"rebuild of {table} stopped before bronze version {applied}")
        scope = self._scope(table, from_bronze_version, applied)
        outcome = TableReprocess(table, applied, None if scope is None else scope.count())
        if outcome.scope_keys == 0:
            return outcome
        staged_rows = lake.read(self.spark, self.staged.uri(table))
        outcome.synced.append(
            sync_table(
                self.spark,
                self.live.uri(table),
                staged_rows,
                schema.primary_key,
                pk_json(schema.primary_key),
                scope,
            )
        )
        if table in HISTORY_TABLES:
            history = scd2.history_table_name(table)
            staged_history = table_uri(self.staging, Layer.SILVER, history)
            if lake.table_exists(self.spark, staged_history):
                outcome.synced.append(
                    sync_table(
                        self.spark,
                        self.live.uri(history),
                        lake.read(self.spark, staged_history),
                        HISTORY_MATCH,
                        None,
                        scope,
                    )
                )
        self._add_quarantined(table)
        return outcome

    def _scope(self, table: str, from_bronze_version: int | None, applied: int) -> DataFrame | None:
        """The keys to synchronise: None for all of them."""
        if from_bronze_version is None or from_bronze_version <= 0:
            return None
        if from_bronze_version > applied:
            return self.spark.createDataFrame([], T.StructType([T.StructField("_pk", T.StringType())]))
        bronze = stage(self.live.bronze.read_versions(table, from_bronze_version, applied).frame)
        if bronze.where(F.col("op") == TRUNCATE_OP).limit(1).count():
            return None
        return decode_changes(bronze, TABLES[table], []).select("_pk").distinct().localCheckpoint()

    def _add_quarantined(self, table: str) -> None:
        staged = table_uri(self.staging, Layer.SILVER, quarantine.QUARANTINE_TABLE)
        if not lake.table_exists(self.spark, staged):
            return
        rows = lake.read(self.spark, staged).where(F.col("table") == table)
        if not rows.limit(1).count():
            return
        live = self.live.uri(quarantine.QUARANTINE_TABLE)
        self.live.tables.ensure(live, quarantine.QUARANTINE_SCHEMA, ("table",))
        quarantine.merge_quarantine(
            self.spark, live, rows.select(*quarantine.QUARANTINE_SCHEMA.fieldNames()), table
        )
