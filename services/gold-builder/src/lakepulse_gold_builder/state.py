"""Which silver versions the gold tables reflect: ``gold/_build_state``, one row per silver table.

Written last in every build, after all gold tables committed. A build that dies half-way leaves the old
state, so the next build recomputes the same impact again — every gold write is a deterministic
function of the pinned silver snapshot, so doing it twice gives the same rows.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pyspark.sql import types as T

from lakepulse_gold_builder import lakeio
from lakepulse_gold_builder.tables import BUILD_STATE, overwrite, table_exists

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_SCHEMA = T.StructType(
    [
        T.StructField("silver_table", T.StringType(), False),
        T.StructField("silver_version", T.LongType(), False),
        T.StructField("build_id", T.StringType(), False),
        T.StructField("built_at", T.TimestampType(), False),
    ]
)


def read_state(spark: SparkSession, lake_root: str) -> dict[str, int]:
    uri = BUILD_STATE.uri(lake_root)
    if not table_exists(spark, uri):
        return {}
    rows = lakeio.read_small(spark, uri, ["silver_table", "silver_version"])
    return {row["silver_table"]: int(row["silver_version"]) for row in rows}


def write_state(spark: SparkSession, lake_root: str, versions: dict[str, int], build_id: str) -> None:
    now = dt.datetime.now(dt.UTC)
    rows = [(table, version, build_id, now) for table, version in sorted(versions.items())]
    overwrite(
        spark.createDataFrame(rows, _SCHEMA).coalesce(1), BUILD_STATE, lake_root, max_records_per_file=0
    )
