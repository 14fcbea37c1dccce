"""Status follows the control topic (commits, paused tables, heartbeats) and Kafka (consumer lag)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lakepulse_common.control_events import ControlEvent, EventKind, Layer, LsnRange, OffsetRange, RowCounts
from lakepulse_common.kafka import TopicSpec, create_admin, create_consumer, create_producer, ensure_topics
from lakepulse_common.topics import TopicNames
from lakepulse_control_api.app import create_app
from lakepulse_control_api.config import ControlApiServiceSettings
from tests.services.control_api.conftest import control_api_settings, now_ms
from tests.support import random_name, wait_for

pytestmark = pytest.mark.integration

Publish = Callable[[ControlEvent], None]


def commit(
    version: int, *, quarantined: int = 0, source_ts_ms: int | None = None, **extra: Any
) -> ControlEvent:
    return ControlEvent(
        kind=EventKind.COMMIT,
        service="silver-processor",
        layer=Layer.SILVER,
        table="orders",
        delta_version=version,
        rows=RowCounts(input=100, written=100 - quarantined, quarantined=quarantined),
        source_lsn=LsnRange(min=10 * version, max=10 * version + 9),
        source_commit_ts_ms=source_ts_ms,
        **extra,
    )


def table_of(client: TestClient, layer: str, table: str) -> dict[str, Any] | None:
    entries: list[dict[str, Any]] = client.get("/api/v1/status").json()["tables"]
    for entry in entries:
        if (entry["layer"], entry["table"]) == (layer, table):
            return entry
    return None


def orders_at_version(client: TestClient, version: int) -> dict[str, Any]:
    table = table_of(client, "silver", "orders")
    return table if table and table["delta_version"] == version else {}


def test_status_reflects_commits_quality_and_freshness(client: TestClient, service_producer: Publish) -> None:
    source_ts = now_ms() - 5_000
    service_producer(commit(0, quarantined=2, source_ts_ms=source_ts - 1000))
    service_producer(commit(1, quarantined=3, source_ts_ms=source_ts))
    service_producer(commit(1, quarantined=3, source_ts_ms=source_ts))  # a producer retry: deduplicated
    table = wait_for(lambda: orders_at_version(client, 1), 30, "commit v1")
    assert table["commits"] == 2
    assert table["quality"] == {
        "rows_input": 200,
        "rows_written": 195,
        "rows_quarantined": 5,
        "quarantine_ratio": 0.025,
    }
    assert table["source_commit_ts_ms"] == source_ts
    assert 4.0 <= table["freshness_seconds"] < 60.0
    assert table["source_lsn"] == 19
    assert table["status"] == "active"
    status = client.get("/api/v1/status").json()
    assert status["quality"]["rows_quarantined"] == 5
    assert status["control_caught_up"] is True


def test_status_reflects_a_paused_and_a_failed_table(client: TestClient, service_producer: Publish) -> None:
    service_producer(commit(0))
    for table, state in (("orders", "paused"), ("customers", "failed")):
        service_producer(
            ControlEvent(
                kind=EventKind.TABLE_STATUS,
                service="silver-processor",
                layer=Layer.SILVER,
                table=table,
                details={"status": state, "reason": f"{table} needs attention"},
            )
        )
    status = wait_for(
        lambda: (s := client.get("/api/v1/status").json())["failed_tables"] and s, 30, "table statuses"
    )
    assert status["paused_tables"] == ["silver.orders"]
    assert status["failed_tables"] == ["silver.customers"]
    orders = table_of(client, "silver", "orders")
    assert orders is not None and orders["status_reason"] == "orders needs attention"

    service_producer(
        ControlEvent(
            kind=EventKind.TABLE_STATUS,
            service="silver-processor",
            layer=Layer.SILVER,
            table="orders",
            details={"status": "active"},
        )
    )
    wait_for(lambda: not client.get("/api/v1/status").json()["paused_tables"], 30, "orders resumed")


def test_service_liveness_comes_from_heartbeats(client: TestClient, service_producer: Publish) -> None:
    service_producer(ControlEvent(kind=EventKind.HEARTBEAT, service="bronze-writer", details={"pid": 42}))
    services = wait_for(lambda: client.get("/api/v1/status").json()["services"], 30, "a heartbeat")
    [bronze] = [s for s in services if s["service"] == "bronze-writer"]
    assert bronze["alive"] is True
    assert bronze["details"] == {"pid": 42}
    # heartbeat_interval_s is 1 s and liveness_factor 3: without another beat the service is down.
    wait_for(
        lambda: (
            not next(
                s for s in client.get("/api/v1/status").json()["services"] if s["service"] == "bronze-writer"
            )["alive"]
        ),
        30,
        "bronze-writer to be reported down",
    )
    # The heartbeat age is computed at scrape time: it has grown past the liveness window by now.
    [age] = [
        float(line.split()[-1])
        for line in client.get("/metrics").text.splitlines()
        if line.startswith('lakepulse_control_api_heartbeat_age_seconds{service="bronze-writer"} ')
    ]
    assert 2.0 <= age < 60.0


def test_consumer_lag_from_a_group_and_from_announced_offsets(
    fresh_database: Any, lake_settings: Any, service_producer: Publish
) -> None:
    group = random_name("silver-")
    settings: ControlApiServiceSettings = control_api_settings(
        fresh_database, lake_settings, consumer_groups={"silver-processor": group}
    )
    topic = random_name(f"{settings.kafka.topic_prefix}.data-")
    ensure_topics(create_admin(settings.kafka), [TopicSpec(topic, 1, 3_600_000)])
    producer = create_producer(settings.kafka, "test")
    for _ in range(10):
        producer.produce(topic, value=b"x", partition=0)
    assert producer.flush(10) == 0
    consumer = create_consumer(settings.kafka, "test", group)
    consumer.subscribe([topic])
    read = 0
    while read < 4:
        for message in consumer.consume(num_messages=4 - read, timeout=1):
            assert message.error() is None
            consumer.commit(message=message, asynchronous=False)
            read += 1
    consumer.close()
    service_producer(
        ControlEvent(
            kind=EventKind.COMMIT,
            service="bronze-writer",
            layer=Layer.BRONZE,
            table="orders",
            delta_version=0,
            kafka_offsets=[OffsetRange(topic=topic, partition=0, start=0, end=7)],
        )
    )
    with TestClient(create_app(settings)) as client:
        client.app.state.plane.consumer.wait_caught_up(30)  # type: ignore[attr-defined]
        lag = {entry["service"]: entry for entry in client.get("/api/v1/status").json()["consumer_lag"]}
    assert lag["silver-processor"]["source"] == "consumer_group"
    assert lag["silver-processor"]["total_lag"] == 6
    assert lag["bronze-writer"]["source"] == "commit_events"
    assert lag["bronze-writer"]["partitions"] == [
        {"topic": topic, "partition": 0, "committed": 7, "high_watermark": 10, "lag": 3}
    ]


def test_state_is_rebuilt_from_the_control_topic_on_start(
    api_settings: ControlApiServiceSettings, service_producer: Publish
) -> None:
    service_producer(commit(0))
    service_producer(commit(1))
    producer = create_producer(api_settings.kafka, "bad-producer")
    for partition in range(api_settings.kafka.default_partitions):  # the last record of every partition
        producer.produce(
            TopicNames.from_settings(api_settings.kafka).control, value=b"{not json", partition=partition
        )
    assert producer.flush(10) == 0
    for _ in range(2):  # the first run commits its offsets; the second must still see everything
        with TestClient(create_app(api_settings)) as client:
            assert client.app.state.plane.consumer.wait_caught_up(30)  # type: ignore[attr-defined]
            table = table_of(client, "silver", "orders")
            assert table is not None and table["delta_version"] == 1 and table["commits"] == 2
            [rejected] = [
                float(line.split()[-1])
                for line in client.get("/metrics").text.splitlines()
                if line.startswith("lakepulse_control_api_control_events_rejected_total ")
            ]
            assert rejected >= api_settings.kafka.default_partitions  # undecodable, skipped, counted
