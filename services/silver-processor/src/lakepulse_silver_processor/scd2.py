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

from lakepulse_common.spark import release_materialized
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


LINK_COLUMNS = ("_pk", "_op", "_source_lsn", "_source_seq", "valid_from", "valid_to", "is_current")
# History tables are partitioned by is_current: the versions a batch of new changes re-links are the
# keys' current ones, so the MERGE reads and rewrites the current partition (about one row per key)
# instead of the whole, ever-growing history.
PARTITION_COLUMN = "is_current"


def relink(stored: DataFrame, new_versions: DataFrame) -> DataFrame:
    """The new versions, and the stored versions of the touched keys whose links change, re-linked.

    Stored versions are read by their link columns only (history rows are wide: a stock item's
    descriptions and JSON), come back with ``_stored`` true and null business columns, and are kept
    only when their ``valid_to`` or ``is_current`` changes — in order, that is the key's previous
    current version; a late change also re-links the version it lands after. A new version equal to
    a stored one (a replayed batch) stays a new version; the MERGE matches and leaves it.

    ``_current_only`` is true on a row the MERGE can find in the current partition or not at all:
    a stored version that is current, or a new version newer than every stored version of its key.
    """
    touched = new_versions.select("_pk").distinct()
    previous = stored.join(touched, "_pk", "left_semi").select(
        *LINK_COLUMNS,
        F.lit(True).alias("_stored"),
        F.col("valid_to").alias("_stored_valid_to"),
        F.col("is_current").alias("_stored_is_current"),
    )
    fresh = new_versions.withColumns(
        {
            "_stored": F.lit(False),
            "_stored_valid_to": F.lit(None).cast("timestamp"),
            "_stored_is_current": F.lit(None).cast("boolean"),
        }
    )
    combined = fresh.unionByName(previous, allowMissingColumns=True)
    position = F.struct("_source_lsn", "_source_seq")
    newest_stored = F.max(F.when(F.col("_stored"), position)).over(Window.partitionBy("_pk"))
    dedupe = Window.partitionBy("_pk", "_source_lsn", "_source_seq").orderBy(F.col("_stored").asc())
    unique = (
        combined.withColumn("_newest_stored", newest_stored)
        .withColumn("_rank", F.row_number().over(dedupe))
        .where("_rank = 1")
        .drop("_rank")
    )
    order = Window.partitionBy("_pk").orderBy("_source_lsn", "_source_seq")
    following = F.lead("valid_from").over(order)
    linked = unique.withColumns(
        {"valid_to": following, "is_current": following.isNull() & (F.col("_op") != "d")}
    )
    relinked = ~F.col("_stored_valid_to").eqNullSafe(F.col("valid_to")) | ~F.col(
        "_stored_is_current"
    ).eqNullSafe(F.col("is_current"))
    appended = F.col("_newest_stored").isNull() | (position > F.col("_newest_stored"))
    current_only = F.when(F.col("_stored"), F.col("_stored_is_current")).otherwise(appended)
    return (
        linked.where(~F.col("_stored") | relinked)
        .withColumn("_current_only", F.coalesce(current_only, F.lit(False)))
        .drop("_stored_valid_to", "_stored_is_current", "_newest_stored")
    )


def merge_history(spark: SparkSession, uri: str, linked: DataFrame, columns: Sequence[str]) -> None:
    """Insert new versions (``columns``: the history table's), update the links of stored ones.

    When every row of ``linked`` is ``_current_only`` (changes arriving in order), the MERGE is
    restricted to the current partition; a late or replayed change makes it search the whole table.
    """
    from delta.tables import DeltaTable

    source = linked.localCheckpoint()
    flags = source.agg(
        F.count("*").alias("rows"), F.min(F.col("_current_only").cast("int")).alias("only")
    ).first()
    assert flags is not None  # an aggregation without grouping always returns one row
    if not flags["rows"]:
        return
    target = DeltaTable.forPath(spark, for_spark(uri))
    on = "t._pk = s._pk AND t._source_lsn = s._source_lsn AND t._source_seq = s._source_seq"
    if flags["only"] == 1:
        on += f" AND t.{PARTITION_COLUMN} = true"
    changed = "NOT (t.valid_to <=> s.valid_to) OR NOT (t.is_current <=> s.is_current)"
    (
        target.alias("t")
        .merge(source.alias("s"), on)
        .whenMatchedUpdate(condition=changed, set={"valid_to": "s.valid_to", "is_current": "s.is_current"})
        .whenNotMatchedInsert(condition="NOT s._stored", values={f"`{c}`": f"s.`{c}`" for c in columns})
        .execute()
    )
    release_materialized(source)
