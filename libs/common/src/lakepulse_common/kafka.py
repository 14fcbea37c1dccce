"""The one Kafka client factory (confluent-kafka) and topic administration.

Typed :class:`KafkaSettings` are turned into librdkafka keys only here. Producers are idempotent with
``acks=all``; consumers never auto-commit (offsets are committed after the sink is durable).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from tenacity import (
    retry,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_delay,
    wait_random_exponential,
)

from lakepulse_common.errors import KafkaAdminError
from lakepulse_common.settings import KafkaSettings
from lakepulse_common.topics import TopicNames

log = logging.getLogger(__name__)


def base_config(kafka: KafkaSettings, client_id: str) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "client.id": client_id,
        "security.protocol": kafka.security_protocol,
    }
    if kafka.sasl_mechanism:
        config["sasl.mechanism"] = kafka.sasl_mechanism
        config["sasl.username"] = kafka.sasl_username or ""
        config["sasl.password"] = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
    return config


def redacted(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy safe to log: every password-like key is masked."""
    return {k: ("***" if "password" in k or "secret" in k else v) for k, v in config.items()}


def producer_config(kafka: KafkaSettings, client_id: str, **overrides: Any) -> dict[str, Any]:
    config = base_config(kafka, client_id) | {
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "batch.size": 1_000_000,
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 512 * 1024,
    }
    return config | overrides


def consumer_config(kafka: KafkaSettings, client_id: str, group_id: str, **overrides: Any) -> dict[str, Any]:
    config = base_config(kafka, client_id) | {
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "max.poll.interval.ms": kafka.max_poll_interval_ms,
    }
    return config | overrides


def create_producer(kafka: KafkaSettings, client_id: str, **overrides: Any) -> Producer:
    config = producer_config(kafka, client_id, **overrides)
    log.debug("kafka producer config %s", redacted(config))
    return Producer(config)


def create_consumer(kafka: KafkaSettings, client_id: str, group_id: str, **overrides: Any) -> Consumer:
    config = consumer_config(kafka, client_id, group_id, **overrides)
    log.debug("kafka consumer config %s", redacted(config))
    return Consumer(config)


def create_admin(kafka: KafkaSettings, client_id: str = "lakepulse-admin", **overrides: Any) -> AdminClient:
    return AdminClient(base_config(kafka, client_id) | overrides)


def _health_admin(kafka: KafkaSettings) -> AdminClient:
    # A probe expects "connection refused" while the broker starts: keep librdkafka quiet about it.
    return create_admin(kafka, "lakepulse-health", log_level=0)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    cleanup_policy: str = "delete"
    replication_factor: int = 1
    extra_config: Mapping[str, str] = field(default_factory=dict)

    def to_new_topic(self) -> NewTopic:
        config = {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}
        return NewTopic(
            self.name, self.partitions, self.replication_factor, config=config | dict(self.extra_config)
        )


def platform_topics(kafka: KafkaSettings) -> list[TopicSpec]:
    """The control-plane topics every deployment needs (CDC topics are created by the emitter)."""
    names = TopicNames.from_settings(kafka)
    rf = kafka.replication_factor
    return [
        TopicSpec(names.control, kafka.default_partitions, kafka.retention_ms, replication_factor=rf),
        TopicSpec(names.commands, 1, kafka.retention_ms, replication_factor=rf),
        TopicSpec(names.gold_changes, kafka.default_partitions, kafka.retention_ms, replication_factor=rf),
        TopicSpec(names.transaction, 1, kafka.retention_ms, replication_factor=rf),
    ]


def ensure_topics(admin: AdminClient, specs: Iterable[TopicSpec], timeout_s: float = 30.0) -> list[str]:
    """Create the topics that are missing; existing ones are left as they are. Returns the created names."""
    wanted = {spec.name: spec for spec in specs}
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    missing = [spec.to_new_topic() for name, spec in wanted.items() if name not in existing]
    if not missing:
        return []
    created: list[str] = []
    for name, future in admin.create_topics(missing, operation_timeout=timeout_s).items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise KafkaAdminError(f"cannot create topic {name}: {error}") from exc
    if created:
        _wait_until_listed(admin, created, timeout_s)
        log.info("created topics %s", ", ".join(sorted(created)))
    return created


def _wait_until_listed(admin: AdminClient, names: list[str], timeout_s: float) -> None:
    """Block until metadata lists every created topic.

    A successful CreateTopics response means the controller accepted the topic; the broker
    answering metadata requests may learn of it a moment later. Callers (and producers that
    start right away) expect the topic to be visible once this returns.
    """

    @retry(
        retry=retry_if_exception_type(KafkaAdminError),
        wait=wait_random_exponential(multiplier=0.05, max=1.0),
        stop=stop_after_delay(timeout_s),
        reraise=True,
    )
    def _probe() -> None:
        listed = admin.list_topics(timeout=timeout_s).topics
        absent = [name for name in names if name not in listed]
        if absent:
            raise KafkaAdminError(f"created topics not yet in metadata: {', '.join(absent)}")

    _probe()


def wait_for_broker(kafka: KafkaSettings, timeout_s: float = 60.0) -> int:
    """Block until the broker answers a metadata request; returns its broker count."""

    @retry(
        retry=retry_if_exception_type((KafkaException, KafkaAdminError)),
        wait=wait_random_exponential(multiplier=0.1, max=2.0),
        stop=stop_after_delay(timeout_s),
        reraise=True,
    )
    def _probe() -> int:
        metadata = _health_admin(kafka).list_topics(timeout=2.0)
        if not metadata.brokers:
            raise KafkaAdminError("metadata response lists no broker")
        return len(metadata.brokers)

    return _probe()


def broker_is_healthy(kafka: KafkaSettings, timeout_s: float = 2.0) -> bool:
    try:
        metadata = _health_admin(kafka).list_topics(timeout=timeout_s)
    except KafkaException:
        return False
    return bool(metadata.brokers)


_LEADERSHIP_ERRORS = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._TIMED_OUT,
    }
)


def _is_transient(exc: BaseException) -> bool:
    """A partition that just got created or changed leader answers with these for a moment."""
    if not isinstance(exc, KafkaException) or not exc.args or not isinstance(exc.args[0], KafkaError):
        return False
    error: KafkaError = exc.args[0]
    return bool(error.retriable()) or error.code() in _LEADERSHIP_ERRORS


def watermarks(
    consumer: Consumer, topic: str, partitions: Iterable[int], timeout_s: float = 10.0, within_s: float = 60.0
) -> dict[int, tuple[int, int]]:
    """Each partition's ``(low, high)`` offsets read from the broker (never cached).

    A topic the emitter created a moment ago may not have a leader yet; such answers are retried for
    ``within_s`` seconds instead of failing whoever asked.
    """

    @retry(
        retry=retry_if_exception(_is_transient),
        wait=wait_random_exponential(multiplier=0.1, max=2.0),
        stop=stop_after_delay(within_s),
        reraise=True,
    )
    def _read(partition: int) -> tuple[int, int]:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=timeout_s, cached=False
        )
        return int(low), int(high)

    return {partition: _read(partition) for partition in partitions}
