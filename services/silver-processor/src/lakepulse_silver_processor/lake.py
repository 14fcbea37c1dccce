"""Delta Lake helpers: table existence, versions, idempotent-commit markers, added files, layout.

The last bronze version applied to a silver table is recorded *in the silver table's own commit* as a
Delta transaction identifier (``txnAppId = lakepulse-silver:<table>``, ``txnVersion`` = bronze version),
so "applied" and "recorded as applied" are one atomic commit. It is read back from the Delta log
through the JVM (``DeltaLog.update().transactions``): no table scan, no side state table.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from lakepulse_common import delta_log
from lakepulse_common.commit_ledger import USER_METADATA_KEY, CommitLedger
from lakepulse_common.spark import delta_table_exists, java_class
from lakepulse_common.storage import for_spark

log = logging.getLogger(__name__)

_TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
_TXN_VERSION = "spark.databricks.delta.write.txnVersion"
_USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"


def table_exists(spark: SparkSession, uri: str) -> bool:
    return delta_table_exists(spark, uri)


latest_version = delta_log.latest_version  # re-exported: the processor asks lake.*


def applied_version(spark: SparkSession, uri: str, app_id: str) -> int:
    """The ``txnVersion`` last committed under ``app_id``, or -1 (table or marker absent)."""
    if not table_exists(spark, uri):
        return -1
    found = delta_log.snapshot(spark, uri).transactions().get(app_id)
    return int(found.get()) if found.isDefined() else -1


def table_schema(spark: SparkSession, uri: str) -> T.StructType:
    """The table's schema from its log (no Spark job)."""
    return T.StructType.fromJson(json.loads(delta_log.snapshot(spark, uri).schema().json()))


def table_property(spark: SparkSession, uri: str, key: str) -> str | None:
    found = delta_log.snapshot(spark, uri).metadata().configuration().get(key)
    return str(found.get()) if found.isDefined() else None


def size_in_bytes(spark: SparkSession, uri: str) -> int:
    """The table's data size (the sum of its files), from the snapshot a MERGE into it reuses."""
    return int(delta_log.snapshot(spark, uri).sizeInBytes())


def data_schema(spark: SparkSession, uri: str) -> T.StructType:
    """The table schema without partition columns: what its Parquet files hold."""
    snapshot = delta_log.snapshot(spark, uri)
    schema = T.StructType.fromJson(json.loads(snapshot.schema().json()))
    columns = snapshot.metadata().partitionColumns()
    partition = {columns.apply(i) for i in range(columns.size())}
    return T.StructType([f for f in schema.fields if f.name not in partition])


class AddedFile(NamedTuple):
    path: str
    records: int | None  # from the file's statistics; None when the commit wrote none


def added_files(spark: SparkSession, uri: str, start_version: int, end_version: int) -> list[AddedFile]:
    """The data files added by versions ``start..end`` (inclusive), with absolute paths.

    Only ``add`` actions with ``dataChange = true``: files rewritten by OPTIMIZE carry rows that were
    already added once, so a compaction commit contributes nothing.
    """
    if end_version < start_version:
        return []
    table_log = delta_log.delta_log(spark, uri)
    root = table_log.dataPath().toString()
    file_ops = java_class(spark, "org.apache.spark.sql.delta.util.DeltaFileOperations")
    changes = table_log.getChanges(start_version, end_version, delta_log.no_option(spark), True)
    added: list[AddedFile] = []
    while changes.hasNext():
        actions = changes.next()._2()
        for i in range(actions.size()):
            action = actions.apply(i)
            if action.getClass().getSimpleName() == "AddFile" and action.dataChange():
                path = file_ops.absolutePath(root, action.path()).toString()
                added.append(AddedFile(path, _num_records(action.stats())))
    return added


def _num_records(stats: str | None) -> int | None:
    if not stats:
        return None
    value = json.loads(stats).get("numRecords")
    return int(value) if isinstance(value, int) else None


@contextmanager
def commit_markers(
    spark: SparkSession,
    *,
    app_id: str | None = None,
    txn_version: int | None = None,
    metadata: str | None = None,
) -> Iterator[None]:
    """Tag the DML commits run inside the block with a transaction id and/or user metadata.

    A MERGE whose (app_id, txn_version) is not newer than the recorded one is skipped by Delta.
    """
    conf = spark.conf
    keys: list[str] = []
    try:
        if app_id is not None and txn_version is not None:
            conf.set(_TXN_APP_ID, app_id)
            conf.set(_TXN_VERSION, str(txn_version))
            keys += [_TXN_APP_ID, _TXN_VERSION]
        if metadata is not None:
            conf.set(_USER_METADATA, metadata)
            keys.append(_USER_METADATA)
        yield
    finally:
        for key in keys:
            conf.unset(key)


def create_table(
    spark: SparkSession,
    uri: str,
    schema: T.StructType,
    *,
    partition_by: Sequence[str] = (),
    properties: dict[str, str] | None = None,
) -> None:
    """Create the table if it is missing (concurrent creators: the first one wins)."""
    columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in schema.fields)
    statement = f"CREATE TABLE IF NOT EXISTS delta.`{for_spark(uri)}` ({columns}) USING delta"
    if partition_by:
        statement += " PARTITIONED BY (" + ", ".join(f"`{c}`" for c in partition_by) + ")"
    if properties:
        statement += " TBLPROPERTIES (" + ", ".join(f"'{k}' = '{v}'" for k, v in properties.items()) + ")"
    spark.sql(statement)


def add_missing_columns(spark: SparkSession, uri: str, wanted: T.StructType) -> list[str]:
    """``ALTER TABLE ADD COLUMNS`` for the fields the table lacks; returns their names."""
    present = set(table_schema(spark, uri).fieldNames())
    missing = [f for f in wanted.fields if f.name not in present]
    if missing:
        columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
        spark.sql(f"ALTER TABLE delta.`{for_spark(uri)}` ADD COLUMNS ({columns})")
    return [f.name for f in missing]


def read(spark: SparkSession, uri: str) -> DataFrame:
    return spark.read.format("delta").load(for_spark(uri))


def append_once(
    df: DataFrame,
    uri: str,
    *,
    app_id: str | None,
    txn_version: int | None,
    ledger: CommitLedger | None = None,
    not_before_ms: int | None = None,
) -> None:
    """Append; with an (app_id, txn_version) a replay of the same version writes nothing.

    With a ``ledger`` the pair is a tag in the commit's user metadata, answered from memory (and the
    log after a restart) instead of Delta's transaction id, whose look-up replays the table's log in
    three Spark jobs per append; ``not_before_ms`` bounds that log scan (see ``commit_ledger``).
    """
    writer = df.write.format("delta").mode("append")
    if app_id is None or txn_version is None:
        writer.save(for_spark(uri))
        return
    if ledger is None:
        writer.option("txnAppId", app_id).option("txnVersion", txn_version).save(for_spark(uri))
        return

    def commit(marker: dict[str, Any]) -> None:
        writer.option("userMetadata", json.dumps({USER_METADATA_KEY: marker})).save(for_spark(uri))

    ledger.write_once(uri, app_id, txn_version, commit, not_before_ms=not_before_ms)


def commit_timestamp_ms(spark: SparkSession, uri: str, version: int) -> int | None:
    """When ``version`` of a table was committed (from its log entry), or None if it is gone."""
    for info in delta_log.commit_infos(spark, uri, version, version, fail_on_gaps=False):
        return info.timestamp_ms
    return None


def optimize(spark: SparkSession, uri: str, max_file_size_bytes: int, zorder_by: Sequence[str] = ()) -> None:
    """Compact small files (and purge deletion vectors) so MERGE cost stays flat as a table grows.

    Z-ordering by the primary key clusters keys into file ranges, so a batch touching recent keys
    (new orders, their lines) prunes every other file through min/max statistics.
    """
    from delta.tables import DeltaTable

    spark.conf.set("spark.databricks.delta.optimize.maxFileSize", str(max_file_size_bytes))
    builder = DeltaTable.forPath(spark, for_spark(uri)).optimize()
    if zorder_by:
        builder.executeZOrderBy(*zorder_by)
    else:
        builder.executeCompaction()
