"""Comparing gold marts with ``lakepulse_oltp.ground_truth``: exact counts, money to the cent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pyspark.sql import SparkSession

from lakepulse_common.settings import LakePulseSettings
from lakepulse_gold_builder.tables import CUSTOMER_ANALYTICS, FACT_SALES, OPERATIONAL_REPORTS
from lakepulse_oltp import ground_truth

CENT = Decimal("0.01")

DAILY_SALES = (
    "order_date",
    "region",
    "product_category",
    "total_orders",
    "total_revenue",
    "avg_order_value",
    "unique_customers",
)
CUSTOMERS = (
    "customer_id",
    "customer_name",
    "customer_category",
    "region",
    "first_order_date",
    "last_order_date",
    "order_count",
    "lifetime_value",
    "avg_order_value",
    "recency_days",
    "frequency",
    "monetary",
)
INVENTORY = (
    "stock_item_id",
    "stock_item_name",
    "product_category",
    "quantity_on_hand",
    "reorder_level",
    "target_stock_level",
    "needs_reorder",
    "reorder_quantity",
    "stock_value",
)


def _normal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.quantize(CENT)
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def normalise(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return sorted(tuple(_normal(row[c]) for c in columns) for row in rows)


def gold_rows(
    spark: SparkSession, lake_root: str, table: Any, columns: tuple[str, ...]
) -> list[tuple[Any, ...]]:
    df = spark.read.format("delta").load(table.uri(lake_root)).select(*columns)
    return normalise([row.asDict() for row in df.collect()], columns)


def expected_daily_sales(settings: LakePulseSettings) -> list[tuple[Any, ...]]:
    rows = [dict(row, order_date=row["sale_date"]) for row in ground_truth.daily_sales(settings)]
    return normalise(rows, DAILY_SALES)


def assert_marts_match(spark: SparkSession, settings: LakePulseSettings, as_of: dt.date) -> None:
    lake_root = settings.lake_root
    assert gold_rows(spark, lake_root, FACT_SALES, DAILY_SALES) == expected_daily_sales(settings)
    assert gold_rows(spark, lake_root, CUSTOMER_ANALYTICS, CUSTOMERS) == normalise(
        ground_truth.customer_analytics(settings, as_of), CUSTOMERS
    )
    assert gold_rows(spark, lake_root, OPERATIONAL_REPORTS, INVENTORY) == normalise(
        ground_truth.inventory_reorder(settings), INVENTORY
    )
