"""Table maintenance the control plane can start: OPTIMIZE (Z-ordered where it pays) and VACUUM.

Incremental builds add a few small files per commit; :class:`CompactionPolicy` compacts a table after
``optimize_every_commits`` of them, so file counts stay bounded while the service runs. Z-ordering
(rather than liquid clustering) is used on purpose: it only rewrites Parquet files and adds no table
feature, so Trino 476 and delta-rs keep reading the tables. VACUUM removes files older than the
retention; below Delta's 7-day safety default the check is lifted for that one call only.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakepulse_common.storage import is_local, local_path
from lakepulse_gold_builder.tables import ALL_TABLES, BY_NAME, GoldTable, table_exists

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

_RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
SAFE_RETENTION_HOURS = 168.0


@dataclass(frozen=True)
class MaintenanceResult:
    """File counts: active files of the current version for OPTIMIZE; Parquet files in storage
    (referenced or not, -1 when the lake is not local) for VACUUM."""

    table: str
    action: str
    files_before: int
    files_after: int
    detail: str = ""


def resolve_tables(names: Iterable[str] | None) -> list[GoldTable]:
    """The gold tables named (all of them for None); unknown names are an error, not a silent skip."""
    if names is None:
        return list(ALL_TABLES)
    unknown = sorted(set(names) - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown gold tables: {', '.join(unknown)}")
    return [BY_NAME[name] for name in names]


def file_count(spark: SparkSession, table: GoldTable, lake_root: str) -> int:
    from delta.tables import DeltaTable

    row = DeltaTable.forPath(spark, table.uri(lake_root)).detail().select("numFiles").first()
    return int(row["numFiles"]) if row is not None else 0


def stored_files(uri: str) -> int:
    """Parquet files under a local table directory, referenced or not (what VACUUM can shrink)."""
    if not is_local(uri):
        return -1
    return sum(1 for _ in local_path(uri).rglob("*.parquet"))


def optimize(
    spark: SparkSession, lake_root: str, tables: Iterable[str] | None = None, *, zorder: bool = True
) -> list[MaintenanceResult]:
    """Compact small files; Z-order the tables that declare ``zorder_by``."""
    from delta.tables import DeltaTable

    results = []
    for table in resolve_tables(tables):
        uri = table.uri(lake_root)
        if not table_exists(spark, uri):
            continue
        before = file_count(spark, table, lake_root)
        builder = DeltaTable.forPath(spark, uri).optimize()
        if zorder and table.zorder_by:
            builder.executeZOrderBy(*table.zorder_by)
            detail = f"zorder by {', '.join(table.zorder_by)}"
        else:
            builder.executeCompaction()
            detail = "compaction"
        after = file_count(spark, table, lake_root)
        log.info("optimized gold.%s: %d → %d files (%s)", table.name, before, after, detail)
        results.append(MaintenanceResult(table.name, "optimize", before, after, detail))
    return results


def vacuum(
    spark: SparkSession, lake_root: str, tables: Iterable[str] | None = None, *, retain_hours: float
) -> list[MaintenanceResult]:
    """Delete data files no longer referenced by versions newer than ``retain_hours``."""
    from delta.tables import DeltaTable

    if retain_hours < 0:
        raise ValueError("retain_hours must be >= 0")
    results = []
    lift_check = retain_hours < SAFE_RETENTION_HOURS
    previous = spark.conf.get(_RETENTION_CHECK, "true") or "true"
    if lift_check:
        spark.conf.set(_RETENTION_CHECK, "false")
    try:
        for table in resolve_tables(tables):
            uri = table.uri(lake_root)
            if not table_exists(spark, uri):
                continue
            before = stored_files(uri)
            DeltaTable.forPath(spark, uri).vacuum(retain_hours)
            after = stored_files(uri)
            results.append(
                MaintenanceResult(table.name, "vacuum", before, after, f"retain {retain_hours:g}h")
            )
            log.info("vacuumed gold.%s (retain %gh)", table.name, retain_hours)
    finally:
        if lift_check:
            spark.conf.set(_RETENTION_CHECK, previous)
    return results


class CompactionPolicy:
    """Counts incremental commits per table and says which tables are due for OPTIMIZE."""

    def __init__(self, every_commits: int) -> None:
        self.every_commits = every_commits
        self._commits: Counter[str] = Counter()

    def record(self, tables: Iterable[str]) -> list[str]:
        if self.every_commits <= 0:
            return []
        self._commits.update(tables)
        due = sorted(name for name, count in self._commits.items() if count >= self.every_commits)
        for name in due:
            del self._commits[name]
        return due
