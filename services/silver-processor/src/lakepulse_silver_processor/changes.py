"""Bronze rows → typed change rows: the row image decoded per the declared schema, plus its position.

Pure DataFrame functions (no I/O). A change's position is ``(_source_lsn, _source_seq)``: snapshot
reads (op ``r``) get ``_source_seq = 0`` so a streamed change at the same LSN always wins over them;
streamed changes get ``transaction_total_order + 1``. ``_offset`` only breaks ties while sorting.
A column whose raw value is Debezium's TOAST placeholder is null here and named in ``_toast``; a
declared column whose raw value does not cast to its type is named in ``_cast_errors`` (that means the
source type changed incompatibly: the table is paused, nothing is written).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakepulse_silver_processor.schemas import Encoding, TableSchema
from lakepulse_silver_processor.transactions import transaction_key

TOAST_PLACEHOLDER = "__debezium_unavailable_value"
ROW_OPS = ("c", "u", "d", "r")
TRUNCATE_OP = "t"
SNAPSHOT_FLAGS = ("true", "first", "last", "first_in_data_collection", "last_in_data_collection")

# Columns every typed change row carries besides the business columns.
POSITION_COLUMNS = ("_source_lsn", "_source_seq")
META_COLUMNS = (
    "_op",
    "_source_lsn",
    "_source_seq",
    "_source_ts_ms",
    "_topic",
    "_partition",
    "_offset",
    "_pk",
    "_toast",
    "_cast_errors",
    "_key_fields",
    "_transaction_id",
)
_STRING_MAP = "map<string,string>"  # from_json accepts a DDL string for map schemas


def _decode(raw: Column, encoding: Encoding, spark_type: T.DataType) -> Column:
    if encoding is Encoding.TEXT:
        return raw
    if encoding is Encoding.DATE:
        return F.date_from_unix_date(raw.try_cast("int"))
    if encoding is Encoding.TIMESTAMP:
        return F.timestamp_micros(raw.try_cast("long"))
    if encoding is Encoding.TIMESTAMPTZ:
        return F.try_to_timestamp(raw)
    return raw.try_cast(spark_type)


def position_order(descending: bool = False) -> list[Column]:
    """Sort order of changes to one key: LSN, then transaction order, then Kafka offset."""
    columns = [F.col("_source_lsn"), F.col("_source_seq"), F.col("_offset")]
    return [c.desc_nulls_last() if descending else c.asc_nulls_first() for c in columns]


def pk_json(primary_key: Sequence[str]) -> Column:
    """A key's canonical text form, for joins across tables with different key columns."""
    return F.to_json(F.struct(*(F.col(k) for k in primary_key)))


def stage(bronze: DataFrame) -> DataFrame:
    """Bronze rows with the row image (``before`` for deletes) and the Kafka key parsed to maps."""
    image = F.when(F.col("op") == "d", F.col("before")).otherwise(F.col("after"))
    return bronze.select(
        "*",
        F.from_json(image, _STRING_MAP).alias("_row"),
        F.from_json(F.col("_key"), _STRING_MAP).alias("_key_map"),
    )


@dataclass(frozen=True)
class Truncate:
    lsn: int
    ts_ms: int


@dataclass(frozen=True)
class BronzeProfile:
    """What one pass over the staged bronze rows tells before decoding: columns seen, truncates."""

    columns: frozenset[str]
    truncates: tuple[Truncate, ...]  # oldest first


def profile_bronze(staged: DataFrame) -> BronzeProfile:
    is_row = F.col("op").isin(*ROW_OPS)
    is_truncate = F.col("op") == TRUNCATE_OP
    row = staged.agg(
        F.array_distinct(F.flatten(F.collect_list(F.when(is_row, F.map_keys("_row"))))).alias("columns"),
        F.collect_set(F.when(is_truncate, F.struct("source_lsn", "source_ts_ms"))).alias("truncates"),
    ).first()
    if row is None:
        return BronzeProfile(frozenset(), ())
    truncates = sorted(
        (Truncate(int(t["source_lsn"]), int(t["source_ts_ms"] or 0)) for t in row["truncates"] or []),
        key=lambda t: t.lsn,
    )
    return BronzeProfile(frozenset(row["columns"] or ()), tuple(truncates))


def decode_changes(staged: DataFrame, schema: TableSchema, extra_columns: Sequence[str]) -> DataFrame:
    """Typed change rows from :func:`stage` output: declared columns cast, extras kept as JSON text."""
    staged = staged.where(F.col("op").isin(*ROW_OPS))
    row = F.col("_row")
    business: list[Column] = []
    toast_flags: list[Column] = []
    cast_flags: list[Column] = []
    for column in schema.columns:
        raw = row[column.name]
        is_toast = raw == F.lit(TOAST_PLACEHOLDER)
        typed = _decode(raw, column.encoding, column.spark_type)
        business.append(
            F.when(is_toast, F.lit(None)).otherwise(typed).cast(column.spark_type).alias(column.name)
        )
        toast_flags.append(F.when(is_toast, F.lit(column.name)))
        cast_flags.append(F.when(raw.isNotNull() & ~is_toast & typed.isNull(), F.lit(column.name)))
    for name in extra_columns:
        raw = row[name]
        is_toast = raw == F.lit(TOAST_PLACEHOLDER)
        business.append(F.when(is_toast, F.lit(None)).otherwise(raw).cast("string").alias(name))
        toast_flags.append(F.when(is_toast, F.lit(name)))
    snapshot = (F.col("op") == "r") | F.lower(F.col("source_snapshot")).isin(*SNAPSHOT_FLAGS)
    seq = F.when(snapshot, F.lit(0)).otherwise(F.coalesce(F.col("transaction_total_order"), F.lit(0)) + 1)
    key_fields = F.when(F.col("_key_map").isNotNull(), F.array_sort(F.map_keys(F.col("_key_map")))).otherwise(
        F.array_sort(F.array(*(F.lit(k) for k in schema.primary_key)))
    )
    decoded = staged.select(
        *business,
        F.col("op").alias("_op"),
        F.col("source_lsn").cast("long").alias("_source_lsn"),
        seq.cast("long").alias("_source_seq"),
        F.col("source_ts_ms").cast("long").alias("_source_ts_ms"),
        F.col("_topic"),
        F.col("_partition").cast("int").alias("_partition"),
        F.col("_offset").cast("long").alias("_offset"),
        F.array_compact(F.array(*toast_flags)).alias("_toast"),
        F.array_compact(F.array(*cast_flags)).alias("_cast_errors"),
        key_fields.alias("_key_fields"),
        transaction_key(F.col("transaction_id")).alias("_transaction_id"),
    )
    return decoded.withColumn("_pk", pk_json(schema.primary_key))


def cast_error_columns() -> Column:
    """Aggregate: every column that failed to cast anywhere in the batch."""
    return F.array_distinct(F.flatten(F.collect_list("_cast_errors")))


def key_field_sets() -> Column:
    """Aggregate: the distinct key-field sets of the batch's Kafka keys."""
    return F.collect_set("_key_fields")


def schema_problems(
    schema: TableSchema, cast_errors: Sequence[str], key_fields: Sequence[Sequence[str]]
) -> list[str]:
    """Incompatible-change findings of a batch (empty when the batch fits the declared schema)."""
    expected = sorted(schema.primary_key)
    problems = [
        f"column {name}: values no longer fit {schema.column(name).spark_type.simpleString()}"
        for name in sorted(cast_errors)
    ]
    for fields in key_fields:
        if sorted(fields) != expected:
            problems.append(f"primary key changed: source key {sorted(fields)} != declared {expected}")
    return problems
