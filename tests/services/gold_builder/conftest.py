"""Fixtures of the gold-builder tests: a tiny seeded source and silver-shaped tables loaded from it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lakepulse_common.settings import LakePulseSettings
from lakepulse_gold_builder.config import SPARK_DEFAULTS, GoldBuilderSettings
from lakepulse_oltp.migrations import migrate
from lakepulse_oltp.seeding import seed
from tests.services.gold_builder import silver_loader

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SCALE = 0.0002  # the generator's floor: 50 orders (~175 lines), 20 customers, 30 items
AS_OF = dt.date(2016, 6, 30)  # the seed's history ends 2016-05-31
LOADED_AT = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)  # when capture started (initial SCD2 versions)


def gold_settings(base: LakePulseSettings, lake_root: str) -> GoldBuilderSettings:
    fields = {name: getattr(base, name) for name in LakePulseSettings.model_fields}
    fields["lake"] = base.lake.model_copy(update={"root": lake_root})
    # the service's own section types (with their defaults) are built from plain values
    fields["telemetry"] = base.telemetry.model_dump() | {"metrics_port": 0}
    fields["spark"] = {k: v for k, v in base.spark.model_dump().items() if k != "extra_conf"}
    return GoldBuilderSettings(**fields)


@pytest.fixture
def seeded_silver(
    fresh_database: LakePulseSettings, spark: SparkSession, tmp_path: Path
) -> Iterator[GoldBuilderSettings]:
    """A seeded source database and its silver tables; settings point at both."""
    settings = gold_settings(fresh_database, (tmp_path / "lake").as_uri())
    for key, value in SPARK_DEFAULTS.items():  # what the service's own session would be built with
        spark.conf.set(key, value)
    migrate(settings)
    seed(settings, scale=SCALE, seed=7, progress=False)
    silver_loader.load_all(spark, settings, LOADED_AT)
    yield settings
