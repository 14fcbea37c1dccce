"""Compaction: after ``optimize_every_commits`` commits the table is Z-ordered by key, state unchanged."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.storage import for_spark
from lakepulse_silver_processor.config import SilverSettings
from lakepulse_silver_processor.metrics import SilverMetrics
from lakepulse_silver_processor.processor import SilverProcessor
from tests.services.silver_processor.bronze_rows import CUSTOMER_KEY, Bronze, delete, upsert
from tests.services.silver_processor.bronze_rows import customer as cust
from tests.services.silver_processor.expected import expected_row, read, silver_rows

pytestmark = pytest.mark.integration


def test_optimize_keeps_state_and_prunes_old_markers(
    spark: SparkSession, lake_settings: LakePulseSettings, bronze: Bronze
) -> None:
    root = lake_settings.lake_root
    settings = SilverSettings(optimize_every_commits=1, tombstone_retention_hours=1e-6)
    processor = SilverProcessor(spark, root, settings, SilverMetrics())
    bronze.append(
        "customers",
        [upsert(100, cust(2), CUSTOMER_KEY, op="c"), upsert(100, cust(1), CUSTOMER_KEY, op="c")],
    )
    bronze.append("customers", [delete(200, cust(1), CUSTOMER_KEY)])
    processor.apply("customers", 0)
    processor.apply("customers")
    operations = [
        r["operation"]
        for r in spark.sql(f"DESCRIBE HISTORY delta.`{for_spark(processor.uri('customers'))}`").collect()
    ]
    assert "OPTIMIZE" in operations
    assert silver_rows(spark, root, "customers") == {2: expected_row("customers", cust(2))}
    assert read(spark, root, "_tombstones") == []  # older than the (tiny) retention: pruned
