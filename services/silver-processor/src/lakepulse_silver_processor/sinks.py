"""The silver lake's tables: where they live, how they are created, and the writes besides the MERGE.

Auxiliary tables (``_quarantine``, ``_held``, ``_tombstones``, ``_quality``, ``<table>_history``) are
created on first use; new columns are added with ``ALTER TABLE ADD COLUMNS``. Every write here is a
MERGE keyed by source position (or a tagged append, see ``lake.append_once``), so re-applying a batch
adds nothing twice.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakepulse_common.commit_ledger import CLOCK_MARGIN_MS, CommitLedger
from lakepulse_common.control_events import Layer
from lakepulse_common.progress import BRONZE_TRANSACTIONS_TABLE
from lakepulse_common.storage import for_spark, table_uri
from lakepulse_silver_processor import lake, merge, quarantine, scd2, transactions
from lakepulse_silver_processor.changes import Truncate, pk_json
from lakepulse_silver_processor.config import SilverSettings
from lakepulse_silver_processor.metrics import QUALITY_TABLE, BatchStats, quality_row
from lakepulse_silver_processor.schemas import TableSchema

TOMBSTONES_TABLE = "_tombstones"
PRIMARY_KEY_PROPERTY = "lakepulse.primary_key"
TOMBSTONE_SCHEMA = T.StructType(
    [
        T.StructField("table", T.StringType()),
        T.StructField("_pk", T.StringType()),
        T.StructField("_source_lsn", T.LongType()),
        T.StructField("_source_seq", T.LongType()),
        T.StructField("_marked_at", T.TimestampType()),
    ]
)
SILVER_META_SCHEMA = T.StructType(
    [
        T.StructField("_source_lsn", T.LongType()),
        T.StructField("_source_seq", T.LongType()),
        T.StructField("_source_ts", T.TimestampType()),
        T.StructField("_bronze_version", T.LongType()),
        T.StructField("_updated_at", T.TimestampType()),
    ]
)


# Tables only ever appended to and never read whole by a batch: a Delta checkpoint (written inside the
# commit that reaches the interval, ~2.5 s in a bronze batch) is paid every 100 commits, not every 10.
# Tables a batch scans (current state, markers, held changes) keep Delta's 10: each read replays the
# JSON commits since the last checkpoint (gold's A/B, docs/gold-builder.md).
APPEND_ONLY_LOG_PROPERTIES = {"delta.checkpointInterval": "100"}


class SilverTables:
    def __init__(self, spark: SparkSession, lake_root: str, settings: SilverSettings) -> None:
        self.spark = spark
        self.lake_root = lake_root
        self.settings = settings
        self.ledger = CommitLedger(spark)

    def uri(self, table: str) -> str:
        return table_uri(self.lake_root, Layer.SILVER, table)

    def bronze_uri(self, table: str) -> str:
        return table_uri(self.lake_root, Layer.BRONZE, table)

    def optimize(self, table: str, schema: TableSchema) -> None:
        lake.optimize(
            self.spark, self.uri(table), self.settings.target_file_size_bytes, zorder_by=schema.primary_key
        )
        self.prune_tombstones(table)
        self.prune_arrivals(table)

    def held_of(self, table: str) -> DataFrame | None:
        uri = self.uri(quarantine.HELD_TABLE)
        if not lake.table_exists(self.spark, uri):
            return None
        held = lake.read(self.spark, uri).where(F.col("table") == table).localCheckpoint()
        return held if held.count() else None

    def tombstones_of(self, table: str) -> DataFrame | None:
        uri = self.uri(TOMBSTONES_TABLE)
        if not lake.table_exists(self.spark, uri):
            return None
        return lake.read(self.spark, uri).where(F.col("table") == table)

    def tombstones_for(self, table: str, keys: DataFrame) -> DataFrame | None:
        """The markers that can matter to a batch: its keys' delete markers and the truncate marker.

        A batch consults markers several times (superseded held changes, holds, the MERGE source), so
        they are read once, narrowed to the batch's keys and kept; ``keys`` has a ``_pk`` column.
        """
        stored = self.tombstones_of(table)
        if stored is None:
            return None
        truncate = self.spark.createDataFrame([(merge.TRUNCATE_KEY,)], "_pk STRING")
        wanted = keys.select("_pk").distinct().unionByName(truncate)
        return stored.join(F.broadcast(wanted), "_pk", "left_semi").localCheckpoint()

    def positions_of(self, uri: str, schema: TableSchema, keys: DataFrame) -> DataFrame:
        """The source position of the silver rows of ``keys`` (a ``_pk`` column), as ``_pk`` rows."""
        wanted = keys.select("_pk").distinct()
        rows = lake.read(self.spark, uri).select(
            pk_json(schema.primary_key).alias("_pk"), "_source_lsn", "_source_seq"
        )
        return rows.join(F.broadcast(wanted), "_pk", "left_semi")

    def current_of(self, uri: str, schema: TableSchema, changes: DataFrame, columns: list[str]) -> DataFrame:
        """Silver rows of the keys whose changes carry TOAST placeholders (new columns as null)."""
        keys = changes.where(F.size("_toast") > 0).select(*schema.primary_key).distinct()
        current = lake.read(self.spark, uri).join(F.broadcast(keys), list(schema.primary_key), "left_semi")
        present = set(current.columns)
        return current.select(
            *(F.col(c) if c in present else F.lit(None).cast("string").alias(c) for c in columns),
            pk_json(schema.primary_key).alias("_pk"),
        )

    def ensure(
        self,
        uri: str,
        schema: T.StructType,
        partition_by: tuple[str, ...] = (),
        properties: dict[str, str] | None = None,
    ) -> None:
        if not lake.table_exists(self.spark, uri):
            lake.create_table(self.spark, uri, schema, partition_by=partition_by, properties=properties)
        else:
            lake.add_missing_columns(self.spark, uri, schema)

    def silver_struct(self, schema: TableSchema, extras: list[str]) -> T.StructType:
        fields = [*schema.struct().fields, *(T.StructField(e, T.StringType()) for e in extras)]
        return T.StructType([*fields, *SILVER_META_SCHEMA.fields])

    def ensure_silver(self, table: str, schema: TableSchema, extras: list[str]) -> None:
        properties = {
            "delta.enableDeletionVectors": str(self.settings.deletion_vectors).lower(),
            "delta.enableChangeDataFeed": str(self.settings.change_data_feed).lower(),
            PRIMARY_KEY_PROPERTY: ",".join(schema.primary_key),
        }
        self.ensure(self.uri(table), self.silver_struct(schema, extras), properties=properties)

    def write_quarantine(
        self, table: str, evaluated: DataFrame, columns: list[str], start: int, end: int
    ) -> None:
        uri = self.uri(quarantine.QUARANTINE_TABLE)
        self.ensure(uri, quarantine.QUARANTINE_SCHEMA, ("table",))
        rows = quarantine.quarantine_rows(evaluated, table, columns, start, end)
        quarantine.merge_quarantine(self.spark, uri, rows, table)

    def write_held(self, table: str, evaluated: DataFrame, payload_columns: list[str], end: int) -> int:
        """Add newly held changes; returns how many changes of the table are held now."""
        uri = self.uri(quarantine.HELD_TABLE)
        self.ensure(uri, quarantine.HELD_SCHEMA, ("table",))
        quarantine.merge_held(
            self.spark, uri, quarantine.held_rows(evaluated, table, payload_columns, end), table
        )
        return self.count_held(table)

    def count_held(self, table: str) -> int:
        return lake.read(self.spark, self.uri(quarantine.HELD_TABLE)).where(F.col("table") == table).count()

    def write_tombstones(self, table: str, latest: DataFrame, truncates: list[Truncate]) -> None:
        uri = self.uri(TOMBSTONES_TABLE)
        self.ensure(uri, TOMBSTONE_SCHEMA, ("table",))
        rows = merge.tombstone_rows(latest, table)
        if truncates:
            marker = self.spark.createDataFrame(
                [(table, merge.TRUNCATE_KEY, truncates[-1].lsn, 0, "d")],
                "table STRING, _pk STRING, _source_lsn BIGINT, _source_seq BIGINT, _op STRING",
            ).withColumn("_marked_at", F.current_timestamp())
            rows = rows.unionByName(marker)
        merge.merge_tombstones(self.spark, uri, rows, table)

    def write_history(
        self,
        table: str,
        schema: TableSchema,
        accepted: DataFrame,
        columns: list[str],
        truncates: list[Truncate],
    ) -> None:
        uri = self.uri(scd2.history_table_name(table))
        business = T.StructType(
            [
                f
                for f in self.silver_struct(schema, columns[len(schema.columns) :]).fields
                if f.name not in merge.SILVER_META
            ]
        )
        history = scd2.history_schema(business)
        self.ensure(uri, history, (scd2.PARTITION_COLUMN,))
        stored = lake.read(self.spark, uri).select(*history.fieldNames())
        new_versions = scd2.versions(accepted, columns)
        for truncate in truncates:
            new_versions = new_versions.unionByName(
                scd2.truncate_versions(stored, truncate.lsn, truncate.ts_ms)
            )
        linked = scd2.relink(stored, new_versions)
        scd2.merge_history(self.spark, uri, linked, history.fieldNames())

    def write_quality(self, stats: BatchStats, *, new_data: bool) -> None:
        uri = self.uri(QUALITY_TABLE)
        row = quality_row(self.spark, stats)
        self.ensure(uri, row.schema, ("table",), properties=APPEND_ONLY_LOG_PROPERTIES)
        if not new_data:
            lake.append_once(row, uri, app_id=None, txn_version=None)
            return
        lake.append_once(
            row,
            uri,
            app_id=f"lakepulse-silver-quality:{stats.table}",
            txn_version=stats.bronze_version_to,
            ledger=self.ledger,
            not_before_ms=self._not_before_ms(stats.table, stats.bronze_version_to),
        )

    def record_arrivals(self, table: str, changes: DataFrame, end: int) -> None:
        """Count the transactions' changes in newly read bronze rows (once per bronze range)."""
        uri = self.uri(transactions.ARRIVALS_TABLE)
        self.ensure(uri, transactions.ARRIVALS_SCHEMA, ("table",))
        rows = transactions.arrival_rows(changes, table, end)
        lake.append_once(
            rows,
            uri,
            app_id=transactions.arrivals_app_id(table),
            txn_version=end,
            ledger=self.ledger,
            not_before_ms=self._not_before_ms(table, end),
        )

    def _not_before_ms(self, table: str, bronze_version: int) -> int | None:
        """No write for bronze ``table`` up to ``bronze_version`` predates that version's commit."""
        committed = lake.commit_timestamp_ms(self.spark, self.bronze_uri(table), bronze_version)
        return None if committed is None else committed - CLOCK_MARGIN_MS

    def transaction_state(self) -> tuple[DataFrame | None, DataFrame | None]:
        """Recent bronze END events and silver arrival counts (None while a table does not exist)."""
        since = F.current_timestamp() - F.expr(f"INTERVAL {self.settings.transaction_lookback_days} DAYS")
        ends_uri = table_uri(self.lake_root, Layer.BRONZE, BRONZE_TRANSACTIONS_TABLE)
        ends = (
            lake.read(self.spark, ends_uri).where(F.col("_ingest_date") >= F.to_date(since))
            if lake.table_exists(self.spark, ends_uri)
            else None
        )
        arrivals_uri = self.uri(transactions.ARRIVALS_TABLE)
        arrivals = (
            lake.read(self.spark, arrivals_uri).where(F.col("recorded_at") >= since)
            if lake.table_exists(self.spark, arrivals_uri)
            else None
        )
        return ends, arrivals

    def tables_with_releasable_transactions(self) -> list[str]:
        """Tables holding changes whose transaction has become complete since they were held.

        One job over the held changes instead of a retry of every waiting table after every commit.
        """
        uri = self.uri(quarantine.HELD_TABLE)
        if not lake.table_exists(self.spark, uri):
            return []
        column = transactions.TRANSACTION_COLUMN
        held = (
            lake.read(self.spark, uri)
            .where(F.col("rule") == transactions.INCOMPLETE_RULE)
            .select("table", F.get_json_object("payload", f"$.{column}").alias(column))
        )
        ends, arrivals = self.transaction_state()
        complete = transactions.complete_transactions(held, ends, arrivals)
        releasable = held.join(F.broadcast(complete), column, "left_semi").select("table").distinct()
        return sorted(row["table"] for row in releasable.collect())

    def prune_arrivals(self, table: str) -> None:
        """Arrival counts are needed only as long as END events are consulted."""
        from delta.tables import DeltaTable

        uri = self.uri(transactions.ARRIVALS_TABLE)
        if not lake.table_exists(self.spark, uri):
            return
        cutoff = F.current_timestamp() - F.expr(f"INTERVAL {self.settings.transaction_lookback_days} DAYS")
        DeltaTable.forPath(self.spark, for_spark(uri)).delete(
            (F.col("table") == table) & (F.col("recorded_at") < cutoff)
        )

    def prune_tombstones(self, table: str) -> None:
        """Delete markers outlive any plausible late duplicate only for ``tombstone_retention_hours``."""
        from delta.tables import DeltaTable

        uri = self.uri(TOMBSTONES_TABLE)
        if not lake.table_exists(self.spark, uri):
            return
        cutoff = F.current_timestamp() - F.expr(
            f"INTERVAL {int(self.settings.tombstone_retention_hours * 3600)} SECONDS"
        )
        DeltaTable.forPath(self.spark, for_spark(uri)).delete(
            (F.col("table") == table) & (F.col("_marked_at") < cutoff)
        )
