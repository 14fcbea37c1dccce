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
