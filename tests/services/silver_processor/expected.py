"""The test oracle: what a silver row must look like for a Debezium row image (decoded + cleansed)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from pyspark.sql import SparkSession

from lakepulse_common.control_events import Layer
from lakepulse_common.storage import for_spark, table_uri
from lakepulse_silver_processor.schemas import TABLES, Cleanse, Encoding
from tests.services.silver_processor.bronze_rows import EPOCH


def expected_row(table: str, image: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in TABLES[table].columns:
        value = image.get(column.name)
        if value is not None:
            if column.encoding is Encoding.DATE:
                value = EPOCH + dt.timedelta(days=value)
            elif column.encoding is Encoding.TIMESTAMP:
                value = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=value)
            elif column.encoding is Encoding.DECIMAL:
                value = Decimal(value)
            if column.cleanse is Cleanse.EMAIL:
                value = value.strip().lower() or None
            elif column.cleanse is Cleanse.PHONE:
                value = re.sub(r"[^0-9]", "", value) or None
        out[column.name] = value
    return out


def silver_rows(
    spark: SparkSession, lake_root: str, table: str, extra: tuple[str, ...] = ()
) -> dict[Any, dict[str, Any]]:
    """Silver's current rows keyed by primary key, declared columns (+ ``extra``) only."""
    schema = TABLES[table]
    columns = [*schema.column_names, *extra]
    df = spark.read.format("delta").load(for_spark(table_uri(lake_root, Layer.SILVER, table)))
    rows = {}
    for row in df.select(*columns).collect():
        data = row.asDict()
        key = tuple(data[k] for k in schema.primary_key)
        rows[key[0] if len(key) == 1 else key] = data
    return rows


def read(spark: SparkSession, lake_root: str, table: str) -> list[dict[str, Any]]:
    uri = for_spark(table_uri(lake_root, Layer.SILVER, table))
    return [r.asDict() for r in spark.read.format("delta").load(uri).collect()]
