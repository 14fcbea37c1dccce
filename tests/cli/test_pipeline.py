"""The CLI's control-topic watcher: what it counts decides when the demo calls the pipeline quiet."""

from __future__ import annotations

import pytest

from lakepulse_cli.pipeline import ControlWatcher
from lakepulse_common.control_events import ControlEvent, EventKind, Layer, RowCounts
from lakepulse_common.kafka import create_admin, create_producer, ensure_topics, platform_topics
from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.topics import TopicNames
from tests.support import wait_for

pytestmark = pytest.mark.integration


def test_heartbeats_are_seen_but_only_commits_count_as_pipeline_activity(settings: LakePulseSettings) -> None:
    ensure_topics(create_admin(settings.kafka), platform_topics(settings.kafka))
    topic = TopicNames.from_settings(settings.kafka).control
    producer = create_producer(settings.kafka, "test-watcher")
    events = [
        ControlEvent(kind=EventKind.HEARTBEAT, service="silver-processor"),
        ControlEvent(
            kind=EventKind.COMMIT,
            service="gold-builder",
            layer=Layer.GOLD,
            table="fact_sales",
            delta_version=1,
            rows=RowCounts(input=3, written=3),
        ),
        ControlEvent(kind=EventKind.HEARTBEAT, service="gold-builder"),
    ]
    for event in events:
        producer.produce(topic, key=event.key, value=event.to_bytes())
    assert producer.flush(10) == 0

    watcher = ControlWatcher(settings)
    watcher.start()
    try:
        wait_for(lambda: watcher.events_seen == 3, timeout_s=60, what="the watcher read every event")
        assert watcher.commits_seen == 1
        assert [p.table for p in watcher.view.of_layer("gold")] == ["fact_sales"]
        assert sorted(watcher.view.heartbeats) == ["gold-builder", "silver-processor"]
    finally:
        watcher.stop()
