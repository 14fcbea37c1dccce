"""The service's batching against real Kafka: a batch holding commits of a silver round is built only
once the round has ended, and a round whose end never comes delays it by ``round_wait_s`` at most."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from pyspark.sql import SparkSession

from lakepulse_common.control_events import ControlEvent
from lakepulse_common.kafka import (
    create_admin,
    create_consumer,
    create_producer,
    ensure_topics,
    platform_topics,
)
from lakepulse_common.runtime import Shutdown
from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.topics import TopicNames
from lakepulse_gold_builder.config import GoldBuilderSettings
from lakepulse_gold_builder.consumer import Batch, GoldService
from lakepulse_gold_builder.notifications import Publisher
from tests.services.gold_builder.conftest import gold_settings
from tests.services.gold_builder.silver_events import round_end, silver_commit
from tests.support import random_name, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def service_parts(
    lake_settings: LakePulseSettings, tmp_path: Path
) -> Iterator[tuple[GoldBuilderSettings, Consumer, Producer]]:
    settings = gold_settings(lake_settings, lake_settings.lake_root)
    ensure_topics(create_admin(settings.kafka), platform_topics(settings.kafka))
    consumer = create_consumer(settings.kafka, "gold-test", random_name("gold-"))
    yield settings, consumer, create_producer(settings.kafka, "silver-test")
    consumer.close()


def _service(
    spark: SparkSession, parts: tuple[GoldBuilderSettings, Consumer, Producer], round_wait_s: float
) -> GoldService:
    settings, consumer, producer = parts
    gold = settings.gold.model_copy(
        update={
            "round_wait_s": round_wait_s,
            "batch_window_s": 0.1,
            "poll_timeout_s": 0.2,
            "warm_snapshots": False,
        }
    )
    settings = settings.model_copy(update={"gold": gold})
    service = GoldService(
        settings,
        spark,
        consumer,
        Publisher(producer, TopicNames.from_settings(settings.kafka), max_keys=100),
        Shutdown(),
    )
    service.subscribe()
    return service


def _send(parts: tuple[GoldBuilderSettings, Consumer, Producer], event: ControlEvent) -> None:
    settings, _, producer = parts
    producer.produce(TopicNames.from_settings(settings.kafka).control, key=event.key, value=event.to_bytes())
    producer.flush(10)


def _poll_in_background(service: GoldService) -> tuple[threading.Thread, list[Batch]]:
    """The service's polling, in a thread, until it returns a batch that consumed something."""
    batches: list[Batch] = []

    def poll() -> None:
        batch = Batch()
        while not batch.messages:
            batch = service._poll_batch()
        batches.append(batch)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    return thread, batches


def test_a_batch_with_commits_of_an_open_round_waits_for_its_end(
    spark: SparkSession, service_parts: tuple[GoldBuilderSettings, Consumer, Producer]
) -> None:
    service = _service(spark, service_parts, round_wait_s=300)
    _send(service_parts, silver_commit("orders", 3, "round-1"))
    thread, batches = _poll_in_background(service)
    wait_for(lambda: service.rounds.waiting, 60, "the round's first commit to be consumed")
    _send(service_parts, silver_commit("order_lines", 4, "round-1"))
    thread.join(3)
    assert thread.is_alive(), "the batch was closed while its silver round was still open"

    _send(service_parts, round_end("round-1", {"orders": 3, "order_lines": 4}))
    thread.join(60)
    assert not thread.is_alive(), "the round ended but the batch was not closed"
    [batch] = batches
    assert sorted((e.table, e.delta_version) for e in batch.silver_events) == [
        ("order_lines", 4),
        ("orders", 3),
    ]
    assert not service.rounds.waiting


def test_a_round_that_never_ends_delays_the_batch_by_round_wait_at_most(
    spark: SparkSession, service_parts: tuple[GoldBuilderSettings, Consumer, Producer]
) -> None:
    service = _service(spark, service_parts, round_wait_s=2)
    _send(service_parts, silver_commit("customers", 7, "round-cut-short"))
    thread, batches = _poll_in_background(service)
    thread.join(60)
    assert not thread.is_alive()
    [batch] = batches
    assert [(e.table, e.delta_version) for e in batch.silver_events] == [("customers", 7)]
    assert not service.rounds.waiting  # settled: the next batch does not wait for it again


def test_by_default_a_batch_does_not_wait_for_rounds(
    spark: SparkSession, service_parts: tuple[GoldBuilderSettings, Consumer, Producer]
) -> None:
    settings = service_parts[0]
    service = _service(spark, service_parts, round_wait_s=settings.gold.round_wait_s)
    assert settings.gold.round_wait_s == 0
    _send(service_parts, silver_commit("orders", 2, "round-open"))
    thread, batches = _poll_in_background(service)
    thread.join(60)
    assert not thread.is_alive()
    assert [(e.table, e.delta_version) for e in batches[0].silver_events] == [("orders", 2)]
