"""Fixtures of the control-api tests: the app on a fresh database and lake, a fake service's producer.

The "fake service" publishes ``job_progress``, ``commit``, ``table_status`` and ``heartbeat`` events
through the real Kafka, exactly as a pipeline service does: it is a protocol peer, not a mock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from fastapi.testclient import TestClient
from pydantic import SecretStr

from lakepulse_common.control_events import Command, ControlEvent
from lakepulse_common.kafka import (
    create_admin,
    create_consumer,
    create_producer,
    ensure_topics,
    platform_topics,
)
from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.topics import TopicNames
from lakepulse_control_api.app import create_app
from lakepulse_control_api.config import ControlApiServiceSettings, ControlSettings
from tests.support import random_name, wait_for

TOKEN = "test-token-" + "x" * 24
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def control_api_settings(
    fresh_database: LakePulseSettings, lake_settings: LakePulseSettings, **control: Any
) -> ControlApiServiceSettings:
    fields = {name: getattr(fresh_database, name) for name in LakePulseSettings.model_fields}
    fields["lake"] = lake_settings.lake
    fields["heartbeat_interval_s"] = 1.0
    fields["control_api"] = fresh_database.control_api.model_copy(update={"tokens": [SecretStr(TOKEN)]})
    options: dict[str, Any] = {"consumer_groups": {}, "lag_cache_s": 0.0, "max_concurrent_jobs": 3}
    options.update(control)
    return ControlApiServiceSettings(**fields, control=ControlSettings(**options))


@pytest.fixture
def api_settings(
    fresh_database: LakePulseSettings, lake_settings: LakePulseSettings
) -> ControlApiServiceSettings:
    return control_api_settings(fresh_database, lake_settings)


@pytest.fixture
def client(api_settings: ControlApiServiceSettings) -> Iterator[TestClient]:
    """The app with its lifespan running (migrations done, control-topic reader caught up)."""
    with TestClient(create_app(api_settings)) as test_client:
        plane = test_client.app.state.plane  # type: ignore[attr-defined]
        assert plane.consumer.wait_caught_up(30), "control-topic reader did not start"
        yield test_client


@pytest.fixture
def service_producer(api_settings: ControlApiServiceSettings) -> Iterator[Callable[[ControlEvent], None]]:
    """Publish a control event as a pipeline service would (synchronously acknowledged)."""
    ensure_topics(create_admin(api_settings.kafka), platform_topics(api_settings.kafka))
    producer: Producer = create_producer(api_settings.kafka, "fake-service", **{"linger.ms": 0})
    topic = TopicNames.from_settings(api_settings.kafka).control

    def publish(event: ControlEvent) -> None:
        producer.produce(topic, key=event.key, value=event.to_bytes())
        assert producer.flush(10) == 0, "control event not acknowledged"

    yield publish
    producer.flush(10)


@pytest.fixture
def command_reader(api_settings: ControlApiServiceSettings) -> Iterator[Callable[[int], list[Command]]]:
    """Read commands as the target services would; returns every command seen so far."""
    consumer: Consumer = create_consumer(api_settings.kafka, "fake-service", random_name("cmd-"))
    consumer.subscribe([TopicNames.from_settings(api_settings.kafka).commands])
    seen: list[Command] = []

    def read(at_least: int) -> list[Command]:
        def enough() -> bool:
            for message in consumer.consume(num_messages=100, timeout=0.5):
                if message.error() is None:
                    seen.append(Command.from_bytes(message.value() or b""))
            return len(seen) >= at_least

        wait_for(enough, 30, f"{at_least} command(s) on the commands topic")
        return list(seen)

    yield read
    consumer.close()


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
