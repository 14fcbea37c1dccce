"""Embedded SQL over the lake: DuckDB on Arrow datasets from delta-rs, no JVM.

Tables are addressed as ``bronze.x``, ``silver.x`` and ``gold.x``. Only the tables a query names
are opened (each as a lazily scanned Arrow dataset, so filters and projections are pushed down),
and ``as_of`` pins every one of them to a Delta version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from lakepulse_common.errors import LakePulseError
from lakepulse_common.storage import for_delta_rs, table_uri, validate_table_name

LAYERS = ("bronze", "silver", "gold")
_TABLE_REFERENCE = re.compile(r"\b(bronze|silver|gold)\s*\.\s*([a-z_][a-z0-9_]*)\b", re.IGNORECASE)


class QueryError(LakePulseError):
    """The query names an unknown table, or DuckDB rejected it."""


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table
    tables_read: dict[str, int]  # "layer.table" -> Delta version read


def referenced_tables(query: str) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for layer, table in _TABLE_REFERENCE.findall(query):
        seen[(layer.lower(), validate_table_name(table.lower()))] = None
    return list(seen)


def list_tables(lake_root: str) -> dict[str, list[str]]:
    """Tables present per layer (local lakes only: remote listing needs the object store's API)."""
    found: dict[str, list[str]] = {}
    for layer in LAYERS:
        directory = Path(for_delta_rs(f"{lake_root.rstrip('/')}/{layer}"))
        found[layer] = sorted(p.name for p in directory.glob("*") if (p / "_delta_log").is_dir())
    return found


def _open(lake_root: str, layer: str, table: str, as_of: int | None) -> DeltaTable:
    location = for_delta_rs(table_uri(lake_root, layer, table))
    try:
        return DeltaTable(location, version=as_of) if as_of is not None else DeltaTable(location)
    except TableNotFoundError as exc:
        raise QueryError(f"no such table: {layer}.{table}") from exc
    except Exception as exc:  # delta-rs raises plain exceptions for a missing version
        raise QueryError(f"cannot open {layer}.{table} at version {as_of}: {exc}") from exc


def _dataset(delta: DeltaTable, location: str) -> ds.Dataset:
    """The table as a lazily scanned Arrow dataset; local files through pyarrow's own filesystem.

    delta-rs's default filesystem is written in Python, and pyarrow's I/O threads call back into it.
    A scan that stops early (``LIMIT``) leaves those threads reading ahead; when the interpreter exits
    under them the process aborts or segfaults (``lakepulse sql "… LIMIT 1"`` on a partitioned
    table: 4 runs in 10). pyarrow's native local filesystem has no Python in its threads.
    """
    if location.startswith("s3://"):
        return delta.to_pyarrow_dataset()
    return delta.to_pyarrow_dataset(filesystem=pafs.SubTreeFileSystem(location, pafs.LocalFileSystem()))


def run_query(lake_root: str, query: str, *, as_of: int | None = None) -> QueryResult:
    connection = duckdb.connect()
    tables_read: dict[str, int] = {}
    try:
        for layer in LAYERS:
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
        for index, (layer, table) in enumerate(referenced_tables(query)):
            delta = _open(lake_root, layer, table, as_of)
            relation = f"__lakepulse_{index}"
            location = for_delta_rs(table_uri(lake_root, layer, table))
            connection.register(relation, _dataset(delta, location))
            connection.execute(f"CREATE VIEW {layer}.{table} AS SELECT * FROM {relation}")
            tables_read[f"{layer}.{table}"] = delta.version()
        try:
            result = connection.sql(query).to_arrow_table()
        except duckdb.Error as exc:
            raise QueryError(str(exc).splitlines()[0]) from exc
    finally:
        connection.close()
    return QueryResult(table=result, tables_read=tables_read)
