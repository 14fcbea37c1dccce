"""A produce/consume round trip through the real broker, and idempotent topic administration."""

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import ConfigResource

from lakepulse_common.kafka import (
    TopicSpec,
    create_admin,
    create_consumer,
    create_producer,
    ensure_topics,
    platform_topics,
    watermarks,
)
from lakepulse_common.kafka import _is_transient as is_transient
from tests.support import random_name

pytestmark = pytest.mark.integration


def test_produce_consume_round_trip(settings):
    topic = f"{settings.kafka.topic_prefix}.roundtrip"
    admin = create_admin(settings.kafka)
    ensure_topics(admin, [TopicSpec(topic, partitions=2, retention_ms=settings.kafka.retention_ms)])

    producer = create_producer(settings.kafka, "test-producer")
    acked = []
    for i in range(100):
        producer.produce(
            topic,
            key=str(i % 7).encode(),
            value=f"v{i}".encode(),
            on_delivery=lambda e, m: acked.append((e, m)),
        )
    assert producer.flush(30) == 0
    assert len(acked) == 100 and all(err is None for err, _ in acked)

    consumer = create_consumer(settings.kafka, "test-consumer", random_name("g"))
    consumer.subscribe([topic])
    seen = []
    try:
        while len(seen) < 100:
            message = consumer.poll(10)
            assert message is not None, f"timed out after {len(seen)} messages"
            assert message.error() is None
            seen.append(message.value().decode())
            consumer.store_offsets(message)  # stored only after "processing", as the services do
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
    finally:
        consumer.close()
    assert sorted(seen) == sorted(f"v{i}" for i in range(100))
    assert sum(tp.offset for tp in committed) == 100


def test_ensure_topics_creates_once_with_retention_and_policy(settings):
    admin = create_admin(settings.kafka)
    spec = TopicSpec(
        f"{settings.kafka.topic_prefix}.compact", 1, retention_ms=3_600_000, cleanup_policy="compact"
    )
    assert ensure_topics(admin, [spec]) == [spec.name]
    assert ensure_topics(admin, [spec]) == []
    resource = ConfigResource(ConfigResource.Type.TOPIC, spec.name)
    config = admin.describe_configs([resource])[resource].result()
    assert config["retention.ms"].value == "3600000"
    assert config["cleanup.policy"].value == "compact"


def test_platform_topics_exist_with_seven_day_retention(settings):
    admin = create_admin(settings.kafka)
    specs = platform_topics(settings.kafka)
    ensure_topics(admin, specs)
    metadata = admin.list_topics(timeout=10)
    for spec in specs:
        assert spec.name in metadata.topics
        assert spec.retention_ms == 7 * 24 * 3600 * 1000


def test_watermarks_of_a_topic_created_a_moment_ago_wait_for_its_leader(settings):
    """Created without waiting for metadata: the first answers may be 'not leader' or 'unknown'."""
    topic = f"{settings.kafka.topic_prefix}.{random_name('fresh')}"
    admin = create_admin(settings.kafka)
    for future in admin.create_topics(
        [TopicSpec(topic, 3, settings.kafka.retention_ms).to_new_topic()]
    ).values():
        future.result()
    producer = create_producer(settings.kafka, "test-producer")
    for i in range(10):
        producer.produce(topic, value=b"x", partition=i % 3)
    assert producer.flush(30) == 0
    consumer = create_consumer(settings.kafka, "test-watermarks", random_name("g"))
    try:
        marks = watermarks(consumer, topic, range(3))
    finally:
        consumer.close()
    assert marks == {0: (0, 4), 1: (0, 3), 2: (0, 3)}


@pytest.mark.unit
def test_only_leadership_and_retriable_errors_are_retried():
    assert is_transient(KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION)))
    assert is_transient(KafkaException(KafkaError(KafkaError.LEADER_NOT_AVAILABLE)))
    assert not is_transient(KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)))
    assert not is_transient(ValueError("not kafka"))
