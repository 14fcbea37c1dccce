"""The column layout of every bronze table, shared by the Kafka stream and the file path.

Columns used for data skipping (``source_lsn``, ``_offset``, …) come first: Delta collects file
statistics on the first 32 columns only. Kafka-only columns are null for file rows and file-only
columns are null for Kafka rows, so both paths write the same shape into one table.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

_KAFKA_POSITION: dict[str, str] = {
    "_key": "STRING",
    "_topic": "STRING",
    "_partition": "INT",
    "_offset": "BIGINT",
    "_kafka_timestamp": "TIMESTAMP",
}
_FILE_POSITION: dict[str, str] = {
    "_source_file": "STRING",
    "_source_line": "BIGINT",
    "_source_file_sha256": "STRING",
}
_INGEST: dict[str, str] = {
    "_ingested_at": "TIMESTAMP",
    "_batch_id": "BIGINT",
    "_ingest_date": "DATE",
}
_TAIL: dict[str, str] = {
    "_headers": "ARRAY<STRUCT<key: STRING, value: BINARY>>",
    "_traceparent": "STRING",
    "_raw_value": "BINARY",
}

DATA_LAYOUT: dict[str, str] = {
    "op": "STRING",
    "source_lsn": "BIGINT",
    "source_tx_id": "BIGINT",
    "source_ts_ms": "BIGINT",
    "ts_ms": "BIGINT",
    "source_snapshot": "STRING",
    "source_connector": "STRING",
    "source_name": "STRING",
    "source_db": "STRING",
    "source_schema": "STRING",
    "source_table": "STRING",
    "transaction_id": "STRING",
    "transaction_total_order": "BIGINT",
    "transaction_data_collection_order": "BIGINT",
    "_is_duplicate": "BOOLEAN",
    "_schema_wrapped": "BOOLEAN",
    **_KAFKA_POSITION,
    **_FILE_POSITION,
    **_INGEST,
    "before": "STRING",
    "after": "STRING",
    "message": "STRING",
    **_TAIL,
}

TRANSACTIONS_LAYOUT: dict[str, str] = {
    "tx_status": "STRING",
    "tx_id": "STRING",
    "source_tx_id": "BIGINT",
    "tx_event_count": "BIGINT",
    "ts_ms": "BIGINT",
    "tx_data_collections": "STRING",
    "_schema_wrapped": "BOOLEAN",
    **_KAFKA_POSITION,
    **_INGEST,
    **_TAIL,
}

HEARTBEATS_LAYOUT: dict[str, str] = {
    "ts_ms": "BIGINT",
    "_schema_wrapped": "BOOLEAN",
    **_KAFKA_POSITION,
    **_INGEST,
    **_TAIL,
}

QUARANTINE_LAYOUT: dict[str, str] = {
    "_reason": "STRING",
    "_target_table": "STRING",
    **_KAFKA_POSITION,
    **_FILE_POSITION,
    **_INGEST,
    "_error_detail": "STRING",
    **_TAIL,
}


# Payload columns: the row images and the raw record. No query filters on them, so Delta's per-file
# min/max statistics there skip nothing, yet they were computed on every write (they fall inside
# Delta's default of the first 32 columns). Their values are unique per row, so Parquet's dictionary
# encoding of them is tried and abandoned in every file as well.
PAYLOAD_COLUMNS = ("before", "after", "message", "_error_detail", "_headers", "_traceparent", "_raw_value")


# Types Delta refuses in an explicit statistics column list (it has no min/max for them).
_NO_STATS_TYPES = ("boolean", "binary", "array", "map", "struct")


def stats_columns(dtypes: list[tuple[str, str]], partition_column: str) -> list[str]:
    """The columns Delta keeps file statistics on: all but the payload, the partition column and
    the types Delta has no min/max for. ``dtypes`` as ``DataFrame.dtypes`` gives them."""
    return [
        name
        for name, dtype in dtypes
        if name not in PAYLOAD_COLUMNS and name != partition_column and not dtype.startswith(_NO_STATS_TYPES)
    ]


def _column(df: DataFrame, name: str, ddl_type: str) -> Column:
    if name in df.columns:
        return F.col(name).cast(ddl_type).alias(name) if name != "_headers" else F.col(name)
    return F.lit(None).cast(ddl_type).alias(name)


def project(df: DataFrame, layout: dict[str, str]) -> DataFrame:
    """Select exactly the layout's columns in its order; absent ones become typed nulls."""
    return df.select(*(_column(df, name, ddl) for name, ddl in layout.items()))
