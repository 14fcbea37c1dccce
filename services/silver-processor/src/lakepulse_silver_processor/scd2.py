"""SCD type 2 history (``silver/<table>_history``) for the tables in ``HISTORY_TABLES``.

Every accepted change becomes one version row keyed by ``(_pk, _source_lsn, _source_seq)``;
``valid_from`` is the source commit time, ``valid_to`` the next version's ``valid_from`` (null for
the newest), ``is_current`` is true for the newest version of a key that is not deleted. A delete
(or a truncate) is a version too, with ``_op = 'd'`` and ``is_current = false``: it closes the
previous version. For the keys a batch touches, their stored versions and the new ones are ordered
together and re-linked, so a late (out-of-order) change lands in its place, and re-applying a batch
produces the same rows. The current rows of history equal the current-state table.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakepulse_common.storage import for_spark

HISTORY_META = ("_pk", "_op", "_source_lsn", "_source_seq", "valid_from", "valid_to", "is_current")


def history_table_name(table: str) -> str:
    return f"{table}_history"


def history_schema(business: T.StructType) -> T.StructType:
    meta = [
        T.StructField("_pk", T.StringType()),
        T.StructField("_op", T.StringType()),
        T.StructField("_source_lsn", T.LongType()),
        T.StructField("_source_seq", T.LongType()),
        T.StructField("valid_from", T.TimestampType()),
        T.StructField("valid_to", T.TimestampType()),
        T.StructField("is_current", T.BooleanType()),
    ]
    return T.StructType([*business.fields, *meta])


def versions(changes: DataFrame, columns: Sequence[str]) -> DataFrame:
    """One version row per change (TOAST already resolved), not yet linked."""
    return changes.select(
        *(F.col(c) for c in columns),
        "_pk",
        F.when(F.col("_op") == "d", F.lit("d")).otherwise(F.col("_op")).alias("_op"),
        "_source_lsn",
        "_source_seq",
        F.timestamp_millis(F.col("_source_ts_ms")).alias("valid_from"),
        F.lit(None).cast("timestamp").alias("valid_to"),
        F.lit(None).cast("boolean").alias("is_current"),
    )


def truncate_versions(stored: DataFrame, lsn: int, ts_ms: int) -> DataFrame:
    """Delete versions closing every key that was live before a truncate at ``lsn``."""
    live = stored.where(F.col("is_current") & (F.col("_source_lsn") < F.lit(lsn)))
    return live.select(
        *(F.col(c) for c in stored.columns if c not in HISTORY_META),
        "_pk",
        F.lit("d").alias("_op"),
        F.lit(lsn).cast("long").alias("_source_lsn"),
        F.lit(0).cast("long").alias("_source_seq"),
        F.timestamp_millis(F.lit(ts_ms)).alias("valid_from"),
        F.lit(None).cast("timestamp").alias("valid_to"),
        F.lit(None).cast("boolean").alias("is_current"),
    )


def relink(stored: DataFrame, new_versions: DataFrame) -> DataFrame:
    """Stored versions of the touched keys plus the new ones, deduplicated and re-linked."""
    touched = new_versions.select("_pk").distinct()
    columns = new_versions.columns
    previous = stored.join(touched, "_pk", "left_semi").select(*columns)
    combined = new_versions.withColumn("_new", F.lit(1)).unionByName(previous.withColumn("_new", F.lit(0)))
    position = ["_pk", "_source_lsn", "_source_seq"]
    dedupe = Window.partitionBy(*position).orderBy(F.col("_new").asc())
    unique = (
        combined.withColumn("_rank", F.row_number().over(dedupe)).where("_rank = 1").drop("_rank", "_new")
    )
    order = Window.partitionBy("_pk").orderBy("_source_lsn", "_source_seq")
    following = F.lead("valid_from").over(order)
    return unique.withColumns(
        {"valid_to": following, "is_current": following.isNull() & (F.col("_op") != "d")}
    )


def merge_history(spark: SparkSession, uri: str, linked: DataFrame) -> None:
    """Insert new versions, update the links of stored ones whose successor changed."""
    from delta.tables import DeltaTable

    target = DeltaTable.forPath(spark, for_spark(uri))
    on = "t._pk = s._pk AND t._source_lsn = s._source_lsn AND t._source_seq = s._source_seq"
    changed = "NOT (t.valid_to <=> s.valid_to) OR NOT (t.is_current <=> s.is_current)"
    (
        target.alias("t")
        .merge(linked.alias("s"), on)
        .whenMatchedUpdate(condition=changed, set={"valid_to": "s.valid_to", "is_current": "s.is_current"})
        .whenNotMatchedInsertAll()
        .execute()
    )
