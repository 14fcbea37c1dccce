"""Fact transformations: pure functions from silver and gold dimension DataFrames to fact rows.

``fact_sales_line`` is the order-line grain. Each line points at the customer and stock item versions
valid on its order date — precisely, the version whose effective interval contains the last instant of
that day (UTC), so a change made during the day counts from that day on. Money is computed in
``decimal`` and rounded to the cent per line, the way an invoice line would be:
``total_excluding_tax = round(quantity × unit_price, 2)``, ``tax_amount = round(total_excluding_tax ×
tax_rate / 100, 2)``, ``total_including_tax`` their sum.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

MONEY = "decimal(18,2)"


def order_instant(order_date: Column) -> Column:
    """The last microsecond of the order date: the moment whose dimension versions a line uses."""
    return F.to_timestamp(F.date_add(order_date, 1)) - F.expr("INTERVAL 1 MICROSECOND")


def date_key(day: Column) -> Column:
    return (F.year(day) * 10000 + F.month(day) * 100 + F.dayofmonth(day)).cast("int")


def _version_at(
    versions: DataFrame, key: str, keep: tuple[str, ...], instant: Column
) -> tuple[DataFrame, Column]:
    """The (broadcast) dimension side and the join condition picking the version valid at ``instant``."""
    dim = versions.select(F.col(key).alias(f"d_{key}"), *keep, "effective_from", "effective_to")
    condition = (
        (F.col(key) == F.col(f"d_{key}"))
        & (F.col("effective_from") <= instant)
        & (instant < F.col("effective_to"))
    )
    return F.broadcast(dim), condition


def fact_sales_line(
    orders: DataFrame, order_lines: DataFrame, dim_customer: DataFrame, dim_stock_item: DataFrame
) -> DataFrame:
    header = orders.select(
        "order_id",
        "customer_id",
        "salesperson_person_id",
        "order_date",
        "expected_delivery_date",
        "is_undersupply_backordered",
        F.col("picking_completed_when").alias("order_picking_completed_when"),
    ).withColumn("order_instant", order_instant(F.col("order_date")))
    instant = F.col("order_instant")
    customers, on_customer = _version_at(
        dim_customer, "customer_id", ("customer_key", "geography_key"), instant
    )
    header = header.join(customers, on_customer, "left").drop(
        "d_customer_id", "effective_from", "effective_to"
    )
    lines = order_lines.join(header, "order_id")
    items, on_item = _version_at(dim_stock_item, "stock_item_id", ("stock_item_key",), instant)
    lines = lines.join(items, on_item, "left")
    excluding = F.round(F.col("quantity").cast("decimal(10,0)") * F.col("unit_price"), 2)
    return lines.select(
        "order_line_id",
        "order_id",
        "order_date",
        F.trunc("order_date", "month").alias("order_month"),
        date_key(F.col("order_date")).alias("date_key"),
        "customer_key",
        "customer_id",
        "geography_key",
        "stock_item_key",
        "stock_item_id",
        "salesperson_person_id",
        "package_type_id",
        "quantity",
        "unit_price",
        "tax_rate",
        excluding.cast(MONEY).alias("total_excluding_tax"),
        F.round(excluding * F.col("tax_rate") / F.lit(100), 2).cast(MONEY).alias("tax_amount"),
        (excluding + F.round(excluding * F.col("tax_rate") / F.lit(100), 2))
        .cast(MONEY)
        .alias("total_including_tax"),
        "picked_quantity",
        F.col("picking_completed_when").isNotNull().alias("is_picked"),
        "is_undersupply_backordered",
        "expected_delivery_date",
    )


def fact_inventory_daily(holdings: DataFrame, dim_stock_item: DataFrame, snapshot_date: dt.date) -> DataFrame:
    """One row per stock item for ``snapshot_date``: what the warehouse held when the build ran."""
    current = dim_stock_item.where("is_current").select("stock_item_id", "stock_item_key")
    return holdings.join(F.broadcast(current), "stock_item_id", "left").select(
        F.lit(snapshot_date).cast("date").alias("snapshot_date"),
        date_key(F.lit(snapshot_date).cast("date")).alias("date_key"),
        "stock_item_key",
        "stock_item_id",
        "quantity_on_hand",
        "reorder_level",
        "target_stock_level",
        "last_stocktake_quantity",
        "last_cost_price",
        (F.col("quantity_on_hand").cast("decimal(12,0)") * F.col("last_cost_price"))
        .cast(MONEY)
        .alias("stock_value"),
        (F.col("quantity_on_hand") <= F.col("reorder_level")).alias("is_below_reorder_level"),
    )
