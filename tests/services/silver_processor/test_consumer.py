"""The control loop against real Kafka: a bronze commit event delivered twice changes nothing, and an
END event alone releases an aligned transaction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from pyspark.sql import SparkSession

from lakepulse_common.announced import AnnouncedState
from lakepulse_common.control_events import ROUND_ID, ControlEvent, EventKind, Layer, LsnRange
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
from lakepulse_silver_processor import lake
from lakepulse_silver_processor.config import SilverSettings
from lakepulse_silver_processor.consumer import ControlLoop
from lakepulse_silver_processor.processor import SilverProcessor
from tests.services.silver_processor.bronze_rows import (
    CUSTOMER_KEY,
    ORDER_KEY,
    ORDER_LINE_KEY,
    Bronze,
    upsert,
)
from tests.services.silver_processor.bronze_rows import customer as cust
from tests.services.silver_processor.bronze_rows import order as ordr
from tests.services.silver_processor.bronze_rows import order_line as line
from tests.services.silver_processor.expected import expected_row, silver_rows
from tests.support import random_name, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def control_consumer(lake_settings: LakePulseSettings) -> Iterator[Consumer]:
    ensure_topics(create_admin(lake_settings.kafka), platform_topics(lake_settings.kafka))
    consumer = create_consumer(lake_settings.kafka, "silver-test", random_name("silver-"))
    yield consumer
    consumer.close()


def _events(settings: LakePulseSettings, topic: str) -> list[ControlEvent]:
    reader = create_consumer(settings.kafka, "silver-test-reader", random_name("reader-"))
    try:
        metadata = reader.list_topics(topic, timeout=10).topics[topic]
        partitions = [TopicPartition(topic, p, 0) for p in metadata.partitions]
        ends = {p.partition: reader.get_watermark_offsets(p, timeout=10)[1] for p in partitions}
        reader.assign(partitions)
        events: list[ControlEvent] = []
        remaining = sum(ends.values())
        while remaining > 0:
            message = reader.poll(5.0)
            assert message is not None, "control topic ended early"
            if message.error() is None:
                events.append(ControlEvent.from_bytes(message.value()))
                remaining -= 1
        return events
    finally:
        reader.close()


def _deliver_and_drain(loop: ControlLoop, producer: Producer, topic: str, event: ControlEvent) -> None:
    """Produce one control event and poll the loop until it consumed something and then nothing."""
    producer.produce(topic, key=event.key, value=event.to_bytes())
    producer.flush(10)
    seen: list[int] = []

    def drained() -> bool:
        seen.append(loop.poll_once())
        return sum(seen) > 0 and seen[-1] == 0

    wait_for(drained, 600, f"the {event.table} event to be consumed and applied")


def _bronze_commit(table: str, version: int, lsns: LsnRange | None = None) -> ControlEvent:
    return ControlEvent(
        kind=EventKind.COMMIT,
        service="bronze-writer",
        layer=Layer.BRONZE,
        table=table,
        delta_version=version,
        source_lsn=lsns,
    )


def test_control_event_delivered_twice_changes_nothing(
    spark: SparkSession,
    lake_settings: LakePulseSettings,
    processor: SilverProcessor,
    bronze: Bronze,
    control_consumer: Consumer,
) -> None:
    topics = TopicNames.from_settings(lake_settings.kafka)
    producer = create_producer(lake_settings.kafka, "bronze-test")
    rows = [upsert(100, cust(1), CUSTOMER_KEY, op="c"), upsert(120, cust(2), CUSTOMER_KEY, op="c")]
    version = bronze.append("customers", rows)
    announcement = _bronze_commit("customers", version, LsnRange(min=100, max=120))
    loop = ControlLoop(
        processor, control_consumer, producer, topics, SilverSettings(poll_timeout_s=0.5), Shutdown()
    )
    control_consumer.subscribe([topics.control])

    def deliver_and_drain() -> None:
        _deliver_and_drain(loop, producer, topics.control, announcement)

    silver_uri = processor.uri("customers")
    deliver_and_drain()
    applied = lake.latest_version(spark, silver_uri)
    assert processor.applied_version("customers") == version
    assert silver_rows(spark, lake_settings.lake_root, "customers") == {
        1: expected_row("customers", cust(1)),
        2: expected_row("customers", cust(2)),
    }

    deliver_and_drain()  # the same event again
    assert lake.latest_version(spark, silver_uri) == applied
    assert processor.metrics.duplicate_events._value.get() == 1

    events = _events(lake_settings, topics.control)
    silver = [e for e in events if e.layer is Layer.SILVER and e.kind is EventKind.COMMIT]
    assert [(e.table, e.delta_version, e.rows.written if e.rows else None) for e in silver] == [
        ("customers", applied, 2)
    ]
    assert silver[0].source_lsn == LsnRange(min=100, max=120)
    committed = control_consumer.committed(
        [TopicPartition(topics.control, p) for p in range(lake_settings.kafka.default_partitions)], timeout=10
    )
    assert sum(max(tp.offset, 0) for tp in committed) == len(events)  # every message, ours included


def test_a_commit_whose_event_did_not_go_out_is_announced_at_start(
    spark: SparkSession,
    lake_settings: LakePulseSettings,
    processor: SilverProcessor,
    bronze: Bronze,
    control_consumer: Consumer,
    tmp_path: Path,
) -> None:
    topics = TopicNames.from_settings(lake_settings.kafka)
    producer = create_producer(lake_settings.kafka, "silver-test")
    rows = [upsert(300, cust(7), CUSTOMER_KEY, op="c"), upsert(320, cust(8), CUSTOMER_KEY, op="c")]
    processor.apply("customers", bronze.append("customers", rows))  # committed; then the process "died"
    committed = lake.latest_version(spark, processor.uri("customers"))
    state_path = tmp_path / "announced.json"

    def start() -> ControlLoop:
        return ControlLoop(
            processor,
            control_consumer,
            producer,
            topics,
            SilverSettings(poll_timeout_s=0.5),
            Shutdown(),
            announced=AnnouncedState(state_path),
        )

    assert ("customers", committed) in start().reannounce()
    silver = [
        e
        for e in _events(lake_settings, topics.control)
        if e.layer is Layer.SILVER and e.kind is EventKind.COMMIT and e.table == "customers"
    ]
    assert [(e.delta_version, e.rows.written if e.rows else None, e.details) for e in silver] == [
        (committed, 2, {"operation": "MERGE", "reannounced": True})
    ]
    assert AnnouncedState(state_path).last("customers") == committed  # acknowledged, recorded
    assert start().reannounce() == []  # the next start has nothing to announce again


def test_an_end_event_alone_releases_a_held_transaction_across_tables(
    spark: SparkSession,
    lake_settings: LakePulseSettings,
    processor: SilverProcessor,
    bronze: Bronze,
    control_consumer: Consumer,
) -> None:
    """With alignment, the END arriving in a bronze batch of its own still makes the order and its
    line visible: the `_transactions` commit triggers the retry, and the released order its line."""
    topics = TopicNames.from_settings(lake_settings.kafka)
    producer = create_producer(lake_settings.kafka, "bronze-test")
    aligned = SilverProcessor(
        spark,
        lake_settings.lake_root,
        processor.settings.model_copy(update={"align_transactions": True}),
        processor.metrics,
    )
    loop = ControlLoop(
        aligned, control_consumer, producer, topics, SilverSettings(poll_timeout_s=0.5), Shutdown()
    )
    control_consumer.subscribe([topics.control])

    def announce_and_drain(table: str, version: int) -> None:
        _deliver_and_drain(loop, producer, topics.control, _bronze_commit(table, version))

    announce_and_drain("customers", bronze.append("customers", [upsert(10, cust(1), CUSTOMER_KEY, op="r")]))
    tx = "700:1000"
    order_change = upsert(990, ordr(60, customer_id=1), ORDER_KEY, op="c", transaction_id=tx)
    line_change = upsert(991, line(600, 60), ORDER_LINE_KEY, op="c", transaction_id=tx)
    announce_and_drain("orders", bronze.append("orders", [order_change]))
    announce_and_drain("order_lines", bronze.append("order_lines", [line_change]))
    root = lake_settings.lake_root
    assert silver_rows(spark, root, "orders") == {} and silver_rows(spark, root, "order_lines") == {}

    bronze.end_transaction(tx, {"orders": 1, "order_lines": 1})
    announce_and_drain("_transactions", 0)
    assert sorted(silver_rows(spark, root, "orders")) == [60]
    assert sorted(silver_rows(spark, root, "order_lines")) == [600]
    assert aligned.tables_with_releasable_transactions() == []


def test_a_child_applied_later_in_the_round_is_not_retried_separately(
    spark: SparkSession,
    lake_settings: LakePulseSettings,
    processor: SilverProcessor,
    bronze: Bronze,
    control_consumer: Consumer,
) -> None:
    """An order's commit unblocks its held line; order_lines has new data in the same round, so its own
    batch re-evaluates the held line: one order_lines batch, not a retry and then a batch."""
    topics = TopicNames.from_settings(lake_settings.kafka)
    producer = create_producer(lake_settings.kafka, "silver-test")
    loop = ControlLoop(
        processor, control_consumer, producer, topics, SilverSettings(poll_timeout_s=0.5), Shutdown()
    )
    processor.apply("customers", bronze.append("customers", [upsert(10, cust(1), CUSTOMER_KEY, op="c")]))
    early = bronze.append("order_lines", [upsert(20, line(700, 70), ORDER_LINE_KEY, op="c")])
    [held] = processor.apply("order_lines", early)
    assert held.held == 1

    orders = bronze.append("orders", [upsert(30, ordr(70, customer_id=1), ORDER_KEY, op="c")])
    lines = bronze.append("order_lines", [upsert(31, line(701, 70), ORDER_LINE_KEY, op="c")])
    loop.run_table("orders", orders, None, later={"order_lines": lines})
    loop.run_table("order_lines", lines, None)
    loop._flush()

    assert sorted(silver_rows(spark, lake_settings.lake_root, "order_lines")) == [700, 701]
    line_batches = [
        (e.details["bronze_version_from"], e.details["bronze_version_to"], e.details["released"])
        for e in _events(lake_settings, topics.control)
        if e.layer is Layer.SILVER and e.kind is EventKind.COMMIT and e.table == "order_lines"
    ]
    assert line_batches == [(lines, lines, 1)]


def test_one_polls_tables_are_one_round_ended_by_a_round_end_event(
    spark: SparkSession,
    lake_settings: LakePulseSettings,
    processor: SilverProcessor,
    bronze: Bronze,
    control_consumer: Consumer,
) -> None:
    """Two bronze commits consumed in one poll: both silver commit events carry the same round id, and
    one round_end event names the tables and versions the round committed (what gold waits for)."""
    topics = TopicNames.from_settings(lake_settings.kafka)
    producer = create_producer(lake_settings.kafka, "bronze-test")
    loop = ControlLoop(
        processor, control_consumer, producer, topics, SilverSettings(poll_timeout_s=5.0), Shutdown()
    )
    control_consumer.subscribe([topics.control])  # a poll gathers for 5 s: both events in the first
    customers = bronze.append("customers", [upsert(10, cust(1), CUSTOMER_KEY, op="c")])
    orders = bronze.append("orders", [upsert(20, ordr(80, customer_id=1), ORDER_KEY, op="c")])
    for event in (_bronze_commit("orders", orders), _bronze_commit("customers", customers)):
        producer.produce(topics.control, key=event.key, value=event.to_bytes())
    producer.flush(10)
    seen: list[int] = []

    def both_consumed() -> bool:
        seen.append(loop.poll_once())
        return (
            processor.applied_version("customers") == customers
            and processor.applied_version("orders") == orders
        )

    wait_for(both_consumed, 600, "both bronze events to be applied")
    assert len([n for n in seen if n]) == 1, "the test needs both events in one poll"

    events = _events(lake_settings, topics.control)
    commits = {e.table: e for e in events if e.layer is Layer.SILVER and e.kind is EventKind.COMMIT}
    [end] = [e for e in events if e.kind is EventKind.ROUND_END]
    assert set(commits) == {"customers", "orders"}
    assert {e.details[ROUND_ID] for e in commits.values()} == {end.details[ROUND_ID]}
    assert end.layer is Layer.SILVER
    assert end.details["commits"] == {t: e.delta_version for t, e in commits.items()}
