"""Silver-shaped Delta tables loaded straight from PostgreSQL, so gold can be tested on its own.

Mirrors the silver contract: one current-state table per source table with the declared Spark types
(numeric → decimal, date → date, timestamp → timestamp UTC) plus ``_source_lsn``, change data feed on,
and SCD2 ``customers_history`` / ``stock_items_history`` (valid_from / valid_to / is_current).
``sync`` re-reads tables from PostgreSQL and MERGEs them in (deletes included), closing and opening
history versions for changed keys at a chosen ``valid_from`` — the test controls SCD2 timing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import psycopg2
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, Numeric, String, Text
from sqlalchemy.dialects.postgresql import JSONB

from lakepulse_common.control_events import Layer
from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.storage import table_uri
from lakepulse_oltp.catalog import PRIMARY_KEYS, PUBLISHED_TABLES, table

HISTORY = {"customers": "customers_history", "stock_items": "stock_items_history"}


def spark_type(column_type: Any) -> T.DataType:
    if isinstance(column_type, Numeric):
        return T.DecimalType(column_type.precision or 38, column_type.scale or 0)
    if isinstance(column_type, BigInteger):
        return T.LongType()
    if isinstance(column_type, Integer):
        return T.IntegerType()
    if isinstance(column_type, Boolean):
        return T.BooleanType()
    if isinstance(column_type, DateTime):
        return T.TimestampType()
    if isinstance(column_type, Date):
        return T.DateType()
    if isinstance(column_type, String | Text | JSONB):
        return T.StringType()
    raise TypeError(f"no Spark type for {column_type!r}")


def schema_of(name: str) -> T.StructType:
    schema = dict(PUBLISHED_TABLES_BY_NAME)[name]
    return T.StructType(
        [T.StructField(c.name, spark_type(c.type), True) for c in table(schema, name).columns]
        + [T.StructField("_source_lsn", T.LongType(), True)]
    )


PUBLISHED_TABLES_BY_NAME = [(name, schema) for schema, name in PUBLISHED_TABLES]


def _value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)  # source timestamps hold UTC
    return value


def read_postgres(spark: SparkSession, settings: LakePulseSettings, name: str) -> DataFrame:
    schema_name = dict(PUBLISHED_TABLES_BY_NAME)[name]
    columns = [c.name for c in table(schema_name, name).columns]
    conn = psycopg2.connect(settings.postgres.dsn())
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT {', '.join(columns)} FROM {schema_name}.{name}")
            rows = [(*(_value(v) for v in row), 0) for row in cur.fetchall()]
    finally:
        conn.close()
    return spark.createDataFrame(rows, schema_of(name))


def _uri(settings: LakePulseSettings, name: str) -> str:
    return table_uri(settings.lake_root, Layer.SILVER, name)


def _history_rows(current: DataFrame, valid_from: dt.datetime) -> DataFrame:
    return current.withColumns(
        {
            "valid_from": F.lit(valid_from).cast("timestamp"),
            "valid_to": F.lit(None).cast("timestamp"),
            "is_current": F.lit(True),
        }
    )


def load_all(spark: SparkSession, settings: LakePulseSettings, loaded_at: dt.datetime) -> None:
    """Initial silver load of every published table (the snapshot), history valid from ``loaded_at``.

    Tables are written from a few threads: each write is small and mostly driver overhead.
    """

    def load(name: str) -> None:
        df = read_postgres(spark, settings, name)
        df.write.format("delta").option("delta.enableChangeDataFeed", "true").save(_uri(settings, name))
        if name in HISTORY:
            _history_rows(df, loaded_at).write.format("delta").option(
                "delta.enableChangeDataFeed", "true"
            ).save(_uri(settings, HISTORY[name]))

    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(load, name) for _, name in PUBLISHED_TABLES]:
            future.result()


def sync(
    spark: SparkSession, settings: LakePulseSettings, names: Iterable[str], changed_at: dt.datetime
) -> None:
    """Bring silver tables up to PostgreSQL (MERGE incl. deletes), versioning history at ``changed_at``."""
    for name in names:
        keys = PRIMARY_KEYS[name]
        fresh = read_postgres(spark, settings, name)
        target = DeltaTable.forPath(spark, _uri(settings, name))
        data = [c for c in fresh.columns if c != "_source_lsn"]
        differs = " OR ".join(f"NOT (t.{c} <=> s.{c})" for c in data)
        on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        if name in HISTORY:
            _sync_history(spark, settings, name, fresh, target.toDF(), changed_at)
        (
            target.alias("t")
            .merge(fresh.alias("s"), on)
            .whenMatchedUpdateAll(condition=differs)
            .whenNotMatchedInsertAll()
            .whenNotMatchedBySourceDelete()
            .execute()
        )


def _sync_history(
    spark: SparkSession,
    settings: LakePulseSettings,
    name: str,
    fresh: DataFrame,
    current: DataFrame,
    changed_at: dt.datetime,
) -> None:
    (key,) = PRIMARY_KEYS[name]
    data = [c for c in fresh.columns if c != "_source_lsn"]
    changed = fresh.select(*data).exceptAll(current.select(*data))
    removed = current.join(fresh, key, "left_anti").select(key)
    touched = changed.select(key).unionByName(removed).distinct()
    history = DeltaTable.forPath(spark, _uri(settings, HISTORY[name]))
    (
        history.alias("h")
        .merge(touched.alias("k"), f"h.{key} = k.{key} AND h.is_current")
        .whenMatchedUpdate(set={"valid_to": F.lit(changed_at).cast("timestamp"), "is_current": F.lit(False)})
        .execute()
    )
    new_versions = fresh.join(changed.select(key), key, "left_semi")
    _history_rows(new_versions, changed_at).write.format("delta").mode("append").save(
        _uri(settings, HISTORY[name])
    )


def money(value: Any) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))
