"""Helpers for the bronze-writer tests: produce records, read control events, read bronze tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Producer
from opentelemetry import trace
from pyspark.sql import DataFrame, SparkSession

from lakepulse_bronze_writer.config import BronzeWriterSettings
from lakepulse_bronze_writer.metrics import BronzeMetrics
from lakepulse_bronze_writer.stream import BronzeStream
from lakepulse_common.control_events import ControlEvent, EventKind
from lakepulse_common.kafka import TopicSpec, create_admin, create_consumer, ensure_topics
from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.storage import table_uri
from tests.support import random_name, wait_for


def writer_settings(
    lake_settings: LakePulseSettings, checkpoint_dir: Path, **bronze: object
) -> BronzeWriterSettings:
    settings = BronzeWriterSettings.model_validate(lake_settings.model_dump())
    defaults: dict[str, object] = {"checkpoint_dir": checkpoint_dir, "trigger_interval_s": 0.0}
    settings.bronze = settings.bronze.model_copy(update=defaults | bronze)
    settings.telemetry = settings.telemetry.model_copy(update={"metrics_port": 0})
    return settings


def make_stream(spark: SparkSession, settings: BronzeWriterSettings, producer: Producer) -> BronzeStream:
    return BronzeStream(spark, settings, producer, BronzeMetrics(), trace.get_tracer("bronze-tests"))


@dataclass(frozen=True)
class Record:
    topic: str
    value: bytes | None
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()
    partition: int = 0


@dataclass(frozen=True)
class Position:
    topic: str
    partition: int
    offset: int


def create_topics(settings: LakePulseSettings, names: Iterable[str], partitions: int = 1) -> None:
    specs = [TopicSpec(name, partitions, settings.kafka.retention_ms) for name in set(names)]
    ensure_topics(create_admin(settings.kafka), specs)


def produce(settings: LakePulseSettings, producer: Producer, records: Sequence[Record]) -> list[Position]:
    """Produce in order and return each record's Kafka position (from the delivery reports)."""
    create_topics(settings, {r.topic for r in records} | {f"{settings.kafka.topic_prefix}.control"})
    positions: list[Position | None] = [None] * len(records)
    errors: list[str] = []

    def report(index: int):  # type: ignore[no-untyped-def]
        def on_delivery(err, msg) -> None:  # type: ignore[no-untyped-def]
            if err is not None:
                errors.append(str(err))
            else:
                positions[index] = Position(msg.topic(), msg.partition(), msg.offset())

        return on_delivery

    for index, record in enumerate(records):
        producer.produce(
            record.topic,
            value=record.value,
            key=record.key,
            headers=list(record.headers),
            partition=record.partition,
            on_delivery=report(index),
        )
    assert producer.flush(30) == 0
    assert not errors, errors
    assert all(p is not None for p in positions)
    return [p for p in positions if p is not None]


def bronze(spark: SparkSession, settings: LakePulseSettings, table: str) -> DataFrame:
    return spark.read.format("delta").load(table_uri(settings.lake_root, "bronze", table))


def bronze_positions(
    spark: SparkSession, settings: LakePulseSettings, tables: Iterable[str]
) -> list[Position]:
    """Every Kafka position found in the given bronze tables, duplicates included."""
    found: list[Position] = []
    for table in tables:
        rows = bronze(spark, settings, table).select("_topic", "_partition", "_offset").collect()
        found.extend(Position(r[0], r[1], r[2]) for r in rows)
    return found


class ControlReader:
    """Reads commit events from the control topic (a fresh group, from the beginning)."""

    def __init__(self, settings: LakePulseSettings) -> None:
        self.topic = f"{settings.kafka.topic_prefix}.control"
        create_topics(settings, [self.topic], partitions=3)
        self.consumer = create_consumer(settings.kafka, "bronze-tests", random_name("g"))
        self.consumer.subscribe([self.topic])
        self.events: list[ControlEvent] = []

    def poll(self) -> list[ControlEvent]:
        for message in self.consumer.consume(500, timeout=0.5):
            if message.error() is None and message.value():
                event = ControlEvent.from_bytes(message.value())
                if event.kind is EventKind.COMMIT:
                    self.events.append(event)
        return self.events

    def versions(self, table: str) -> list[int]:
        return [e.delta_version for e in self.events if e.table == table and e.delta_version is not None]

    def wait_for_versions(self, table: str, upto: int, timeout_s: float = 60.0) -> list[int]:
        def reached() -> bool:
            self.poll()
            return upto in self.versions(table)

        wait_for(reached, timeout_s, f"control event for bronze.{table}@{upto}")
        return self.versions(table)

    def close(self) -> None:
        self.consumer.close()
