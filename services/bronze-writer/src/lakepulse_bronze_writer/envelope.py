"""Debezium envelope parsing as Spark SQL expressions: one columnar pass, no Python UDF.

``before`` and ``after`` are declared as strings, so Spark keeps them as the JSON text of the row
images: bronze never converts a business value. A ``{"schema": …, "payload": …}`` wrapper
(``schemas.enable=true``) is unwrapped with a second ``from_json`` that runs only for wrapped rows.

Every Kafka record gets a ``_kind`` and a ``_route`` (the bronze table it lands in):

* ``data``: a change event (op c/r/u/d/t/m) → the table named by its topic;
* ``tombstone``: null value after a delete → the same table, with ``op = 'tombstone'``;
* ``heartbeat``: a value with only ``ts_ms`` → ``_heartbeats``;
* ``transaction``: BEGIN/END on the transaction topic → ``_transactions``;
* ``quarantine``: anything else → ``_quarantine`` with ``_reason``.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakepulse_common.progress import BRONZE_TRANSACTIONS_TABLE
from lakepulse_common.topics import TopicNames

QUARANTINE_TABLE = "_quarantine"
TRANSACTIONS_TABLE = BRONZE_TRANSACTIONS_TABLE
HEARTBEATS_TABLE = "_heartbeats"
AUDIT_TABLE = "_batch_audit"
SYSTEM_TABLES = frozenset({QUARANTINE_TABLE, TRANSACTIONS_TABLE, HEARTBEATS_TABLE, AUDIT_TABLE})

KNOWN_OPS = ("c", "r", "u", "d", "t", "m")
TRANSACTION_STATUSES = ("BEGIN", "END")
TOMBSTONE_OP = "tombstone"

_CORRUPT = "_corrupt"
ENVELOPE_DDL = (
    "schema STRING, payload STRING, before STRING, after STRING, op STRING, ts_ms BIGINT,"
    " source STRUCT<connector: STRING, name: STRING, snapshot: STRING, db: STRING, schema: STRING,"
    " table: STRING, txId: BIGINT, lsn: BIGINT, ts_ms: BIGINT>,"
    " transaction STRUCT<id: STRING, total_order: BIGINT, data_collection_order: BIGINT>,"
    " message STRING, status STRING, id STRING, event_count BIGINT, data_collections STRING,"
    f" {_CORRUPT} STRING"
)
_JSON_OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}
_STRING_MAP = "MAP<STRING, STRING>"


def debezium_heartbeat_topic(topics: TopicNames) -> str:
    """Where a Debezium connector with ``topic.prefix = <prefix>`` sends heartbeats."""
    return f"__debezium-heartbeat.{topics.prefix}"


def _parse(text: Column) -> Column:
    return F.from_json(text, ENVELOPE_DDL, _JSON_OPTIONS)


def _is_envelope_like(env: Column) -> Column:
    return (
        env["op"].isNotNull()
        | env["source"].isNotNull()
        | env["before"].isNotNull()
        | env["after"].isNotNull()
        | env["status"].isNotNull()
    )


def _is_schema_wrapper(outer: Column) -> Column:
    return (F.size(outer) == 2) & F.map_contains_key(outer, "payload") & F.map_contains_key(outer, "schema")


# Higher-order functions (``filter``, ``forall``) take their projection out of whole-stage code
# generation and cost about half of the parse, so none is used: headers are looked up by position, and
# keys of up to ``_UNROLLED`` fields are checked field by field (wider keys via a map of the image).
_UNROLLED = 4


def _header(name: str) -> Column:
    """The value of the first header called ``name`` (as Kafka's ``headers().lastHeader`` peers read it)."""
    position = F.array_position(F.col("headers")["key"], F.lit(name))
    return F.when(position > 0, F.element_at(F.col("headers")["value"], position.cast("int")).cast("string"))


def _key_field_matches(key_map: Column, row_image: Column, field: Column) -> Column:
    path = F.concat(F.lit("$['"), field, F.lit("']"))
    return key_map[field].eqNullSafe(F.call_function("get_json_object", row_image, path))


def _key_matches(key_map: Column, row_image: Column) -> Column:
    """Every field of the key equals the same field of the row image (compared as JSON text)."""
    keys = F.map_keys(key_map)
    unrolled = F.lit(True)
    for i in range(1, _UNROLLED + 1):
        field = F.element_at(keys, i)
        unrolled = unrolled & ((F.size(keys) < i) | _key_field_matches(key_map, row_image, field))
    # Wider keys: parse the image into a map and require every key entry to be one of its entries.
    image_map = F.from_json(row_image, _STRING_MAP)
    beyond = F.size(F.array_except(F.map_entries(key_map), F.map_entries(image_map))) == 0
    return F.when(F.size(keys) <= _UNROLLED, unrolled).otherwise(F.coalesce(beyond, F.lit(False)))


def parse_kafka_records(records: DataFrame, topics: TopicNames) -> DataFrame:
    """Kafka source rows → classified, flattened rows; pure function of the DataFrame (unit-testable).

    Expects the Kafka source columns (``key, value, topic, partition, offset, timestamp, headers``).
    Each JSON document is parsed once into its own column, in stages: an expensive expression used
    several times later is never inlined into each use (Spark's CollapseProject keeps such columns).
    """
    key_text = F.col("key").cast("string")
    # One projection holds the three JSON parses every row needs (envelope, key); later stages only
    # read fields of these struct/map columns, so no document is parsed twice.
    staged = records.select(
        "*",
        _parse(F.col("value").cast("string")).alias("_top"),
        key_text.alias("_key"),
        F.from_json(key_text, _STRING_MAP).alias("_key_outer"),
    )
    top = F.col("_top")
    top_ok = top.isNotNull() & top[_CORRUPT].isNull()
    wrapped = top_ok & top["payload"].isNotNull() & ~_is_envelope_like(top)
    key_outer = F.col("_key_outer")
    staged = staged.select(
        "*",
        wrapped.alias("_wrapped"),
        # Schema-wrapped rows are rare; their payload is parsed only for them.
        F.when(wrapped, _parse(top["payload"])).alias("_inner"),
        F.when(_is_schema_wrapper(key_outer), F.from_json(key_outer["payload"], _STRING_MAP))
        .otherwise(key_outer)
        .alias("_key_map"),
    )
    inner = F.col("_inner")
    staged = staged.select(
        *(c for c in staged.columns if c not in ("_top", "_inner", "_key_outer")),
        F.when(F.col("_wrapped") & inner.isNotNull() & inner[_CORRUPT].isNull(), inner)
        .when(top_ok & ~F.col("_wrapped"), top)
        .alias("_env"),
        F.when(
            F.col("topic").rlike("^" + topics.cdc_pattern + "$"),
            F.substring(F.col("topic"), len(topics.cdc_prefix) + 1, 1_000),
        ).alias("_topic_table"),
        (~top_ok).alias("_top_bad"),
    )
    env = F.col("_env")
    op = env["op"]
    key_map = F.col("_key_map")
    row_image = F.when(op == "d", env["before"]).otherwise(env["after"])
    # The key check reads only the key's fields out of the row image (get_json_object skips the
    # rest) instead of parsing the whole image into a map: the key usually has one field.
    image_is_object = F.ltrim(row_image).startswith("{")
    key_matches = _key_matches(key_map, row_image)
    checks_key = op.isin("c", "r", "u", "d") & key_map.isNotNull() & row_image.isNotNull()
    topic_table = F.col("_topic_table")
    is_tx_topic = F.col("topic") == F.lit(topics.transaction)
    is_heartbeat = (
        env.isNotNull()
        & op.isNull()
        & env["ts_ms"].isNotNull()
        & env["source"].isNull()
        & env["before"].isNull()
        & env["after"].isNull()
        & env["status"].isNull()
    )
    reason = (
        F.when(F.col("value").isNull(), F.when(topic_table.isNull(), F.lit("tombstone_on_unknown_topic")))
        .when(
            F.col("_top_bad"),
            F.when(
                F.from_json(F.col("value").cast("string"), _STRING_MAP).isNull(), F.lit("not_json")
            ).otherwise(F.lit("envelope_schema_mismatch")),
        )
        .when(env.isNull(), F.lit("payload_not_json"))
        .when(
            is_tx_topic,
            F.when(env["status"].isin(*TRANSACTION_STATUSES) & env["id"].isNotNull(), F.lit(None)).otherwise(
                F.lit("invalid_transaction_event")
            ),
        )
        .when(is_heartbeat, F.lit(None))
        .when(topic_table.isNull(), F.lit("unknown_topic"))
        .when(op.isNull(), F.lit("missing_op"))
        .when(~op.isin(*KNOWN_OPS), F.lit("unknown_op"))
        .when(env["source"].isNull(), F.lit("missing_source"))
        .when(env["source"]["lsn"].isNull() & (op != "m"), F.lit("missing_source_lsn"))
        .when(op.isin("c", "r", "u") & env["after"].isNull(), F.lit("missing_after"))
        .when((op == "d") & env["before"].isNull(), F.lit("missing_before"))
        .when(
            op.isin("c", "r", "u", "d") & F.col("_key").isNotNull() & key_map.isNull(), F.lit("key_not_json")
        )
        .when(checks_key & ~(image_is_object & key_matches), F.lit("key_payload_mismatch"))
    )
    kind = (
        F.when(F.col("_reason").isNotNull(), F.lit("quarantine"))
        .when(F.col("value").isNull(), F.lit("tombstone"))
        .when(is_tx_topic, F.lit("transaction"))
        .when(is_heartbeat, F.lit("heartbeat"))
        .otherwise(F.lit("data"))
    )
    staged = staged.select("*", reason.alias("_reason"))
    staged = staged.select("*", kind.alias("_kind"))
    route = (
        F.when(F.col("_kind") == "quarantine", F.lit(QUARANTINE_TABLE))
        .when(F.col("_kind") == "transaction", F.lit(TRANSACTIONS_TABLE))
        .when(F.col("_kind") == "heartbeat", F.lit(HEARTBEATS_TABLE))
        .otherwise(topic_table)
    )
    return staged.select(
        F.col("_kind"),
        route.alias("_route"),
        topic_table.alias("_target_table"),
        F.col("_reason"),
        F.when(F.col("_kind") == "tombstone", F.lit(TOMBSTONE_OP)).otherwise(op).alias("op"),
        env["source"]["lsn"].alias("source_lsn"),
        F.when(is_tx_topic, F.split(env["id"], ":")[0].try_cast("bigint"))
        .otherwise(env["source"]["txId"])
        .alias("source_tx_id"),
        env["source"]["ts_ms"].alias("source_ts_ms"),
        env["ts_ms"].alias("ts_ms"),
        env["source"]["snapshot"].alias("source_snapshot"),
        env["source"]["connector"].alias("source_connector"),
        env["source"]["name"].alias("source_name"),
        env["source"]["db"].alias("source_db"),
        env["source"]["schema"].alias("source_schema"),
        env["source"]["table"].alias("source_table"),
        env["transaction"]["id"].alias("transaction_id"),
        env["transaction"]["total_order"].alias("transaction_total_order"),
        env["transaction"]["data_collection_order"].alias("transaction_data_collection_order"),
        env["before"].alias("before"),
        env["after"].alias("after"),
        env["message"].alias("message"),
        env["status"].alias("tx_status"),
        env["id"].alias("tx_id"),
        env["event_count"].alias("tx_event_count"),
        env["data_collections"].alias("tx_data_collections"),
        F.col("_wrapped").alias("_schema_wrapped"),
        F.col("_key"),
        F.col("topic").alias("_topic"),
        F.col("partition").alias("_partition"),
        F.col("offset").alias("_offset"),
        F.col("timestamp").alias("_kafka_timestamp"),
        F.col("headers").alias("_headers"),
        _header("traceparent").alias("_traceparent"),
        F.col("value").alias("_raw_value"),
    )
