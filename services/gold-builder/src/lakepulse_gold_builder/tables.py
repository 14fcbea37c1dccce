"""The gold tables: where they live, how they are laid out, and the only code that writes them.

Every gold table is a plain Delta table at ``<lake root>/gold/<name>`` with protocol (reader 1,
writer 2): no deletion vectors, no column mapping, no change data feed, no liquid clustering, no
``timestamp_ntz`` columns. Trino 476's Delta connector and delta-rs both read that protocol; OPTIMIZE
with Z-ordering only rewrites Parquet files, so it adds no table feature. Writes are either a full
overwrite (full rebuild), a ``replaceWhere`` over the affected partitions/keys (incremental), or an
overwrite of a small table; each is one atomic Delta commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from lakepulse_common.control_events import Layer
from lakepulse_common.progress import GOLD_BUILD_STATE_TABLE
from lakepulse_common.storage import for_delta_rs, for_spark, table_uri
from lakepulse_gold_builder import lakeio

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

TableKind = Literal["dimension", "fact", "mart", "internal"]

# Table properties set when a gold table is (re)created. Deletion vectors are off on purpose: Delta
# Spark would otherwise turn MERGE/DELETE into DV writes, a reader feature we do not rely on.
TABLE_PROPERTIES: dict[str, str] = {
    "delta.enableDeletionVectors": "false",
    "delta.enableChangeDataFeed": "false",
    "delta.checkpointInterval": "10",
}


@dataclass(frozen=True)
class GoldTable:
    name: str
    kind: TableKind
    description: str
    partition_by: tuple[str, ...] = ()
    zorder_by: tuple[str, ...] = ()
    sort_by: tuple[str, ...] = ()

    def uri(self, lake_root: str) -> str:
        return for_spark(table_uri(lake_root, Layer.GOLD, self.name))

    def delta_rs_uri(self, lake_root: str) -> str:
        return for_delta_rs(table_uri(lake_root, Layer.GOLD, self.name))


DIM_DATE = GoldTable("dim_date", "dimension", "one row per calendar day", sort_by=("date",))
DIM_GEOGRAPHY = GoldTable(
    "dim_geography", "dimension", "city → state province → sales territory (region) → country"
)
DIM_CUSTOMER = GoldTable(
    "dim_customer", "dimension", "SCD2 customer versions with category, buying group, geography"
)
DIM_STOCK_ITEM = GoldTable(
    "dim_stock_item", "dimension", "SCD2 stock item versions with primary stock group as product_category"
)
FACT_SALES_LINE = GoldTable(
    "fact_sales_line",
    "fact",
    "order-line grain sales, keyed to the dimension versions valid on the order date",
    partition_by=("order_month",),
    zorder_by=("order_date", "customer_id"),
    sort_by=("order_date", "order_id"),
)
FACT_INVENTORY_DAILY = GoldTable(
    "fact_inventory_daily",
    "fact",
    "daily snapshot of stock on hand per stock item",
    partition_by=("snapshot_date",),
)
FACT_SALES = GoldTable(
    "fact_sales",
    "mart",
    "the seed's gold.fact_sales: daily sales by order date × region × product category",
    zorder_by=("order_date", "region"),
    sort_by=("order_date", "region", "product_category"),
)
CUSTOMER_ANALYTICS = GoldTable(
    "customer_analytics",
    "mart",
    "per customer: first/last order, order count, lifetime value, recency/frequency/monetary",
    zorder_by=("customer_id",),
    sort_by=("customer_id",),
)
SALES_METRICS = GoldTable(
    "sales_metrics",
    "mart",
    "daily and monthly KPIs with growth against the previous period",
    sort_by=("period", "period_start"),
)
OPERATIONAL_REPORTS = GoldTable(
    "operational_reports",
    "mart",
    "stock on hand against reorder level, items to reorder, backorders",
    sort_by=("stock_item_id",),
)
BUILD_STATE = GoldTable(
    GOLD_BUILD_STATE_TABLE, "internal", "silver versions the gold tables reflect (one row per silver table)"
)

ALL_TABLES: tuple[GoldTable, ...] = (
    DIM_DATE,
    DIM_GEOGRAPHY,
    DIM_CUSTOMER,
    DIM_STOCK_ITEM,
    FACT_SALES_LINE,
    FACT_INVENTORY_DAILY,
    FACT_SALES,
    CUSTOMER_ANALYTICS,
    SALES_METRICS,
    OPERATIONAL_REPORTS,
)
BY_NAME: dict[str, GoldTable] = {table.name: table for table in (*ALL_TABLES, BUILD_STATE)}


def table_exists(spark: SparkSession, uri: str) -> bool:
    return lakeio.exists(spark, uri)


def _ordered(df: DataFrame, table: GoldTable) -> DataFrame:
    # Sorting within partitions keeps min/max statistics tight, so data skipping works without OPTIMIZE.
    return df.sortWithinPartitions(*table.sort_by) if table.sort_by else df


def overwrite(df: DataFrame, table: GoldTable, lake_root: str, *, max_records_per_file: int) -> None:
    """Replace the whole table (full rebuild, small dimensions); creates it with the gold properties."""
    writer = (
        _ordered(df, table)
        .write.format("delta")
        .mode("overwrite")
        .option("overwriteSchema", "true")
        .option("maxRecordsPerFile", str(max_records_per_file))
    )
    for key, value in TABLE_PROPERTIES.items():
        writer = writer.option(key, value)
    if table.partition_by:
        writer = writer.partitionBy(*table.partition_by)
    writer.save(table.uri(lake_root))


def replace_where(df: DataFrame, table: GoldTable, lake_root: str, predicate: str) -> None:
    """Atomically delete the rows matching ``predicate`` and insert ``df`` (whose rows all match it)."""
    (
        _ordered(df, table)
        .write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", predicate)
        .save(table.uri(lake_root))
    )


def latest_version(spark: SparkSession, table: GoldTable, lake_root: str) -> int:
    return lakeio.last_commit(spark, table.uri(lake_root)).version
