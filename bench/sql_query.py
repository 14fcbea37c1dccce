"""Embedded SQL latency: ``lakepulse sql`` over the gold marts (DuckDB on delta-rs, no JVM).

Target: query p50 on a gold mart ≤ 100 ms. Each query of :data:`QUERIES` runs ``--warmup`` times
untimed, then ``--repeat`` times timed, through the function ``lakepulse sql`` calls
(:func:`lakepulse_cli.sql.run_query`: open the Delta tables the query names at their latest version,
register them as Arrow datasets, run, fetch the result) — everything a query costs once the command
has started. The whole command, a new ``lakepulse sql … --format json`` process (Python start,
imports, settings, output), is timed ``--command-repeat`` times as well, for what a shell user waits.

It needs a lake with gold tables: by default the local stack's, which ``make run`` and the freshness
stage of ``make bench`` leave behind (``--lake`` picks another).

    uv run python -m bench.sql_query --json OUT
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from deltalake import DeltaTable

from bench.freshness import percentiles
from lakepulse_cli.sql import list_tables, referenced_tables, run_query
from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.storage import for_delta_rs, table_uri

TARGET_P50_MS = 100.0
# What a user asks the marts first: the demo's summary, the newest periods, top customers, reorders.
QUERIES: dict[str, str] = {
    "revenue_by_region_and_category": (
        "SELECT region, product_category, sum(total_orders) AS orders, sum(total_revenue) AS revenue"
        " FROM gold.fact_sales GROUP BY region, product_category ORDER BY revenue DESC LIMIT 12"
    ),
    "latest_daily_metrics": (
        "SELECT period_start, orders, revenue, revenue_growth_pct FROM gold.sales_metrics"
        " WHERE period = 'day' ORDER BY period_start DESC LIMIT 10"
    ),
    "top_customers": (
        "SELECT customer_name, region, order_count, lifetime_value, recency_days"
        " FROM gold.customer_analytics ORDER BY lifetime_value DESC LIMIT 10"
    ),
    "items_to_reorder": (
        "SELECT stock_item_name, quantity_on_hand, reorder_level, reorder_quantity"
        " FROM gold.operational_reports WHERE needs_reorder ORDER BY reorder_quantity DESC LIMIT 20"
    ),
}
COMMAND_QUERY = "revenue_by_region_and_category"


def table_rows(lake_root: str, layer: str, table: str) -> int:
    """Rows of a Delta table from its files' statistics (no scan)."""
    delta = DeltaTable(for_delta_rs(table_uri(lake_root, layer, table)))
    actions = delta.get_add_actions(flatten=True)
    return int(sum(v for v in actions.column("num_records").to_pylist() if v is not None))


def time_query(lake_root: str, query: str, warmup: int, repeat: int) -> dict[str, Any]:
    timings_ms = []
    rows_out = 0
    for i in range(warmup + repeat):
        started = time.perf_counter()
        result = run_query(lake_root, query)
        elapsed_ms = (time.perf_counter() - started) * 1000
        rows_out = result.table.num_rows
        if i >= warmup:
            timings_ms.append(elapsed_ms)
    tables = {
        f"{layer}.{table}": table_rows(lake_root, layer, table) for layer, table in referenced_tables(query)
    }
    figures = {k: None if v is None else round(v, 1) for k, v in percentiles(timings_ms).items()}
    return {
        "sql": query,
        "table_rows": tables,
        "rows_out": rows_out,
        "runs": repeat,
        "p50_ms": figures["p50"],
        "p95_ms": figures["p95"],
        "min_ms": round(min(timings_ms), 1),
    }


def time_command(lake_root: str, query: str, repeat: int) -> dict[str, Any]:
    """The whole ``lakepulse sql`` command as a shell user runs it (a new process each time)."""
    command = [str(Path(sys.executable).parent / "lakepulse"), "sql", query, "--format", "json"]
    environment = os.environ | {"LAKEPULSE_LAKE__ROOT": lake_root}
    timings_ms = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, env=environment, check=True, capture_output=True)
        timings_ms.append((time.perf_counter() - started) * 1000)
    return {
        "runs": repeat,
        "p50_ms": round(statistics.median(timings_ms), 1),
        "min_ms": round(min(timings_ms), 1),
    }


def measure(lake_root: str, warmup: int, repeat: int, command_repeat: int) -> dict[str, Any]:
    present = set(list_tables(lake_root)["gold"])
    needed = {table for query in QUERIES.values() for _, table in referenced_tables(query)}
    if missing := sorted(needed - present):
        raise SystemExit(
            f"no gold tables {missing} in {lake_root}: run `make run` (or the freshness stage) first"
        )
    queries = {name: time_query(lake_root, query, warmup, repeat) for name, query in QUERIES.items()}
    for name, figures in queries.items():
        print(f"{name}: p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms ({figures['table_rows']})")
    slowest_p50 = max(figures["p50_ms"] for figures in queries.values())
    return {
        "lake_root": lake_root,
        "queries": queries,
        "mart_query_p50_ms": slowest_p50,  # the slowest query's p50: the figure held against the target
        "meets_target": slowest_p50 <= TARGET_P50_MS,
        "command": time_command(lake_root, QUERIES[COMMAND_QUERY], command_repeat) | {"query": COMMAND_QUERY},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lake", help="lake root URI (default: the local stack's)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs of each query first")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs of each query")
    parser.add_argument("--command-repeat", type=int, default=5, help="timed runs of the whole command")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    lake_root = args.lake or LakePulseSettings().lake_root
    results = measure(lake_root, args.warmup, args.repeat, args.command_repeat)
    print(
        f"slowest mart query p50 {results['mart_query_p50_ms']} ms (target ≤ {TARGET_P50_MS:g} ms);"
        f" whole command p50 {results['command']['p50_ms']} ms"
    )
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
