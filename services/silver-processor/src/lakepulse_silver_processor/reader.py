"""Reading exactly the new bronze rows: the files added by Delta versions ``(last applied, v]``.

Bronze is append-only, so the rows of versions ``a+1..b`` are the rows of the files those commits
added with ``dataChange = true`` (compaction rewrites are skipped). The file list comes from the Delta
log (``DeltaLog.getChanges``); only those Parquet files are read — never a scan of the whole table.
Bronze's layout is projected onto the columns silver needs, so extra bronze columns do not matter and
a missing optional one (e.g. transaction order) reads as null.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakepulse_common.control_events import Layer
from lakepulse_common.storage import table_uri
from lakepulse_silver_processor import lake

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BronzeSlice:
    """The bronze rows of a version range, and how many there are (None: a file without statistics)."""

    frame: DataFrame
    rows: int | None


BRONZE_SCHEMA = T.StructType(
    [
        T.StructField("op", T.StringType()),
        T.StructField("before", T.StringType()),
        T.StructField("after", T.StringType()),
        T.StructField("_key", T.StringType()),
        T.StructField("source_lsn", T.LongType()),
        T.StructField("source_ts_ms", T.LongType()),
        T.StructField("source_snapshot", T.StringType()),
        T.StructField("transaction_id", T.StringType()),
        T.StructField("transaction_total_order", T.LongType()),
        T.StructField("_topic", T.StringType()),
        T.StructField("_partition", T.IntegerType()),
        T.StructField("_offset", T.LongType()),
    ]
)


def project_bronze(df: DataFrame) -> DataFrame:
    """Exactly the columns of :data:`BRONZE_SCHEMA`, typed; absent ones are nulls."""
    present = set(df.columns)
    return df.select(
        *(
            (F.col(f.name) if f.name in present else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in BRONZE_SCHEMA.fields
        )
    )


class BronzeReader:
    def __init__(self, spark: SparkSession, lake_root: str) -> None:
        self._spark = spark
        self._lake_root = lake_root

    def uri(self, table: str) -> str:
        return table_uri(self._lake_root, Layer.BRONZE, table)

    def latest_version(self, table: str) -> int:
        return lake.latest_version(self._spark, self.uri(table))

    def empty(self) -> DataFrame:
        return self._spark.createDataFrame([], BRONZE_SCHEMA)

    def read_versions(self, table: str, start: int, end: int) -> BronzeSlice:
        """Rows added by versions ``start..end`` inclusive (an empty frame when there are none)."""
        uri = self.uri(table)
        files = lake.added_files(self._spark, uri, start, end)
        log.info("bronze %s@%d..%d: %d added files", table, start, end, len(files))
        if not files:
            return BronzeSlice(self.empty(), 0)
        schema = lake.data_schema(self._spark, uri)
        frame = project_bronze(self._spark.read.schema(schema).parquet(*(f.path for f in files)))
        counts = [f.records for f in files]
        rows = None if any(c is None for c in counts) else sum(c for c in counts if c is not None)
        return BronzeSlice(frame, rows)
