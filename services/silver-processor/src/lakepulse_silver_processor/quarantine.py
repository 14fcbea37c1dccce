"""``silver/_quarantine`` (changes that broke a rule) and ``silver/_held`` (children missing a parent).

Both keep the change as JSON (``payload``, typed silver values) with its source position (topic,
partition, offset, LSN) and the bronze version range it came from. Writes are MERGEs keyed by
position, so re-applying a batch after a crash adds nothing twice. A held change is released when a
later batch finds its parent; it is deleted from ``_held`` only after the silver commit that applied
it, so a crash in between re-applies it (harmlessly) instead of losing it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakepulse_common.progress import SILVER_HELD_TABLE
from lakepulse_common.storage import for_spark

QUARANTINE_TABLE = "_quarantine"
HELD_TABLE = SILVER_HELD_TABLE

_POSITION_FIELDS = [
    T.StructField("_pk", T.StringType()),
    T.StructField("_op", T.StringType()),
    T.StructField("_source_lsn", T.LongType()),
    T.StructField("_source_seq", T.LongType()),
    T.StructField("_topic", T.StringType()),
    T.StructField("_partition", T.IntegerType()),
    T.StructField("_offset", T.LongType()),
]

QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField("table", T.StringType()),
        T.StructField("rule", T.StringType()),
        T.StructField("action", T.StringType()),
        *_POSITION_FIELDS,
        T.StructField("payload", T.StringType()),
        T.StructField("bronze_version_from", T.LongType()),
        T.StructField("bronze_version_to", T.LongType()),
        T.StructField("quarantined_at", T.TimestampType()),
    ]
)

HELD_SCHEMA = T.StructType(
    [
        T.StructField("table", T.StringType()),
        T.StructField("rule", T.StringType()),
        *_POSITION_FIELDS,
        T.StructField("payload", T.StringType()),
        T.StructField("bronze_version", T.LongType()),
        T.StructField("held_at", T.TimestampType()),
    ]
)

_POSITION_KEY = (
    "t.table = s.table AND t._pk = s._pk AND t._source_lsn = s._source_lsn AND t._source_seq = s._source_seq"
)


def _payload(columns: Sequence[str]) -> Column:
    return F.to_json(F.struct(*(F.col(c) for c in columns)))


def quarantine_rows(
    evaluated: DataFrame, table: str, columns: Sequence[str], bronze_from: int, bronze_to: int
) -> DataFrame:
    """One row per (change, broken quarantine rule)."""
    return evaluated.where(F.size("_quarantine_rules") > 0).select(
        F.lit(table).alias("table"),
        F.explode("_quarantine_rules").alias("rule"),
        F.lit("quarantine").alias("action"),
        *(F.col(f.name) for f in _POSITION_FIELDS),
        _payload(columns).alias("payload"),
        F.lit(bronze_from).cast("long").alias("bronze_version_from"),
        F.lit(bronze_to).cast("long").alias("bronze_version_to"),
        F.current_timestamp().alias("quarantined_at"),
    )


def merge_quarantine(spark: SparkSession, uri: str, rows: DataFrame, table: str) -> None:
    from delta.tables import DeltaTable

    (
        DeltaTable.forPath(spark, for_spark(uri))
        .alias("t")
        .merge(rows.alias("s"), f"t.table = '{table}' AND {_POSITION_KEY} AND t.rule = s.rule")
        .whenNotMatchedInsertAll()
        .execute()
    )


def held_rows(
    evaluated: DataFrame, table: str, payload_columns: Sequence[str], bronze_version: int
) -> DataFrame:
    """Changes waiting for a parent; the payload keeps every column needed to re-apply them."""
    return evaluated.where(F.col("_held_rule").isNotNull()).select(
        F.lit(table).alias("table"),
        F.col("_held_rule").alias("rule"),
        *(F.col(f.name) for f in _POSITION_FIELDS),
        _payload(payload_columns).alias("payload"),
        F.lit(bronze_version).cast("long").alias("bronze_version"),
        F.current_timestamp().alias("held_at"),
    )


def merge_held(spark: SparkSession, uri: str, rows: DataFrame, table: str) -> None:
    """Add newly held changes (a change already held keeps its first ``held_at``)."""
    from delta.tables import DeltaTable

    (
        DeltaTable.forPath(spark, for_spark(uri))
        .alias("t")
        .merge(rows.alias("s"), f"t.table = '{table}' AND {_POSITION_KEY}")
        .whenMatchedUpdate(set={"rule": "s.rule"})
        .whenNotMatchedInsertAll()
        .execute()
    )


def release_held(spark: SparkSession, uri: str, released: DataFrame, table: str) -> None:
    """Remove held changes that a committed batch applied, superseded or quarantined."""
    from delta.tables import DeltaTable

    source = released.select(F.lit(table).alias("table"), "_pk", "_source_lsn", "_source_seq")
    (
        DeltaTable.forPath(spark, for_spark(uri))
        .alias("t")
        .merge(source.alias("s"), f"t.table = '{table}' AND {_POSITION_KEY}")
        .whenMatchedDelete()
        .execute()
    )


def decode_held(held: DataFrame, change_schema: T.StructType) -> DataFrame:
    """Stored held changes back into typed change rows (columns in ``change_schema`` order)."""
    decoded = held.select(F.from_json("payload", change_schema).alias("_c"))
    return decoded.select(*(F.col("_c")[f.name].alias(f.name) for f in change_schema.fields))
