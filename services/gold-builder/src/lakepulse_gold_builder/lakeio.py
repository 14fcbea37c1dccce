"""Cheap Delta log look-ups — latest version, table properties, last commit's metrics — without a
Spark job. An incremental build asks a few dozen of these; through Spark each costs a job (and a
log replay), through delta-rs a local log read of milliseconds. Lakes that are not on the local
filesystem go through Spark's ``DeltaTable``, which already holds their credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from deltalake import DeltaTable as RsDeltaTable

from lakepulse_common.spark import delta_table_exists
from lakepulse_common.storage import is_local, local_path

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class Commit:
    version: int
    metrics: dict[str, Any] = field(default_factory=dict)


def _rs(uri: str) -> RsDeltaTable | None:
    if not is_local(uri):
        return None
    return RsDeltaTable(str(local_path(uri)))


def exists(spark: SparkSession, uri: str) -> bool:
    """A table exists once its first commit is written (delta-rs refuses a bare ``_delta_log``)."""
    return delta_table_exists(spark, uri)


def last_commit(spark: SparkSession, uri: str) -> Commit:
    rs = _rs(uri)
    if rs is not None:
        (entry,) = rs.history(1)
        return Commit(int(entry["version"]), dict(entry.get("operationMetrics") or {}))
    from delta.tables import DeltaTable

    row = DeltaTable.forPath(spark, uri).history(1).select("version", "operationMetrics").first()
    assert row is not None  # an existing Delta table has at least one commit
    return Commit(int(row["version"]), dict(row["operationMetrics"] or {}))


def properties(spark: SparkSession, uri: str) -> dict[str, str]:
    rs = _rs(uri)
    if rs is not None:
        return dict(rs.metadata().configuration)
    from delta.tables import DeltaTable

    row = DeltaTable.forPath(spark, uri).detail().select("properties").first()
    return dict((row["properties"] if row else None) or {})


def read_small(spark: SparkSession, uri: str, columns: list[str]) -> list[dict[str, Any]]:
    """Every row of a small table (a few hundred rows at most) as dicts."""
    rs = _rs(uri)
    if rs is not None:
        return list(rs.to_pyarrow_table(columns=columns).to_pylist())
    return [row.asDict() for row in spark.read.format("delta").load(uri).select(*columns).collect()]


def column_range(spark: SparkSession, uri: str, column: str) -> tuple[Any, Any]:
    """Smallest and largest value of a column of a small table (``(None, None)`` when empty)."""
    rs = _rs(uri)
    if rs is not None:
        import pyarrow.compute as pc

        bounds = pc.min_max(rs.to_pyarrow_table(columns=[column]).column(column)).as_py()
        return bounds["min"], bounds["max"]
    from pyspark.sql import functions as F

    row = spark.read.format("delta").load(uri).agg(F.min(column), F.max(column)).first()
    return (row[0], row[1]) if row is not None else (None, None)


def first_value(spark: SparkSession, uri: str, column: str) -> Any:
    """The value of ``column`` in some row (for columns that hold one value per table), or None."""
    rs = _rs(uri)
    if rs is not None:
        head = rs.to_pyarrow_dataset().head(1, columns=[column])
        return head.column(column)[0].as_py() if head.num_rows else None
    rows = spark.read.format("delta").load(uri).select(column).limit(1).collect()
    return rows[0][column] if rows else None


def has_partition(spark: SparkSession, uri: str, column: str, value: str) -> bool:
    """Whether a table partitioned by ``column`` holds files for ``value`` (read from the log only)."""
    rs = _rs(uri)
    if rs is not None:
        return bool(rs.file_uris(partition_filters=[(column, "=", value)]))
    from pyspark.sql import functions as F

    df = spark.read.format("delta").load(uri)
    return df.where(F.col(column) == F.lit(value)).limit(1).count() > 0
