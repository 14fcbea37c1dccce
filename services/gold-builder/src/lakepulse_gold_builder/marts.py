"""Mart transformations: pure functions from the star schema to the marts users query.

The definitions follow ``lakepulse_oltp.ground_truth`` exactly — the contract ``lakepulse verify``
checks: revenue is ``quantity × unit_price`` (before tax), a sale's region is the sales territory of
the customer's *current* delivery city and its product category the item's *current* primary stock
group ("as-is" reporting; the fact keeps the as-was dimension keys for historical analysis), averages
are rounded half away from zero to the cent. Every function takes an optional filter so the
incremental path recomputes only affected dates or customers with the very same code.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from lakepulse_gold_builder.facts import MONEY

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

PERIOD_DAY = "day"
PERIOD_MONTH = "month"


def round_div(amount: Column, count: Column) -> Column:
    """``round(amount / count, 2)`` half away from zero, computed exactly in integer cents.

    Spark's decimal division keeps only 6 fractional digits before the final round, which can round
    twice; cents arithmetic cannot. Amounts here are sums of non-negative line revenues.
    """
    cents = (amount * 100).cast("bigint")
    count = count.cast("bigint")
    numerator, denominator = cents * 2 + count, count * 2
    # numerator - numerator % denominator is a multiple of denominator: the division below is exact.
    rounded = ((numerator - numerator % denominator) / denominator).cast("bigint")
    return F.when(count > 0, rounded.cast("decimal(20,0)") / 100)


def _money(column: Column) -> Column:
    return column.cast(MONEY)


def sales_with_current_attributes(
    fact_sales_line: DataFrame, dim_customer: DataFrame, dim_stock_item: DataFrame
) -> DataFrame:
    """Fact lines with the customer's current region and the item's current product category."""
    region = dim_customer.where("is_current").select("customer_id", "region")
    category = dim_stock_item.where("is_current").select("stock_item_id", "product_category")
    return (
        fact_sales_line.join(F.broadcast(region), "customer_id", "left")
        .join(F.broadcast(category), "stock_item_id", "left")
        .withColumn("revenue", F.col("total_excluding_tax"))
    )


def fact_sales(sales: DataFrame) -> DataFrame:
    """The seed's ``gold.fact_sales``: order_date × region × product_category."""
    grouped = sales.groupBy("order_date", "region", "product_category").agg(
        F.countDistinct("order_id").alias("total_orders"),
        F.sum("revenue").alias("total_revenue"),
        F.countDistinct("customer_id").alias("unique_customers"),
        F.count("*").alias("total_lines"),
        F.sum("quantity").alias("total_quantity"),
        F.sum("total_including_tax").alias("total_revenue_including_tax"),
    )
    return grouped.select(
        "order_date",
        "region",
        "product_category",
        F.col("total_orders").cast("bigint").alias("total_orders"),
        _money(F.col("total_revenue")).alias("total_revenue"),
        _money(round_div(F.col("total_revenue"), F.col("total_orders"))).alias("avg_order_value"),
        F.col("unique_customers").cast("bigint").alias("unique_customers"),
        F.col("total_lines").cast("bigint").alias("total_lines"),
        F.col("total_quantity").cast("bigint").alias("total_quantity"),
        _money(F.col("total_revenue_including_tax")).alias("total_revenue_including_tax"),
    )


def customer_analytics(sales: DataFrame, dim_customer: DataFrame, as_of: dt.date) -> DataFrame:
    """Recency/frequency/monetary per customer as of ``as_of`` (orders after it are ignored)."""
    as_of_lit = F.lit(as_of).cast("date")
    orders = (
        sales.where(F.col("order_date") <= as_of_lit)
        .groupBy("order_id", "customer_id", "order_date")
        .agg(F.sum("revenue").alias("order_value"))
    )
    per_customer = orders.groupBy("customer_id").agg(
        F.min("order_date").alias("first_order_date"),
        F.max("order_date").alias("last_order_date"),
        F.count("*").alias("order_count"),
        F.sum("order_value").alias("lifetime_value"),
    )
    current = dim_customer.where("is_current").select(
        "customer_id", "customer_key", "customer_name", "customer_category", "buying_group", "region"
    )
    return per_customer.join(F.broadcast(current), "customer_id", "left").select(
        "customer_id",
        "customer_key",
        "customer_name",
        "customer_category",
        "buying_group",
        "region",
        "first_order_date",
        "last_order_date",
        F.col("order_count").cast("bigint").alias("order_count"),
        _money(F.col("lifetime_value")).alias("lifetime_value"),
        _money(round_div(F.col("lifetime_value"), F.col("order_count"))).alias("avg_order_value"),
        F.datediff(as_of_lit, F.col("last_order_date")).alias("recency_days"),
        F.col("order_count").cast("bigint").alias("frequency"),
        _money(F.col("lifetime_value")).alias("monetary"),
        as_of_lit.alias("as_of_date"),
    )


def _period_totals(sales: DataFrame, period: str, start: Column) -> DataFrame:
    return (
        sales.withColumn("period_start", start)
        .groupBy("period_start")
        .agg(
            F.countDistinct("order_id").alias("orders"),
            F.count("*").alias("order_lines"),
            F.sum("quantity").alias("units"),
            F.sum("revenue").alias("revenue"),
            F.sum("tax_amount").alias("tax"),
            F.sum("total_including_tax").alias("revenue_including_tax"),
            F.countDistinct("customer_id").alias("unique_customers"),
        )
        .withColumn("period", F.lit(period))
    )


def _growth(current: Column, previous: Column) -> Column:
    """Percent change against the previous period, 2 decimals; null when there is nothing to compare."""
    return F.when(
        previous.isNotNull() & (previous != 0),
        F.round((current.cast("decimal(24,4)") - previous) * 100 / previous, 2),
    ).cast("decimal(12,2)")


def sales_metrics(sales: DataFrame, days: list[dt.date] | None = None) -> DataFrame:
    """Daily and monthly KPIs with growth versus the previous calendar day / month.

    ``sales`` must hold every line of each requested period *and* of the period before it (growth
    needs both); ``days`` limits the output to those days and their months (incremental use).
    """
    daily = _period_totals(sales, PERIOD_DAY, F.col("order_date"))
    monthly = _period_totals(sales, PERIOD_MONTH, F.trunc("order_date", "month"))
    totals = daily.unionByName(monthly)
    previous = totals.select(
        "period",
        F.when(F.col("period") == PERIOD_DAY, F.date_add("period_start", 1))
        .otherwise(F.add_months("period_start", 1))
        .alias("period_start"),
        F.col("revenue").alias("previous_revenue"),
        F.col("orders").alias("previous_orders"),
    )
    metrics = totals.join(previous, ["period", "period_start"], "left").select(
        "period",
        "period_start",
        F.col("orders").cast("bigint").alias("orders"),
        F.col("order_lines").cast("bigint").alias("order_lines"),
        F.col("units").cast("bigint").alias("units"),
        _money(F.col("revenue")).alias("revenue"),
        _money(F.col("tax")).alias("tax"),
        _money(F.col("revenue_including_tax")).alias("revenue_including_tax"),
        F.col("unique_customers").cast("bigint").alias("unique_customers"),
        _money(round_div(F.col("revenue"), F.col("orders"))).alias("avg_order_value"),
        _money(F.col("previous_revenue")).alias("previous_revenue"),
        _growth(F.col("revenue"), F.col("previous_revenue")).alias("revenue_growth_pct"),
        _growth(F.col("orders"), F.col("previous_orders")).alias("orders_growth_pct"),
    )
    if days is None:
        return metrics
    months = sorted({day.replace(day=1) for day in days})
    return metrics.where(
        ((F.col("period") == PERIOD_DAY) & F.col("period_start").isin(days))
        | ((F.col("period") == PERIOD_MONTH) & F.col("period_start").isin(months))
    )


def operational_reports(
    holdings: DataFrame, dim_stock_item: DataFrame, fact_sales_line: DataFrame
) -> DataFrame:
    """Stock on hand against reorder level, what to reorder, and the demand still waiting on stock.

    ``open_order_quantity`` is the unpicked quantity of lines not yet picked; ``backordered_quantity``
    is the part of it that orders flagged ``is_undersupply_backordered`` wait for beyond stock on hand.
    """
    items = dim_stock_item.where("is_current").select(
        "stock_item_id", "stock_item_key", "stock_item_name", "product_category", "lead_time_days"
    )
    open_lines = fact_sales_line.where(~F.col("is_picked"))
    demand = open_lines.groupBy("stock_item_id").agg(
        F.sum(F.col("quantity") - F.col("picked_quantity")).alias("open_order_quantity"),
        F.sum(
            F.when(
                F.col("is_undersupply_backordered"), F.col("quantity") - F.col("picked_quantity")
            ).otherwise(0)
        ).alias("backorderable_quantity"),
        F.countDistinct("order_id").alias("open_orders"),
    )
    needs = F.col("quantity_on_hand") <= F.col("reorder_level")
    open_qty = F.coalesce(F.col("open_order_quantity"), F.lit(0)).cast("bigint")
    backorderable = F.coalesce(F.col("backorderable_quantity"), F.lit(0)).cast("bigint")
    return (
        holdings.join(F.broadcast(items), "stock_item_id")
        .join(demand, "stock_item_id", "left")
        .select(
            "stock_item_id",
            "stock_item_key",
            "stock_item_name",
            "product_category",
            "quantity_on_hand",
            "reorder_level",
            "target_stock_level",
            needs.alias("needs_reorder"),
            F.when(needs, F.col("target_stock_level") - F.col("quantity_on_hand"))
            .otherwise(0)
            .alias("reorder_quantity"),
            _money(F.col("quantity_on_hand").cast("decimal(12,0)") * F.col("last_cost_price")).alias(
                "stock_value"
            ),
            "bin_location",
            "lead_time_days",
            open_qty.alias("open_order_quantity"),
            F.coalesce(F.col("open_orders"), F.lit(0)).cast("bigint").alias("open_orders"),
            F.greatest(
                F.least(backorderable, open_qty - F.greatest(F.col("quantity_on_hand"), F.lit(0))), F.lit(0)
            )
            .cast("bigint")
            .alias("backordered_quantity"),
        )
    )
