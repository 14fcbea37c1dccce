"""Replay requests are checked against the topic's real partitions and retained offsets."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from lakepulse_common.control_events import Command, CommandAction
from lakepulse_common.kafka import TopicSpec, create_admin, create_producer, ensure_topics
from lakepulse_common.topics import TopicNames
from lakepulse_control_api.config import ControlApiServiceSettings
from tests.services.control_api.conftest import AUTH

pytestmark = pytest.mark.integration


@pytest.fixture
def orders_topic(api_settings: ControlApiServiceSettings) -> Iterator[str]:
    """A CDC topic with two partitions holding 5 records each (offsets 0..4)."""
    topic = TopicNames.from_settings(api_settings.kafka).cdc("orders")
    ensure_topics(create_admin(api_settings.kafka), [TopicSpec(topic, 2, 3_600_000)])
    producer = create_producer(api_settings.kafka, "test-cdc")
    for partition in (0, 1):
        for i in range(5):
            producer.produce(topic, key=f"{i}".encode(), value=b"{}", partition=partition)
    assert producer.flush(10) == 0
    yield topic


def test_replay_of_an_offset_range_sends_one_command_to_the_bronze_writer(
    client: TestClient, orders_topic: str, command_reader: Callable[[int], list[Command]]
) -> None:
    body = {"topic": orders_topic, "partitions": [1], "start_offset": 1, "end_offset": 4}
    response = client.post("/api/v1/jobs/replay", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    assert response.json()["scope"] == ["bronze.orders"]
    [command] = command_reader(1)
    assert command.target_service == "bronze-writer"
    assert command.action is CommandAction.REPLAY
    assert command.params == {"topic": orders_topic, "partitions": [1], "start_offset": 1, "end_offset": 4}

    overlapping = client.post("/api/v1/jobs/replay", json=body | {"partitions": [0]}, headers=AUTH)
    assert overlapping.status_code == 409


def test_replay_of_a_time_range_covers_every_partition(
    client: TestClient, orders_topic: str, command_reader: Callable[[int], list[Command]]
) -> None:
    body = {
        "topic": orders_topic,
        "start_timestamp": "2026-01-01T00:00:00Z",
        "end_timestamp": "2026-01-02T00:00:00+00:00",
    }
    assert client.post("/api/v1/jobs/replay", json=body, headers=AUTH).status_code == 202
    [command] = command_reader(1)
    assert command.params["partitions"] == [0, 1]
    assert command.params["end_timestamp_ms"] - command.params["start_timestamp_ms"] == 86_400_000


INVALID_RANGES: list[tuple[dict[str, object], str]] = [
    ({"start_offset": 3, "end_offset": 3}, "end_offset"),
    ({"start_offset": 0, "end_offset": 6}, "end_offset"),
    ({"start_offset": 0}, "end_offset"),
    ({"partitions": [7], "start_offset": 0, "end_offset": 1}, "partitions"),
    ({}, "start_offset"),
    ({"start_offset": 0, "end_offset": 1, "start_timestamp": "2026-01-01T00:00:00Z"}, "start_offset"),
    (
        {"start_timestamp": "2026-01-02T00:00:00Z", "end_timestamp": "2026-01-01T00:00:00Z"},
        "end_timestamp",
    ),
]


def test_invalid_replay_ranges_are_422_naming_the_field(client: TestClient, orders_topic: str) -> None:
    for extra, field in INVALID_RANGES:
        response = client.post("/api/v1/jobs/replay", json={"topic": orders_topic} | extra, headers=AUTH)
        assert response.status_code == 422, (extra, response.text)
        assert response.json()["detail"][0]["loc"][-1] == field, (extra, response.text)


def test_replay_of_a_missing_cdc_topic_is_422(
    client: TestClient, api_settings: ControlApiServiceSettings
) -> None:
    topic = TopicNames.from_settings(api_settings.kafka).cdc("never_created")
    body = {"topic": topic, "start_offset": 0, "end_offset": 1}
    response = client.post("/api/v1/jobs/replay", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
