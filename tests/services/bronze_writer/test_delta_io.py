"""Bronze compaction against real Spark and Delta."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakepulse_bronze_writer import delta_io
from lakepulse_bronze_writer.config import BronzeSettings
from lakepulse_bronze_writer.stream import configure_session

pytestmark = pytest.mark.integration

_MIN_FILE_SIZE = "spark.databricks.delta.optimize.minFileSize"


def _active_files(spark: SparkSession, uri: str) -> set[str]:
    return set(spark.read.format("delta").load(uri).inputFiles())


def test_compaction_merges_small_files_and_leaves_big_ones_alone(spark: SparkSession, tmp_path: Path) -> None:
    """Compaction must not rewrite the day's already-compacted files every time it runs."""
    uri = (tmp_path / "orders").as_uri()
    previous = spark.conf.get(_MIN_FILE_SIZE, None)
    configure_session(spark, BronzeSettings(compact_min_file_size_mb=1))
    try:

        def append(rows: int, width: int) -> None:
            payload = F.sha2(F.concat(F.col("id").cast("string"), F.lit(secrets.token_hex(8))), 512)
            frame = spark.range(rows).select(
                F.col("id"),
                F.repeat(payload, width).alias("after"),
                F.lit("2026-11-26").cast("date").alias("_ingest_date"),
            )
            frame.coalesce(1).write.format("delta").mode("append").partitionBy("_ingest_date").save(uri)

        append(20_000, 2)  # one file well above 1 MiB (incompressible hex)
        big = _active_files(spark, uri)
        for _ in range(3):
            append(10, 1)
        before = _active_files(spark, uri)
        assert len(before) == 4
        delta_io.compact(spark, uri, "2026-11-26")
        after = _active_files(spark, uri)
        assert big <= after  # the big file was not rewritten
        assert len(after) == 2  # the three small ones became one
        assert spark.read.format("delta").load(uri).count() == 20_030
    finally:
        if previous is None:
            spark.conf.unset(_MIN_FILE_SIZE)
        else:
            spark.conf.set(_MIN_FILE_SIZE, previous)


def test_the_creating_append_keeps_statistics_off_the_payload(spark: SparkSession, tmp_path: Path) -> None:
    """Min/max on row images and raw bytes skip nothing; the position and LSN columns keep theirs.

    The same creating append sets the checkpoint interval.
    """
    import json

    from lakepulse_bronze_writer.layout import DATA_LAYOUT, project

    uri = (tmp_path / "orders").as_uri()
    frame = project(
        spark.range(3).select(
            F.lit("c").alias("op"),
            (F.col("id") + 100).alias("source_lsn"),
            F.col("id").alias("_offset"),
            F.lit(False).alias("_is_duplicate"),
            F.concat(F.lit('{"order_id": '), F.col("id").cast("string"), F.lit("}")).alias("after"),
            F.lit(b"raw").alias("_raw_value"),
            F.lit("2026-11-26").cast("date").alias("_ingest_date"),
        ),
        DATA_LAYOUT,
    ).coalesce(1)
    for version in (0, 1):
        delta_io.append(frame, uri, app_id="t", txn_version=version, metadata={})
    properties = spark.sql(f"DESCRIBE DETAIL delta.`{tmp_path / 'orders'}`").first()["properties"]
    indexed = properties["delta.dataSkippingStatsColumns"].split(",")
    assert {"op", "source_lsn", "_offset", "_key", "_topic", "_partition"} <= set(indexed)
    assert not {"before", "after", "message", "_raw_value", "_headers", "_ingest_date"} & set(indexed)
    assert properties["delta.checkpointInterval"] == str(delta_io.CHECKPOINT_INTERVAL)
    log_files = sorted((tmp_path / "orders" / "_delta_log").glob("*.json"))
    log = [json.loads(line) for f in log_files for line in f.open()]
    stats = [json.loads(entry["add"]["stats"]) for entry in log if "add" in entry]
    assert len(stats) == 2
    for file_stats in stats:
        assert file_stats["maxValues"]["source_lsn"] == 102
        assert "after" not in file_stats["maxValues"] and "after" not in file_stats["nullCount"]
    assert sum(1 for entry in log if "metaData" in entry) == 1  # the second append left the metadata alone
