"""Reading silver: a pinned snapshot of every table the gold model needs, and what changed since.

A build reads each silver table at one explicit Delta version (time travel), so the dimensions, facts
and marts of one build see one consistent silver state even while silver keeps committing. Changes
between two versions come from silver's change data feed when the table has it enabled, and
otherwise from a diff of the two snapshots (correct, but a full read of both versions).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakepulse_common.control_events import Layer
from lakepulse_common.storage import for_spark, table_uri
from lakepulse_gold_builder import lakeio
from lakepulse_gold_builder.errors import SilverNotReadyError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

# Silver tables the gold model reads. History tables may be absent (then the current-state table
# stands in as a single version per key, see dimensions.versions_of).
CURRENT_TABLES: tuple[str, ...] = (
    "countries",
    "state_provinces",
    "cities",
    "customer_categories",
    "buying_groups",
    "customers",
    "suppliers",
    "colors",
    "package_types",
    "stock_groups",
    "stock_items",
    "stock_item_stock_groups",
    "stock_item_holdings",
    "orders",
    "order_lines",
)
HISTORY_TABLES: tuple[str, ...] = ("customers_history", "stock_items_history")
OPTIONAL_TABLES = frozenset(HISTORY_TABLES)

# Columns that identify what a change touched; everything gold derives keys from.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("order_id", "customer_id", "order_date"),
    "order_lines": ("order_id", "stock_item_id"),
    "customers_history": ("customer_id", "valid_from"),
    "customers": ("customer_id", "delivery_city_id", "last_edited_when"),
    "stock_items": ("stock_item_id", "last_edited_when"),
    "stock_items_history": ("stock_item_id", "valid_from"),
    "stock_item_stock_groups": ("stock_item_id",),
    "stock_item_holdings": ("stock_item_id",),
}

_METADATA_PREFIX = "_"


def silver_uri(lake_root: str, table: str) -> str:
    return for_spark(table_uri(lake_root, Layer.SILVER, table))


def current_versions(spark: SparkSession, lake_root: str, tables: Iterable[str]) -> dict[str, int]:
    """The newest committed version of each silver table that exists."""
    return {
        table: lakeio.last_commit(spark, uri).version
        for table in tables
        if lakeio.exists(spark, uri := silver_uri(lake_root, table))
    }


@dataclass
class SilverSnapshot:
    """Silver tables pinned at explicit versions; ``table(name)`` drops silver's metadata columns."""

    spark: SparkSession
    lake_root: str
    versions: dict[str, int]
    _cache: dict[str, DataFrame] = field(default_factory=dict)

    @classmethod
    def pin(cls, spark: SparkSession, lake_root: str) -> SilverSnapshot:
        versions = current_versions(spark, lake_root, (*CURRENT_TABLES, *HISTORY_TABLES))
        missing = [t for t in CURRENT_TABLES if t not in versions]
        if missing:
            raise SilverNotReadyError(f"silver tables missing under {lake_root}: {', '.join(missing)}")
        return cls(spark, lake_root, versions)

    def has(self, table: str) -> bool:
        return table in self.versions

    def table(self, name: str) -> DataFrame:
        if name not in self._cache:
            if name not in self.versions:
                raise SilverNotReadyError(f"silver table {name} is not available")
            df = (
                self.spark.read.format("delta")
                .option("versionAsOf", self.versions[name])
                .load(silver_uri(self.lake_root, name))
            )
            if "_op" in df.columns:  # silver history closes a deleted key with an `_op = 'd'` version
                df = df.where("_op IS NULL OR _op <> 'd'")
            keep = [c for c in df.columns if not c.startswith(_METADATA_PREFIX)]
            self._cache[name] = df.select(*keep)
        return self._cache[name]


def _cdf_enabled(spark: SparkSession, uri: str) -> bool:
    return lakeio.properties(spark, uri).get("delta.enableChangeDataFeed", "false").lower() == "true"


def changed_keys(
    spark: SparkSession, lake_root: str, table: str, from_version: int, to_version: int
) -> list[dict[str, Any]]:
    """Key columns (see :data:`KEY_COLUMNS`) of the before- and after-images of every row changed in
    ``(from_version, to_version]`` — all gold needs to know what to recompute; the recomputation itself
    reads the pinned snapshot."""
    uri = silver_uri(lake_root, table)
    columns = list(KEY_COLUMNS[table])
    if _cdf_enabled(spark, uri):
        cdf = (
            spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", from_version + 1)
            .option("endingVersion", to_version)
            .load(uri)
        )
        try:
            return [row.asDict() for row in cdf.select(*columns).distinct().collect()]
        except Exception as exc:  # the feed may start after from_version (enabled later): diff instead
            if "change data" not in str(exc).lower() and "cdc" not in str(exc).lower():
                raise
            log.warning("silver.%s: no change feed for %d..%d, diffing", table, from_version, to_version)
    before = spark.read.format("delta").option("versionAsOf", from_version).load(uri)
    after = spark.read.format("delta").option("versionAsOf", to_version).load(uri)
    data = [c for c in after.columns if not c.startswith(_METADATA_PREFIX) and c in before.columns]
    old, new = before.select(*data), after.select(*data)
    changed = old.exceptAll(new).unionByName(new.exceptAll(old)).select(*columns).distinct()
    return [row.asDict() for row in changed.collect()]
