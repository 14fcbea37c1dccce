"""Exactly-once across crashes: a real writer process SIGKILLed before and after the Delta commit.

The writer runs as a subprocess with the TEST ONLY ``LAKEPULSE_BRONZE__FAULT_INJECTION`` setting, which
makes it SIGKILL itself inside the first non-empty micro-batch: ``before_delta_commit`` (data read,
nothing written) or ``after_delta_commit`` (every table and the audit row committed, control events
and the streaming checkpoint's commit not yet written). The restart runs in this process on the same
checkpoint; afterwards every Kafka offset must be in bronze exactly once and every Delta version
announced on the control topic, in order, with no gap. A second test replays the same batch id
in-process to show the ``txnVersion`` guard on its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Producer
from opentelemetry import trace
from pyspark.sql import SparkSession

from lakepulse_bronze_writer.batch_writer import BronzeBatchWriter
from lakepulse_bronze_writer.config import BronzeWriterSettings
from lakepulse_bronze_writer.control import Announcer
from lakepulse_bronze_writer.delta_io import latest_version, table_exists
from lakepulse_bronze_writer.envelope import AUDIT_TABLE, QUARANTINE_TABLE
from lakepulse_bronze_writer.metrics import BronzeMetrics
from lakepulse_bronze_writer.stream import kafka_source_options, subscribe_pattern
from lakepulse_common.storage import table_uri
from lakepulse_common.topics import TopicNames
from tests.services.bronze_writer.bronze_helpers import (
    ControlReader,
    Record,
    bronze,
    bronze_positions,
    create_topics,
    make_stream,
    produce,
)
from tests.services.bronze_writer.test_stream import change, record

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TABLES = ("orders", "customers", QUARANTINE_TABLE)


def _records(topics: TopicNames) -> list[Record]:
    records = [record(topics, change(i, 1000 + i), {"id": i}, partition=i % 2) for i in range(12)]
    records += [
        record(topics, change(i, 2000 + i, table="customers"), {"id": i}, topic=topics.cdc("customers"))
        for i in range(8)
    ]
    records.append(record(topics, b"garbage", None))
    return records


def _writer_env(settings: BronzeWriterSettings, fault: str) -> dict[str, str]:
    assert settings.spark.jars_dir is not None
    return os.environ | {
        "LAKEPULSE_STATE_DIR": str(settings.state_dir),
        "LAKEPULSE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "LAKEPULSE_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "LAKEPULSE_LAKE__ROOT": settings.lake_root,
        "LAKEPULSE_SPARK__JARS_DIR": str(settings.spark.jars_dir),
        "LAKEPULSE_BRONZE__CHECKPOINT_DIR": str(settings.bronze_checkpoint_dir),
        "LAKEPULSE_BRONZE__TRIGGER_INTERVAL_S": "0",
        "LAKEPULSE_BRONZE__FAULT_INJECTION": fault,
        "LAKEPULSE_TELEMETRY__METRICS_PORT": "0",
        "LAKEPULSE_TELEMETRY__LOG_FORMAT": "console",
    }


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("fault", ["before_delta_commit", "after_delta_commit"])
def test_killed_writer_restarts_with_every_offset_exactly_once(
    spark: SparkSession, bronze_settings: BronzeWriterSettings, producer: Producer, tmp_path: Path, fault: str
) -> None:
    topics = TopicNames.from_settings(bronze_settings.kafka)
    create_topics(bronze_settings, [topics.cdc("orders")], partitions=2)
    positions = produce(bronze_settings, producer, _records(topics))
    control = ControlReader(bronze_settings)
    try:
        log_file = tmp_path / "writer.log"
        with log_file.open("wb") as log:
            writer = subprocess.Popen(
                [sys.executable, "-m", "lakepulse_bronze_writer", "run"],
                env=_writer_env(bronze_settings, fault),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            returncode = writer.wait(timeout=400)
        assert returncode == -signal.SIGKILL, log_file.read_text()[-3000:]
        orders_uri = table_uri(bronze_settings.lake_root, "bronze", "orders")
        assert table_exists(spark, orders_uri) is (fault == "after_delta_commit")
        assert not (bronze_settings.bronze_checkpoint_dir / "stream" / "commits" / "0").exists()

        make_stream(spark, bronze_settings, producer).drain(timeout_s=480)

        found = Counter(bronze_positions(spark, bronze_settings, TABLES))
        assert {p: found[p] for p in positions} == dict.fromkeys(positions, 1)
        assert sum(found.values()) == len(positions)
        assert bronze(spark, bronze_settings, AUDIT_TABLE).count() == 1  # batch 0 audited once
        for table in (*TABLES, AUDIT_TABLE):
            newest = latest_version(spark, table_uri(bronze_settings.lake_root, "bronze", table))
            versions = control.wait_for_versions(table, newest)
            assert sorted(set(versions)) == list(range(newest + 1)), f"{table}: {versions}"
            assert versions == sorted(versions)
    finally:
        control.close()


def test_replaying_a_batch_id_appends_nothing(
    spark: SparkSession, bronze_settings: BronzeWriterSettings, producer: Producer
) -> None:
    topics = TopicNames.from_settings(bronze_settings.kafka)
    create_topics(bronze_settings, [topics.cdc("orders")], partitions=2)
    produce(bronze_settings, producer, _records(topics))
    batch = (
        spark.read.format("kafka")
        .options(**kafka_source_options(bronze_settings.kafka))
        .option("subscribePattern", subscribe_pattern(topics))
        .option("includeHeaders", "true")
        .load()
    )
    checkpoint = bronze_settings.bronze_checkpoint_dir / "stream"
    checkpoint.mkdir(parents=True)
    (checkpoint / "metadata").write_text('{"id":"replay-test-query"}')
    metrics = BronzeMetrics()
    announcer = Announcer(
        spark, producer, topics, bronze_settings.lake_root, checkpoint.parent / "announced.json", metrics
    )
    writer = BronzeBatchWriter(
        spark,
        bronze_settings.bronze,
        topics,
        bronze_settings.lake_root,
        checkpoint,
        announcer,
        metrics,
        trace.get_tracer("bronze-tests"),
    )
    writer(batch, 7)
    writer(batch, 7)  # the same micro-batch again, as Spark does after a crash before its checkpoint

    found = Counter(bronze_positions(spark, bronze_settings, TABLES))
    assert set(found.values()) == {1} and sum(found.values()) == 21
    assert latest_version(spark, table_uri(bronze_settings.lake_root, "bronze", "orders")) == 0
