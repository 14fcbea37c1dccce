"""The floor of Delta Lake on Spark on this machine: the cheapest operation of each kind, timed.

Silver's and gold's latency targets are about small batches, and small batches cost what the engine
costs per operation, not per row. This measures that per-operation cost in the same run as the stage
benchmarks, with the project's own SparkSession factory, on tables of **one row**, so nothing
LakePulse does (key ranges, markers, history, metadata columns) is in it:

* ``spark_job`` — ``spark.range(1).collect()``: one Spark job;
* ``delta_read`` — a new query reading a one-row Delta table (snapshot, file listing, scan);
* ``delta_append`` — appending one row (write job, statistics, optimistic commit);
* ``delta_merge`` — ``DeltaTable.merge`` of one changed row into a one-row table
  (``whenMatchedUpdateAll`` / ``whenNotMatchedInsertAll``), change data feed off;
* ``delta_merge_cdf`` — the same with the change data feed on (silver's tables have it: gold reads it);
* ``delta_replace_where`` — overwriting the one row with ``replaceWhere`` (gold's incremental write);
* ``gold_write_chain`` — the least a Spark-based incremental gold build must write for a batch of
  new orders, each write one row into its own one-row table: the order lines appended to the fact,
  then the four sales marts (``fact_sales``, ``sales_metrics``, ``customer_analytics``,
  ``operational_reports``) replaced concurrently — the marts aggregate the fact, so they follow it.
  No dimension, no inventory snapshot, no computation: gold's incremental target is compared with it.

Each is run ``--warmup`` times untimed, then ``--repeat`` times timed; p50 / p95 / min are reported.
A stage whose target lies below the matching floor cannot meet it with this engine on this machine.

    uv run python bench/delta_floor.py --json OUT
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.spark import build_spark_session

OPERATIONS = (
    "spark_job",
    "delta_read",
    "delta_append",
    "delta_merge",
    "delta_merge_cdf",
    "delta_replace_where",
    "gold_write_chain",
)
GOLD_SALES_MARTS = 4


def percentile(timings: list[float], q: float) -> float:
    """Nearest-rank percentile (the stage benchmarks' definition)."""
    ordered = sorted(timings)
    return ordered[max(0, round(q * len(ordered)) - 1)]


def summarize(timings: list[float]) -> dict[str, float]:
    return {
        "p50_s": round(statistics.median(timings), 3),
        "p95_s": round(percentile(timings, 0.95), 3),
        "min_s": round(min(timings), 3),
        "runs": len(timings),
    }


def timed(operation: Callable[[int], object], warmup: int, repeat: int) -> dict[str, float]:
    """Run ``operation(i)`` ``warmup`` times untimed, then ``repeat`` times timed."""
    timings = []
    for i in range(warmup + repeat):
        started = time.monotonic()
        operation(i)
        if i >= warmup:
            timings.append(time.monotonic() - started)
    return summarize(timings)


def one_row_table(spark: SparkSession, path: Path, change_data_feed: bool) -> str:
    uri = path.as_uri()
    frame = spark.createDataFrame([(1, "a", 0)], "id LONG, value STRING, version LONG")
    (
        frame.write.format("delta")
        .option("delta.enableChangeDataFeed", str(change_data_feed).lower())
        .option("delta.enableDeletionVectors", "false")
        .save(uri)
    )
    return uri


def merge_one_row(spark: SparkSession, uri: str) -> Callable[[int], object]:
    table = DeltaTable.forPath(spark, uri)

    def run(i: int) -> None:
        source = spark.createDataFrame([(1, f"v{i}", i + 1)], "id LONG, value STRING, version LONG")
        (
            table.alias("t")
            .merge(source.alias("s"), "t.id = s.id")
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )

    return run


def append_one_row(spark: SparkSession, uri: str, i: int) -> None:
    row = spark.createDataFrame([(i + 2, "b", 0)], "id LONG, value STRING, version LONG")
    row.write.format("delta").mode("append").save(uri)


def replace_one_row(spark: SparkSession, uri: str, i: int) -> None:
    row = spark.createDataFrame([(1, f"v{i}", i + 1)], "id LONG, value STRING, version LONG")
    row.write.format("delta").mode("overwrite").option("replaceWhere", "id = 1").save(uri)


def gold_write_chain(spark: SparkSession, workdir: Path) -> Callable[[int], object]:
    fact = one_row_table(spark, workdir / "chain_fact", change_data_feed=False)
    marts = [
        one_row_table(spark, workdir / f"chain_mart_{k}", change_data_feed=False)
        for k in range(GOLD_SALES_MARTS)
    ]

    def run(i: int) -> None:
        append_one_row(spark, fact, i)
        with ThreadPoolExecutor(GOLD_SALES_MARTS) as pool:
            for done in [pool.submit(replace_one_row, spark, uri, i) for uri in marts]:
                done.result()

    return run


def measure(spark: SparkSession, workdir: Path, warmup: int, repeat: int) -> dict[str, Any]:
    read_uri = one_row_table(spark, workdir / "read", change_data_feed=False)
    append_uri = one_row_table(spark, workdir / "append", change_data_feed=False)
    merge_uri = one_row_table(spark, workdir / "merge", change_data_feed=False)
    merge_cdf_uri = one_row_table(spark, workdir / "merge_cdf", change_data_feed=True)
    replace_uri = one_row_table(spark, workdir / "replace_where", change_data_feed=False)

    operations: dict[str, Callable[[int], object]] = {
        "spark_job": lambda _: spark.range(1).collect(),
        "delta_read": lambda _: spark.read.format("delta").load(read_uri).collect(),
        "delta_append": lambda i: append_one_row(spark, append_uri, i),
        "delta_merge": merge_one_row(spark, merge_uri),
        "delta_merge_cdf": merge_one_row(spark, merge_cdf_uri),
        "delta_replace_where": lambda i: replace_one_row(spark, replace_uri, i),
        "gold_write_chain": gold_write_chain(spark, workdir),
    }
    results: dict[str, Any] = {}
    for name in OPERATIONS:
        results[name] = timed(operations[name], warmup, repeat)
        print(f"{name}: p50 {results[name]['p50_s']:.3f}s p95 {results[name]['p95_s']:.3f}s")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs of each operation first")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs of each operation")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    spark = build_spark_session(LakePulseSettings(), "lakepulse-bench-delta-floor")
    try:
        with tempfile.TemporaryDirectory(prefix="lakepulse-bench-floor-") as workdir:
            results = measure(spark, Path(workdir), args.warmup, args.repeat)
    finally:
        spark.stop()
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
