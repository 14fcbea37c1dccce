"""All Debezium conformance samples go through Kafka into the writer; each one's fate is checked."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer
from pyspark.sql import SparkSession

from lakepulse_bronze_writer.config import BronzeWriterSettings
from lakepulse_bronze_writer.delta_io import table_exists
from lakepulse_bronze_writer.envelope import (
    HEARTBEATS_TABLE,
    QUARANTINE_TABLE,
    TRANSACTIONS_TABLE,
    debezium_heartbeat_topic,
)
from lakepulse_common.storage import table_uri
from lakepulse_common.topics import TopicNames
from tests.services.bronze_writer.bronze_helpers import (
    Record,
    bronze,
    bronze_positions,
    make_stream,
    produce,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFORMANCE_DIR = Path("/work/shared/conformance/debezium")
# The table a sample's topic is named after when its envelope does not say (tombstone: the orders key).
_TOMBSTONE_TABLE = "orders"


def _samples() -> list[tuple[str, bytes | None, bytes | None]]:
    samples = []
    for path in sorted(CONFORMANCE_DIR.glob("*.json")):
        if path.name.endswith(".key.json"):
            continue
        key_path = path.with_name(path.name.removesuffix(".json") + ".key.json")
        key = key_path.read_bytes().strip() if key_path.exists() else None
        value = None if path.name == "tombstone.json" else path.read_bytes()  # "null" stands for no value
        samples.append((path.name, value, key))
    return samples


def _topic_and_fate(topics: TopicNames, name: str, value: bytes | None) -> tuple[str, str, str | None]:
    """(topic to send to, bronze table expected, op expected)."""
    if value is None:
        return topics.cdc(_TOMBSTONE_TABLE), _TOMBSTONE_TABLE, "tombstone"
    if name.startswith("transaction-") and "enriched" not in name:
        return topics.transaction, TRANSACTIONS_TABLE, None
    if name.startswith("heartbeat"):
        return debezium_heartbeat_topic(topics), HEARTBEATS_TABLE, None
    envelope = orjson.loads(value)
    envelope = envelope.get("payload", envelope) if "schema" in envelope else envelope
    table = envelope["source"]["table"]
    return topics.cdc(table), table, envelope["op"]


def test_every_conformance_sample_lands_in_bronze_exactly_once(
    spark: SparkSession, bronze_settings: BronzeWriterSettings, producer: Producer
) -> None:
    samples = _samples()
    assert len(samples) == 25 and sum(key is not None for _, _, key in samples) == 5  # 30 messages in all
    topics = TopicNames.from_settings(bronze_settings.kafka)
    plan = [(name, value, key, *_topic_and_fate(topics, name, value)) for name, value, key in samples]
    positions = produce(
        bronze_settings, producer, [Record(topic, value, key) for _, value, key, topic, _, _ in plan]
    )

    make_stream(spark, bronze_settings, producer).drain(timeout_s=480)

    expected_tables = {table for *_, table, _ in plan}
    assert not table_exists(spark, table_uri(bronze_settings.lake_root, "bronze", QUARANTINE_TABLE))
    found = Counter(bronze_positions(spark, bronze_settings, expected_tables))
    landed = {
        (table, row["_topic"], row["_offset"]): row
        for table in expected_tables
        for row in bronze(spark, bronze_settings, table).collect()
    }
    for (name, value, _, _, table, op), position in zip(plan, positions, strict=True):
        assert found[position] == 1, f"{name}: found {found[position]} times"
        row = landed.get((table, position.topic, position.offset))
        assert row is not None, f"{name} is not in bronze.{table}"
        if op is not None:
            assert row["op"] == op, name
        assert row["_raw_value"] == value, name
    assert sum(found.values()) == len(samples)
