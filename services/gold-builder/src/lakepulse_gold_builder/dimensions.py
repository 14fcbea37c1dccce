"""Dimension transformations: pure functions from silver DataFrames to gold dimension DataFrames.

Surrogate keys are ``xxhash64(natural key, valid_from)``: stable across full rebuilds and incremental
updates, so a fact row written yesterday still points at the right dimension row after a rebuild.
SCD2 versions get an *effective* interval with no gaps: ``effective_from`` is the version's
``valid_from`` except for a key's first version, which reaches back to :data:`BEGINNING_OF_TIME`
(rows captured by the initial snapshot describe orders placed long before capture started), and
``effective_to`` is the next version's ``valid_from`` (or :data:`END_OF_TIME`). Facts join the version
whose interval contains the end of the order date (see facts.py).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

BEGINNING_OF_TIME = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
END_OF_TIME = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
UNCATEGORIZED = "Uncategorized"  # an item in no stock group (as lakepulse_oltp.ground_truth says)


def _ts(value: dt.datetime) -> Column:
    return F.lit(value).cast("timestamp")


def versions_of(history: DataFrame | None, current: DataFrame) -> DataFrame:
    """SCD2 versions of ``current``'s rows: silver's history table, or one open version per row.

    Without a history table the current row is the only version (valid since its last edit), so a
    deployment whose silver has no history yet still gets correct, if type-1, dimensions.
    """
    if history is not None:
        return history
    return current.withColumn("valid_from", F.col("last_edited_when").cast("timestamp")).withColumns(
        {"valid_to": F.lit(None).cast("timestamp"), "is_current": F.lit(True)}
    )


def with_effective_interval(versions: DataFrame, key: str) -> DataFrame:
    by_key = Window.partitionBy(key).orderBy("valid_from")
    return versions.withColumns(
        {
            "effective_from": F.when(F.row_number().over(by_key) == 1, _ts(BEGINNING_OF_TIME)).otherwise(
                F.col("valid_from")
            ),
            "effective_to": F.coalesce(F.lead("valid_from").over(by_key), _ts(END_OF_TIME)),
        }
    )


def dim_geography(cities: DataFrame, state_provinces: DataFrame, countries: DataFrame) -> DataFrame:
    """Type 1: one row per city; the key is the city id (geography changes are rare corrections)."""
    return (
        cities.alias("c")
        .join(state_provinces.alias("s"), "state_province_id")
        .join(countries.alias("n"), F.col("s.country_id") == F.col("n.country_id"))
        .select(
            F.col("c.city_id").alias("geography_key"),
            F.col("c.city_id"),
            F.col("c.city_name"),
            F.col("c.latest_recorded_population"),
            F.col("s.state_province_id"),
            F.col("s.state_province_code"),
            F.col("s.state_province_name"),
            F.col("s.sales_territory").alias("region"),
            F.col("n.country_id"),
            F.col("n.country_name"),
            F.col("n.continent"),
            F.col("n.region").alias("world_region"),
            F.col("n.subregion").alias("world_subregion"),
        )
    )


def dim_customer(
    customer_versions: DataFrame,
    categories: DataFrame,
    buying_groups: DataFrame,
    geography: DataFrame,
) -> DataFrame:
    versions = with_effective_interval(customer_versions, "customer_id").alias("v")
    geo = geography.select(
        F.col("city_id").alias("g_city_id"),
        F.col("city_name").alias("delivery_city"),
        F.col("state_province_name").alias("delivery_state_province"),
        "region",
        F.col("country_name").alias("delivery_country"),
    )
    return (
        versions.join(F.broadcast(categories.alias("k")), "customer_category_id", "left")
        .join(F.broadcast(buying_groups.alias("b")), "buying_group_id", "left")
        .join(F.broadcast(geo), F.col("v.delivery_city_id") == F.col("g_city_id"), "left")
        .select(
            F.xxhash64("v.customer_id", "v.valid_from").alias("customer_key"),
            "v.customer_id",
            "v.customer_name",
            "v.bill_to_customer_id",
            "customer_category_id",
            F.col("k.customer_category_name").alias("customer_category"),
            "buying_group_id",
            F.col("b.buying_group_name").alias("buying_group"),
            F.col("v.delivery_city_id").alias("geography_key"),
            "delivery_city",
            "delivery_state_province",
            "region",
            "delivery_country",
            "v.credit_limit",
            "v.account_opened_date",
            "v.standard_discount_percentage",
            "v.is_on_credit_hold",
            "v.payment_days",
            "v.valid_from",
            "v.valid_to",
            "v.is_current",
            "v.effective_from",
            "v.effective_to",
        )
    )


def primary_stock_groups(memberships: DataFrame, stock_groups: DataFrame) -> DataFrame:
    """An item's product category is its primary stock group: the lowest stock_group_id it belongs to."""
    primary = memberships.groupBy("stock_item_id").agg(
        F.min("stock_group_id").alias("stock_group_id"),
        F.count("*").alias("stock_group_count"),
    )
    return primary.join(F.broadcast(stock_groups), "stock_group_id").select(
        "stock_item_id",
        F.col("stock_group_id").alias("product_category_id"),
        F.col("stock_group_name").alias("product_category"),
        "stock_group_count",
    )


def dim_stock_item(
    item_versions: DataFrame,
    memberships: DataFrame,
    stock_groups: DataFrame,
    suppliers: DataFrame,
    colors: DataFrame,
    package_types: DataFrame,
) -> DataFrame:
    versions = with_effective_interval(item_versions, "stock_item_id").alias("v")
    unit = package_types.select(
        F.col("package_type_id").alias("u_id"), F.col("package_type_name").alias("unit_package")
    )
    outer = package_types.select(
        F.col("package_type_id").alias("o_id"), F.col("package_type_name").alias("outer_package")
    )
    return (
        versions.join(F.broadcast(primary_stock_groups(memberships, stock_groups)), "stock_item_id", "left")
        .join(F.broadcast(suppliers.select("supplier_id", "supplier_name")), "supplier_id", "left")
        .join(F.broadcast(colors.select("color_id", "color_name")), "color_id", "left")
        .join(F.broadcast(unit), F.col("v.unit_package_id") == F.col("u_id"), "left")
        .join(F.broadcast(outer), F.col("v.outer_package_id") == F.col("o_id"), "left")
        .select(
            F.xxhash64("v.stock_item_id", "v.valid_from").alias("stock_item_key"),
            "v.stock_item_id",
            "v.stock_item_name",
            "product_category_id",
            F.coalesce("product_category", F.lit(UNCATEGORIZED)).alias("product_category"),
            F.coalesce("stock_group_count", F.lit(0)).alias("stock_group_count"),
            "v.brand",
            "v.size",
            F.col("color_name").alias("color"),
            "supplier_name",
            "unit_package",
            "outer_package",
            "v.unit_price",
            "v.recommended_retail_price",
            "v.tax_rate",
            "v.typical_weight_per_unit",
            "v.lead_time_days",
            "v.quantity_per_outer",
            "v.is_chiller_stock",
            "v.valid_from",
            "v.valid_to",
            "v.is_current",
            "v.effective_from",
            "v.effective_to",
        )
    )


def dim_date(spark: SparkSession, first: dt.date, last: dt.date) -> DataFrame:
    """Every day from January 1st of ``first``'s year to December 31st of ``last``'s year."""
    start, end = dt.date(first.year, 1, 1), dt.date(last.year, 12, 31)
    days = spark.sql(
        f"SELECT explode(sequence(DATE'{start.isoformat()}', DATE'{end.isoformat()}', INTERVAL 1 DAY))"
        " AS date"
    )
    return days.select(
        (F.year("date") * 10000 + F.month("date") * 100 + F.dayofmonth("date")).alias("date_key"),
        "date",
        F.year("date").alias("year"),
        F.quarter("date").alias("quarter"),
        F.month("date").alias("month"),
        F.date_format("date", "MMMM").alias("month_name"),
        F.dayofmonth("date").alias("day_of_month"),
        F.dayofweek("date").alias("day_of_week"),
        F.date_format("date", "EEEE").alias("day_name"),
        F.weekofyear("date").alias("iso_week"),
        F.dayofweek("date").isin(1, 7).alias("is_weekend"),
        F.trunc("date", "month").alias("month_start"),
    )
