"""Fixtures of the silver-processor tests: a processor on a fresh lake, and a bronze writer for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lakepulse_common.settings import LakePulseSettings
from lakepulse_silver_processor.config import SPARK_DEFAULTS, SilverSettings
from lakepulse_silver_processor.metrics import SilverMetrics
from lakepulse_silver_processor.processor import SilverProcessor
from tests.services.silver_processor.bronze_rows import Bronze

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def spark(stack: LakePulseSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """The session's one SparkSession, with its scratch dirs outside the test stack's state dir.

    The stack's teardown kills every process whose command line mentions its state dir; the shared
    fixture's JVM does (derby home, warehouse), so a parallel pytest session ending would kill it.
    """
    from lakepulse_common.spark import build_spark_session

    scratch: Path = tmp_path_factory.mktemp("silver-spark")
    spark_settings = stack.spark.model_copy(
        update={"extra_conf": {**stack.spark.extra_conf, **SPARK_DEFAULTS}}
    )
    settings = stack.model_copy(update={"state_dir": scratch, "spark": spark_settings})
    session = build_spark_session(settings, "lakepulse-silver-tests")
    yield session
    session.stop()


@pytest.fixture
def processor(spark: SparkSession, lake_settings: LakePulseSettings) -> SilverProcessor:
    settings = SilverSettings(optimize_every_commits=0)
    return SilverProcessor(spark, lake_settings.lake_root, settings, SilverMetrics())


@pytest.fixture
def bronze(spark: SparkSession, lake_settings: LakePulseSettings) -> Bronze:
    return Bronze(spark, lake_settings.lake_root)
