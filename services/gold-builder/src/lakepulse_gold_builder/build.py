"""Building gold: the full rebuild, and the writer every build mode commits through.

A build pins one silver snapshot (:class:`SilverSnapshot`), writes dimensions first, then the
order-line fact, then the marts from the fact, then ``_build_state``; each table write is one Delta
commit followed by its control event and change notification. The full rebuild recreates every table
from silver (backfills, reprocessing, a new model version); the daily inventory snapshot is the
exception — history cannot be rebuilt from current-state silver, so only today's partition is replaced.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pyspark.sql import functions as F

from lakepulse_gold_builder import dimensions, facts, lakeio, marts
from lakepulse_gold_builder.notifications import BuildMode, Operation, Publisher
from lakepulse_gold_builder.sources import SilverSnapshot
from lakepulse_gold_builder.state import write_state
from lakepulse_gold_builder.tables import (
    BUILD_STATE,
    BY_NAME,
    CUSTOMER_ANALYTICS,
    DIM_CUSTOMER,
    DIM_DATE,
    DIM_GEOGRAPHY,
    DIM_STOCK_ITEM,
    FACT_INVENTORY_DAILY,
    FACT_SALES,
    FACT_SALES_LINE,
    OPERATIONAL_REPORTS,
    SALES_METRICS,
    GoldTable,
    overwrite,
    replace_where,
    table_exists,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakepulse_common.snapshot_warmer import SnapshotWarmer

log = logging.getLogger(__name__)

MAX_CONCURRENT_WRITES = 4

T = TypeVar("T")


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def sql_literals(values: Iterable[Any]) -> str:
    """Values as a SQL IN-list body; dates as DATE literals, numbers as they are (no user strings)."""
    parts = []
    for value in sorted(set(values)):
        if isinstance(value, dt.date):
            parts.append(f"DATE'{value.isoformat()}'")
        elif isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"unsupported literal {value!r}")
        else:
            parts.append(str(value))
    return ", ".join(parts)


def run_concurrently(*steps: Callable[[], T]) -> list[T]:
    """Run independent steps (table writes, small reads) as concurrent Spark jobs; their results in
    order, or the first failure re-raised after all ended.

    Each write targets its own table, so the Delta commits cannot conflict; what overlaps is the
    driver's planning and log I/O, which dominate small incremental jobs.
    """
    with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_WRITES, thread_name_prefix="gold-step") as pool:
        futures = [pool.submit(step) for step in steps]
        wait(futures)
    return [future.result() for future in futures]


def warm_committed(warmer: SnapshotWarmer, lake_root: str, tables: Iterable[str]) -> None:
    """Warm the new snapshots of the gold tables a build committed (``_build_state`` included), so
    the next build's reads and ``replaceWhere`` file listings find their state computed."""
    for name in sorted({*tables, BUILD_STATE.name}):
        warmer.warm(BY_NAME[name].uri(lake_root))


@dataclass
class BuildReport:
    build_id: str
    mode: BuildMode
    silver_versions: dict[str, int]
    commits: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    skipped: bool = False
    reason: str = ""


class GoldWriter:
    """Commits gold tables and announces each commit (when a publisher is given)."""

    def __init__(
        self,
        spark: SparkSession,
        lake_root: str,
        report: BuildReport,
        publisher: Publisher | None,
        *,
        max_records_per_file: int,
    ) -> None:
        self.spark = spark
        self.lake_root = lake_root
        self.report = report
        self.publisher = publisher
        self.max_records_per_file = max_records_per_file

    def overwrite(
        self, df: DataFrame, table: GoldTable, affected: Mapping[str, Iterable[Any]] | None = None
    ) -> int:
        overwrite(df, table, self.lake_root, max_records_per_file=self.max_records_per_file)
        return self._committed(table, "overwrite", affected)

    def replace_where(
        self, df: DataFrame, table: GoldTable, predicate: str, affected: Mapping[str, Iterable[Any]]
    ) -> int:
        if not table_exists(self.spark, table.uri(self.lake_root)):
            return self.overwrite(df, table, affected)
        replace_where(df, table, self.lake_root, predicate)
        return self._committed(table, "replace_where", affected)

    def _committed(
        self, table: GoldTable, operation: Operation, affected: Mapping[str, Iterable[Any]] | None
    ) -> int:
        commit = lakeio.last_commit(self.spark, table.uri(self.lake_root))
        version, written = commit.version, int(commit.metrics.get("numOutputRows", 0))
        self.report.commits[table.name] = version
        if self.publisher is not None:
            self.publisher.committed(
                table=table.name,
                delta_version=version,
                operation=operation,
                mode=self.report.mode,
                build_id=self.report.build_id,
                rows_written=written,
                affected=affected,
                silver_versions=self.report.silver_versions,
            )
        return version


@dataclass(frozen=True)
class GoldDimensions:
    customer: DataFrame
    stock_item: DataFrame

    @classmethod
    def read(cls, spark: SparkSession, lake_root: str) -> GoldDimensions:
        load = spark.read.format("delta").load
        return cls(customer=load(DIM_CUSTOMER.uri(lake_root)), stock_item=load(DIM_STOCK_ITEM.uri(lake_root)))


def customer_dimension(snapshot: SilverSnapshot, geography: DataFrame) -> DataFrame:
    history = snapshot.table("customers_history") if snapshot.has("customers_history") else None
    return dimensions.dim_customer(
        dimensions.versions_of(history, snapshot.table("customers")),
        snapshot.table("customer_categories"),
        snapshot.table("buying_groups"),
        geography,
    )


def stock_item_dimension(snapshot: SilverSnapshot) -> DataFrame:
    history = snapshot.table("stock_items_history") if snapshot.has("stock_items_history") else None
    return dimensions.dim_stock_item(
        dimensions.versions_of(history, snapshot.table("stock_items")),
        snapshot.table("stock_item_stock_groups"),
        snapshot.table("stock_groups"),
        snapshot.table("suppliers"),
        snapshot.table("colors"),
        snapshot.table("package_types"),
    )


def geography_dimension(snapshot: SilverSnapshot) -> DataFrame:
    return dimensions.dim_geography(
        snapshot.table("cities"), snapshot.table("state_provinces"), snapshot.table("countries")
    )


def date_dimension(spark: SparkSession, orders: DataFrame, as_of: dt.date) -> DataFrame:
    row = orders.agg(F.min("order_date").alias("first"), F.max("order_date").alias("last")).first()
    first = (row["first"] if row else None) or as_of
    last = max((row["last"] if row else None) or as_of, as_of)
    return dimensions.dim_date(spark, first, last)


def write_inventory_snapshot(
    writer: GoldWriter, snapshot: SilverSnapshot, stock_items: DataFrame, as_of: dt.date
) -> None:
    df = facts.fact_inventory_daily(snapshot.table("stock_item_holdings"), stock_items, as_of)
    writer.replace_where(
        df, FACT_INVENTORY_DAILY, f"snapshot_date = DATE'{as_of.isoformat()}'", {"snapshot_date": [as_of]}
    )


def full_rebuild(
    spark: SparkSession,
    lake_root: str,
    *,
    publisher: Publisher | None = None,
    as_of: dt.date | None = None,
    max_records_per_file: int = 2_000_000,
    mode: BuildMode = "full",
) -> BuildReport:
    """Recreate every gold table from the current silver state, then record the silver versions."""
    started = time.perf_counter()
    as_of = as_of or today_utc()
    snapshot = SilverSnapshot.pin(spark, lake_root)
    report = BuildReport(build_id=str(uuid.uuid4()), mode=mode, silver_versions=dict(snapshot.versions))
    writer = GoldWriter(spark, lake_root, report, publisher, max_records_per_file=max_records_per_file)
    load = spark.read.format("delta").load

    writer.overwrite(geography_dimension(snapshot), DIM_GEOGRAPHY)
    geography = load(DIM_GEOGRAPHY.uri(lake_root))
    run_concurrently(
        lambda: writer.overwrite(customer_dimension(snapshot, geography), DIM_CUSTOMER),
        lambda: writer.overwrite(stock_item_dimension(snapshot), DIM_STOCK_ITEM),
        lambda: writer.overwrite(date_dimension(spark, snapshot.table("orders"), as_of), DIM_DATE),
    )
    dims = GoldDimensions.read(spark, lake_root)

    fact = facts.fact_sales_line(
        snapshot.table("orders"), snapshot.table("order_lines"), dims.customer, dims.stock_item
    )
    writer.overwrite(fact, FACT_SALES_LINE)
    fact = load(FACT_SALES_LINE.uri(lake_root))
    sales = marts.sales_with_current_attributes(fact, dims.customer, dims.stock_item)
    holdings = snapshot.table("stock_item_holdings")
    run_concurrently(
        lambda: writer.overwrite(marts.fact_sales(sales), FACT_SALES),
        lambda: writer.overwrite(marts.sales_metrics(sales), SALES_METRICS),
        lambda: writer.overwrite(marts.customer_analytics(sales, dims.customer, as_of), CUSTOMER_ANALYTICS),
        lambda: writer.overwrite(
            marts.operational_reports(holdings, dims.stock_item, fact), OPERATIONAL_REPORTS
        ),
        lambda: write_inventory_snapshot(writer, snapshot, dims.stock_item, as_of),
    )
    write_state(spark, lake_root, snapshot.versions, report.build_id)
    report.elapsed_s = time.perf_counter() - started
    log.info("full gold build %s in %.1fs: %s", report.build_id, report.elapsed_s, report.commits)
    return report
