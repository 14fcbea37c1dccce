"""Silver MERGE benchmark: p95 of one MERGE of a ≤10k-change batch into an orders-shaped silver table.

For each table size the table is created exactly as the processor creates it (deletion vectors, change
data feed, key-range clustered files), then ``--batches`` batches are merged with the processor's own
``merge_current``: 70 % updates of existing keys, 20 % inserts, 10 % deletes. ``--keys uniform`` spreads
updates over the whole key range (worst case: every file is touched); ``--keys recent`` draws them
from the newest 5 % of keys (the usual shape of order traffic). Target: p95 ≤ 1 s.

    uv run python bench/silver_merge.py --sizes 500000 2000000 --json bench-silver.json
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakepulse_common.spark import build_spark_session
from lakepulse_silver_processor import lake, merge
from lakepulse_silver_processor.config import SilverProcessorSettings, SilverSettings
from lakepulse_silver_processor.metrics import SilverMetrics
from lakepulse_silver_processor.processor import SilverProcessor
from lakepulse_silver_processor.schemas import TABLES

TABLE = "orders"
TARGET_P95_S = 1.0


def _orders(spark: SparkSession, ids: DataFrame, lsn: int) -> DataFrame:
    """Orders-shaped silver rows (business columns and silver metadata) for the given ``order_id``s."""
    oid = F.col("order_id")
    return ids.select(
        oid.cast("long").alias("order_id"),
        (oid % 50_000 + 1).cast("int").alias("customer_id"),
        (oid % 20 + 1).cast("int").alias("salesperson_person_id"),
        F.date_add(F.lit("2024-01-01").cast("date"), (oid % 700).cast("int")).alias("order_date"),
        F.date_add(F.lit("2024-01-02").cast("date"), (oid % 700).cast("int")).alias("expected_delivery_date"),
        F.concat(F.lit("PO"), oid.cast("string")).alias("customer_purchase_order_number"),
        (oid % 7 == 0).alias("is_undersupply_backordered"),
        F.lit(None).cast("string").alias("comments"),
        F.lit("leave at the door").alias("delivery_instructions"),
        F.lit(None).cast("string").alias("internal_comments"),
        F.lit(None).cast("timestamp").alias("picking_completed_when"),
        F.current_timestamp().alias("last_edited_when"),
        (F.lit(lsn) + oid).cast("long").alias("_source_lsn"),
        F.lit(1).cast("long").alias("_source_seq"),
        F.current_timestamp().alias("_source_ts"),
        F.lit(0).cast("long").alias("_bronze_version"),
        F.current_timestamp().alias("_updated_at"),
    )


def _create(processor: SilverProcessor, rows: int, rows_per_file: int) -> str:
    spark = processor.spark
    schema = TABLES[TABLE]
    processor.tables.ensure_silver(TABLE, schema, [])
    uri: str = processor.uri(TABLE)
    files = max(1, rows // rows_per_file)
    initial = _orders(spark, spark.range(rows).withColumnRenamed("id", "order_id"), 0)
    # The layout the processor's OPTIMIZE … ZORDER BY (key) leaves: key-clustered files of
    # ``rows_per_file`` rows (optimized writes off here, or they would bin the files back together).
    initial.repartitionByRange(files, "order_id").sortWithinPartitions("order_id").write.format("delta").mode(
        "append"
    ).option("optimizeWrite", "false").save(uri)
    return uri


def _batch(
    spark: SparkSession, size: int, existing: int, next_id: int, lsn: int, keys: str, rng: random.Random
) -> DataFrame:
    updates, inserts = int(size * 0.7), int(size * 0.2)
    deletes = size - updates - inserts
    low = 0 if keys == "uniform" else int(existing * 0.95)
    touched = rng.sample(range(low, existing), updates + deletes)
    ids = [(k, "u") for k in touched[:updates]] + [(k, "d") for k in touched[updates:]]
    ids += [(next_id + i, "c") for i in range(inserts)]
    frame = spark.createDataFrame(ids, "order_id LONG, _op STRING")
    rows = _orders(spark, frame.select("order_id"), lsn + 10_000_000_000)
    return rows.join(frame, "order_id")


def run(
    sizes: list[int],
    batch_size: int,
    batches: int,
    keys: str,
    workdir: Path,
    driver_memory: str,
    out: Path | None,
    rows_per_file: int,
) -> list[dict[str, Any]]:
    # Jars come from the configured state dir (make setup); scratch files go to the temporary one.
    base = SilverProcessorSettings()
    spark_settings = base.spark.model_copy(update={"driver_memory": driver_memory})
    settings = base.model_copy(update={"state_dir": workdir, "spark": spark_settings})
    spark = build_spark_session(settings, "lakepulse-bench-silver-merge")
    schema = TABLES[TABLE]
    columns = list(schema.column_names)
    rng = random.Random(7)
    results: list[dict[str, Any]] = []
    for size in sizes:
        root = (workdir / f"lake-{size}").as_uri()
        processor = SilverProcessor(spark, root, SilverSettings(), SilverMetrics())
        began = time.monotonic()
        uri = _create(processor, size, rows_per_file)
        load_s = time.monotonic() - began
        existing, next_id = size, size
        timings: list[float] = []
        for i in range(batches + 1):  # the first batch warms the JVM up and is not counted
            source = _batch(spark, batch_size, existing, next_id, i * batch_size, keys, rng).localCheckpoint()
            started = time.monotonic()
            # As the processor does: the key range comes out of the batch's counting aggregation.
            key_range = source.agg(*merge.key_bound_columns(schema.primary_key)).first()
            assert key_range is not None  # an aggregation without grouping always returns one row
            bounds = merge.key_bounds(key_range, schema.primary_key)
            small = batch_size <= processor.settings.merge_broadcast_max_rows
            merge.merge_current(
                spark, uri, source, schema.primary_key, columns, bounds, broadcast_source=small
            )
            elapsed = time.monotonic() - started
            next_id += int(batch_size * 0.2)
            if i:
                timings.append(elapsed)
            print(f"size={size} batch={i} merge={elapsed:.2f}s")
        rows_after = lake.read(spark, uri).count()
        timings.sort()
        p95 = timings[max(0, round(0.95 * len(timings)) - 1)]
        results.append(
            {
                "table_rows": size,
                "rows_after": rows_after,
                "batch_changes": batch_size,
                "batches": batches,
                "keys": keys,
                "rows_per_file": rows_per_file,
                "initial_load_s": round(load_s, 2),
                "merge_p50_s": round(statistics.median(timings), 3),
                "merge_p95_s": round(p95, 3),
                "merge_max_s": round(timings[-1], 3),
                "target_p95_s": TARGET_P95_S,
                "meets_target": p95 <= TARGET_P95_S,
            }
        )
        if out is not None:  # after every size, so a long run still leaves its figures
            out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    spark.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[500_000, 2_000_000])
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--keys", choices=["uniform", "recent"], default="uniform")
    parser.add_argument("--driver-memory", default="2g")
    parser.add_argument(
        "--rows-per-file", type=int, default=100_000, help="key-clustered file size of the initial table"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lakepulse-bench-silver-") as workdir:
        results = run(
            args.sizes,
            args.batch_size,
            args.batches,
            args.keys,
            Path(workdir),
            args.driver_memory,
            args.json,
            args.rows_per_file,
        )
    for r in results:
        verdict = "met" if r["meets_target"] else "missed"
        print(
            f"{r['table_rows']:>9} rows: MERGE p50 {r['merge_p50_s']:.2f}s p95 {r['merge_p95_s']:.2f}s"
            f" max {r['merge_max_s']:.2f}s (target p95 <= {TARGET_P95_S}s: {verdict})"
        )


if __name__ == "__main__":
    main()
