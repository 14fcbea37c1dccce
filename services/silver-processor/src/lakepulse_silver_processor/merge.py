"""Applying typed changes to a current-state silver table: TOAST fill, supersession, collapse, MERGE.

Rules that make duplicates and out-of-order delivery harmless:

* every silver row keeps the position ``(_source_lsn, _source_seq)`` of the change it reflects, and
  the MERGE only updates or deletes when the incoming position is strictly newer;
* a delete leaves a marker in ``silver/_tombstones`` (table, key, position), so an older upsert that
  arrives after the delete cannot resurrect the row; a truncate leaves a table-wide marker (key
  ``*``) that drops every change older than it;
* several changes to one key in a batch collapse to the newest one.

Silver tables hold current rows only; the markers live in their own table.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from lakepulse_common.storage import for_spark
from lakepulse_silver_processor.changes import position_order

TRUNCATE_KEY = "*"
SILVER_META = ("_source_lsn", "_source_seq", "_source_ts", "_bronze_version", "_updated_at")


def newer(source: str, target: str) -> str:
    """SQL: the source position is strictly newer than the target's."""
    return (
        f"({source}._source_lsn > {target}._source_lsn OR ({source}._source_lsn = {target}._source_lsn"
        f" AND {source}._source_seq > {target}._source_seq))"
    )


def resolve_toast(changes: DataFrame, columns: Sequence[str], current: DataFrame | None) -> DataFrame:
    """Replace each TOAST placeholder with the key's previous value, column by column.

    The previous value is the last known one among earlier changes of the batch, else the current
    silver value (``current`` holds the silver rows of the batch's keys, with ``_pk``). A legitimate
    null is kept apart from "unknown" by wrapping known values in a struct.
    """
    window = Window.partitionBy("_pk").orderBy(*position_order()).rowsBetween(Window.unboundedPreceding, -1)
    out = changes
    if current is not None:
        out = out.join(
            current.select("_pk", F.struct(*(F.col(c) for c in columns)).alias("_current")), "_pk", "left"
        )
    replaced: dict[str, Column] = {}
    for name in columns:
        is_toast = F.array_contains(F.col("_toast"), name)
        known = F.when(is_toast, F.lit(None)).otherwise(F.struct(F.col(name).alias("v")))
        earlier = F.last(known, ignorenulls=True).over(window)
        fallback = F.col("_current")[name] if current is not None else F.lit(None)
        previous = F.when(earlier.isNotNull(), earlier["v"]).otherwise(fallback)
        replaced[name] = F.when(is_toast, previous).otherwise(F.col(name))
    out = out.withColumns(replaced)
    return out.drop("_current") if current is not None else out


_MARKER_COLUMNS = ("_pk", "_source_lsn", "_source_seq")


def newest_markers(changes: DataFrame, tombstones: DataFrame | None) -> DataFrame:
    """The stored markers and the deletes among ``changes``: the newest per key (and truncate)."""
    markers = changes.where(F.col("_op") == "d").select(*_MARKER_COLUMNS)
    if tombstones is not None:
        markers = markers.unionByName(tombstones.select(*_MARKER_COLUMNS))
    newest = F.max(F.struct("_source_lsn", "_source_seq")).alias("_m")
    return markers.groupBy("_pk").agg(newest).select("_pk", "_m._source_lsn", "_m._source_seq")


def flag_superseded(changes: DataFrame, tombstones: DataFrame, column: str = "_superseded") -> DataFrame:
    """Add ``column``: true for a change older than a delete marker of its key or a truncate marker.

    ``tombstones`` are this table's markers (``_pk``, ``_source_lsn``, ``_source_seq``), at most one
    per key (as stored, or from :func:`newest_markers`), narrowed to the keys at hand: they are
    broadcast.
    """
    keyed = tombstones.where(F.col("_pk") != TRUNCATE_KEY).select(
        "_pk", F.col("_source_lsn").alias("_t_lsn"), F.col("_source_seq").alias("_t_seq")
    )
    truncated = tombstones.where(F.col("_pk") == TRUNCATE_KEY).agg(F.max("_source_lsn").alias("_trunc_lsn"))
    joined = changes.join(F.broadcast(keyed), "_pk", "left").crossJoin(F.broadcast(truncated))
    not_older = (
        F.col("_t_lsn").isNull()
        | (F.col("_source_lsn") > F.col("_t_lsn"))
        | ((F.col("_source_lsn") == F.col("_t_lsn")) & (F.col("_source_seq") > F.col("_t_seq")))
    )
    after_truncate = F.col("_trunc_lsn").isNull() | (F.col("_source_lsn") > F.col("_trunc_lsn"))
    return joined.withColumn(column, ~(not_older & after_truncate)).drop("_t_lsn", "_t_seq", "_trunc_lsn")


def drop_superseded(changes: DataFrame, tombstones: DataFrame | None) -> DataFrame:
    """Drop changes older than a delete marker of their key or a truncate marker of the table."""
    if tombstones is None:
        return changes
    return flag_superseded(changes, tombstones).where(~F.col("_superseded")).drop("_superseded")


def drop_before(changes: DataFrame, lsn: int) -> DataFrame:
    """Changes a truncate at ``lsn`` supersedes are dropped (the same rule the marker enforces later)."""
    return changes.where(F.col("_source_lsn") > F.lit(lsn))


def latest_per_key(changes: DataFrame) -> DataFrame:
    """The newest change of each key."""
    window = Window.partitionBy("_pk").orderBy(*position_order(descending=True))
    return changes.withColumn("_rank", F.row_number().over(window)).where("_rank = 1").drop("_rank")


def silver_rows(latest: DataFrame, columns: Sequence[str], bronze_version: int) -> DataFrame:
    """The MERGE source: business columns, silver metadata and the op that decides the action."""
    return latest.select(
        *(F.col(c) for c in columns),
        F.col("_source_lsn"),
        F.col("_source_seq"),
        F.timestamp_millis(F.col("_source_ts_ms")).alias("_source_ts"),
        F.lit(bronze_version).cast("long").alias("_bronze_version"),
        F.current_timestamp().alias("_updated_at"),
        F.col("_op"),
    )


def merge_condition(primary_key: Sequence[str]) -> Column:
    """Key equality only.

    Until 2026-11-27 the condition also carried the batch's key range on the target (``t.key BETWEEN
    min AND max``) so Delta would skip files by their min/max statistics. Measured, it made every
    MERGE slower (0.7-0.9x without it at 500k, 2M and 5M rows: docs/silver-processor.md,
    "Key range"): a range that changes per batch is new generated code to compile each time, while the
    broadcast join that finds touched files reads only the key column, and only the files holding
    matched keys are rewritten either way.
    """
    condition = F.col(f"t.`{primary_key[0]}`") == F.col(f"s.`{primary_key[0]}`")
    for k in primary_key[1:]:
        condition = condition & (F.col(f"t.`{k}`") == F.col(f"s.`{k}`"))
    return condition


def merge_current(
    spark: SparkSession,
    uri: str,
    source: DataFrame,
    primary_key: Sequence[str],
    columns: Sequence[str],
    *,
    broadcast_source: bool = False,
) -> None:
    """One MERGE: newer deletes delete, newer upserts update, unknown keys are inserted.

    ``broadcast_source`` (for batches known to be small) lets the MERGE find the touched files with a
    broadcast join instead of shuffling the target's rows; the target itself is never broadcast.
    """
    from delta.tables import DeltaTable

    target = DeltaTable.forPath(spark, for_spark(uri))
    on = merge_condition(primary_key)
    if broadcast_source:
        source = F.broadcast(source)
    assignments: dict[str, str | Column] = {f"`{c}`": f"s.`{c}`" for c in (*columns, *SILVER_META)}
    (
        target.alias("t")
        .merge(source.alias("s"), on)
        .whenMatchedDelete(condition=f"s._op = 'd' AND {newer('s', 't')}")
        .whenMatchedUpdate(condition=f"s._op <> 'd' AND {newer('s', 't')}", set=assignments)
        .whenNotMatchedInsert(condition="s._op <> 'd'", values=assignments)
        .execute()
    )


def truncate_current(spark: SparkSession, uri: str, lsn: int) -> None:
    """A source TRUNCATE at ``lsn`` removes every row whose last change is older."""
    from delta.tables import DeltaTable

    DeltaTable.forPath(spark, for_spark(uri)).delete(F.col("_source_lsn") < F.lit(lsn))


def tombstone_rows(latest: DataFrame, table: str) -> DataFrame:
    """The marker MERGE source: one row per key whose newest change is a delete or an upsert."""
    return latest.select(
        F.lit(table).alias("table"),
        "_pk",
        "_source_lsn",
        "_source_seq",
        F.col("_op"),
        F.current_timestamp().alias("_marked_at"),
    )


def merge_tombstones(spark: SparkSession, uri: str, source: DataFrame, table: str) -> None:
    """Newer deletes set the key's marker; a newer upsert (a re-insert) removes it."""
    from delta.tables import DeltaTable

    target = DeltaTable.forPath(spark, for_spark(uri))
    marker: dict[str, str | Column] = {"table": "s.table", "_pk": "s._pk", "_source_lsn": "s._source_lsn"}
    marker |= {"_source_seq": "s._source_seq", "_marked_at": "s._marked_at"}
    (
        target.alias("t")
        .merge(source.alias("s"), f"t.table = '{table}' AND t._pk = s._pk")
        .whenMatchedUpdate(condition=f"s._op = 'd' AND {newer('s', 't')}", set=marker)
        .whenMatchedDelete(condition=f"s._op <> 'd' AND {newer('s', 't')}")
        .whenNotMatchedInsert(condition="s._op = 'd'", values=marker)
        .execute()
    )
