"""One source transaction, traced across every stage with an in-memory span exporter.

The four stages run in this process on a tiny seeded database, against the real test stack (Postgres,
Kafka, Spark, Delta), each handed the same SDK tracer: the cdc-emitter thread, the bronze stream
(``availableNow`` drains), silver's control loop and gold's service loop. After an initial load
(snapshot → bronze → silver → gold) the spans are cleared and one ``UPDATE`` is committed; the test
then follows it:

    cdc.transaction ◀─link── bronze.batch ◀─parent── silver.batch ◀─link── gold.build

and checks that each stage's control events carry its own span's context and the source position
(LSN range, newest source commit time) of that transaction, down to gold's commit events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import psycopg2
import pytest
from confluent_kafka import Consumer, Producer
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from lakepulse_bronze_writer.config import BronzeWriterSettings
from lakepulse_bronze_writer.metrics import BronzeMetrics
from lakepulse_bronze_writer.stream import BronzeStream
from lakepulse_common.control_events import ControlEvent, EventKind, Layer, TraceContext
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
from lakepulse_gold_builder import metrics as gold_metrics
from lakepulse_gold_builder.config import SPARK_DEFAULTS as GOLD_SPARK_DEFAULTS
from lakepulse_gold_builder.consumer import GoldService
from lakepulse_gold_builder.notifications import Publisher
from lakepulse_oltp.migrations import migrate
from lakepulse_oltp.seeding import seed
from lakepulse_silver_processor.config import SPARK_DEFAULTS as SILVER_SPARK_DEFAULTS
from lakepulse_silver_processor.config import SilverSettings
from lakepulse_silver_processor.consumer import ControlLoop
from lakepulse_silver_processor.metrics import SilverMetrics
from lakepulse_silver_processor.processor import SilverProcessor
from tests.services.bronze_writer.bronze_helpers import writer_settings
from tests.services.cdc_emitter.cdc_helpers import EmitterThread, control_events
from tests.services.cdc_emitter.conftest import emitter_settings
from tests.services.gold_builder.conftest import gold_settings
from tests.support import random_name, wait_for

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCALE = 0.0002  # the generator's floor: 50 orders, 20 customers — enough for every gold table
AS_OF = dt.date(2016, 6, 30)  # the seed's history ends 2016-05-31
SPAN_CONTEXT = tuple[int, int]  # (trace id, span id)
T = TypeVar("T")


@dataclass
class Stages:
    """The four stages in this process, sharing one tracer, one lake and one topic prefix."""

    spark: SparkSession
    tracer: trace.Tracer
    bronze_settings: BronzeWriterSettings
    producer: Producer
    silver: ControlLoop
    gold: GoldService

    def drain_bronze(self) -> None:
        stream = BronzeStream(self.spark, self.bronze_settings, self.producer, BronzeMetrics(), self.tracer)
        stream.drain(timeout_s=900)

    def drain_silver(self) -> None:
        """Poll the control topic until events were applied and a poll comes back empty."""
        seen: list[int] = []

        def drained() -> bool:
            seen.append(self.silver.poll_once())
            return sum(seen) > 0 and seen[-1] == 0

        wait_for(drained, 900, "silver to apply the bronze commit events")

    def drain_gold(self) -> None:
        """Run gold's loop until it built at least once and then found nothing more to consume."""
        wait_for(
            lambda: self.gold.run_once().messages == 0 and bool(self.gold.reports),
            900,
            "gold to build from the silver commit events",
        )


@pytest.fixture
def tracing() -> Iterator[tuple[trace.Tracer, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("lakepulse-trace-test"), exporter
    provider.shutdown()


@pytest.fixture
def stage_spark(spark: SparkSession) -> Iterator[SparkSession]:
    """The shared session with the runtime settings silver's and gold's own sessions are built with."""
    wanted = {**SILVER_SPARK_DEFAULTS, **GOLD_SPARK_DEFAULTS}
    saved = {key: spark.conf.get(key, None) for key in wanted}
    for key, value in wanted.items():
        spark.conf.set(key, value)
    yield spark
    for key, value in saved.items():
        if value is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, value)


@pytest.fixture
def source_settings(fresh_database: LakePulseSettings, tmp_path: Path) -> LakePulseSettings:
    """A seeded source database, a fresh lake and this test's own topics."""
    settings = fresh_database.model_copy(
        update={"lake": fresh_database.lake.model_copy(update={"root": (tmp_path / "lake").as_uri()})},
        deep=True,
    )
    ensure_topics(create_admin(settings.kafka), platform_topics(settings.kafka))
    migrate(settings)
    seed(settings, scale=SCALE, seed=7, progress=False)
    return settings


def _topic_known(consumer: Consumer, topic: str) -> bool:
    found = consumer.list_topics(topic, timeout=5).topics.get(topic)
    return found is not None and found.error is None and bool(found.partitions)


@pytest.fixture
def consumers(source_settings: LakePulseSettings) -> Iterator[tuple[Consumer, Consumer]]:
    """Consumers that see the control topic before subscribing: a topic created a moment ago may not
    be in their metadata yet, and the stages stop on the "unknown topic" error that would follow."""
    control = TopicNames.from_settings(source_settings.kafka).control
    silver = create_consumer(source_settings.kafka, "trace-test-silver", random_name("silver-"))
    gold = create_consumer(source_settings.kafka, "trace-test-gold", random_name("gold-"))
    for consumer in (silver, gold):
        wait_for(lambda c=consumer: _topic_known(c, control), 60, f"{control} in the consumer's metadata")
    yield silver, gold
    silver.close()
    gold.close()


@pytest.fixture
def silver_registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def stages(
    source_settings: LakePulseSettings,
    stage_spark: SparkSession,
    tracing: tuple[trace.Tracer, InMemorySpanExporter],
    consumers: tuple[Consumer, Consumer],
    silver_registry: CollectorRegistry,
    tmp_path: Path,
) -> Iterator[Stages]:
    tracer, _ = tracing
    silver_consumer, gold_consumer = consumers
    topics = TopicNames.from_settings(source_settings.kafka)
    producer = create_producer(source_settings.kafka, "trace-test")
    silver_settings = SilverSettings(poll_timeout_s=0.5, optimize_every_commits=0)
    processor = SilverProcessor(
        stage_spark, source_settings.lake_root, silver_settings, SilverMetrics(silver_registry)
    )
    silver = ControlLoop(
        processor, silver_consumer, producer, topics, silver_settings, Shutdown(), tracer=tracer
    )
    silver_consumer.subscribe([topics.control])
    gold_config = gold_settings(source_settings, source_settings.lake_root)
    gold_config.gold = gold_config.gold.model_copy(update={"optimize_every_commits": 0})
    publisher = Publisher(producer, topics, max_keys=100)
    gold = GoldService(
        gold_config, stage_spark, gold_consumer, publisher, Shutdown(), as_of=lambda: AS_OF, tracer=tracer
    )
    gold.subscribe()
    yield Stages(
        spark=stage_spark,
        tracer=tracer,
        bronze_settings=writer_settings(source_settings, tmp_path / "checkpoints" / "bronze"),
        producer=producer,
        silver=silver,
        gold=gold,
    )
    producer.flush(10)


def _update_one_customer(settings: LakePulseSettings) -> int:
    """The source transaction under test; returns its (32-bit) transaction id as pgoutput sees it."""
    conn = psycopg2.connect(settings.postgres.dsn())
    try:
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE sales.customers SET credit_limit = coalesce(credit_limit, 0) + 1000"
                " WHERE customer_id = (SELECT min(customer_id) FROM sales.customers)"
            )
            assert cur.rowcount == 1
            cur.execute("SELECT txid_current()")
            row = cur.fetchone()
            assert row is not None
        conn.commit()
    finally:
        conn.close()
    return int(row[0]) & 0xFFFFFFFF


def _context(span: ReadableSpan) -> SPAN_CONTEXT:
    assert span.context is not None
    return span.context.trace_id, span.context.span_id


def _links(span: ReadableSpan) -> set[SPAN_CONTEXT]:
    return {(link.context.trace_id, link.context.span_id) for link in span.links}


def _carried(context: TraceContext | None) -> SPAN_CONTEXT:
    """(trace id, span id) of a W3C ``traceparent`` (``00-<trace>-<span>-<flags>``)."""
    assert context is not None and context.traceparent, "the control event carries no trace context"
    _version, trace_id, span_id, _flags = context.traceparent.split("-")
    return int(trace_id, 16), int(span_id, 16)


def _only(found: list[T], what: str) -> T:
    assert len(found) == 1, f"expected one {what}, found {len(found)}: {found}"
    return found[0]


def _commits(events: list[ControlEvent], layer: Layer, after: set[str]) -> list[ControlEvent]:
    return [
        e for e in events if e.kind is EventKind.COMMIT and e.layer is layer and str(e.event_id) not in after
    ]


@pytest.mark.timeout(2400)
def test_one_source_transaction_is_one_connected_trace_through_every_stage(
    source_settings: LakePulseSettings,
    stages: Stages,
    tracing: tuple[trace.Tracer, InMemorySpanExporter],
    silver_registry: CollectorRegistry,
) -> None:
    tracer, exporter = tracing
    cdc_settings = emitter_settings(source_settings, schemas=["application", "sales", "warehouse"])

    # Initial load: snapshot → bronze → silver → gold. Not under test; its spans are dropped.
    with EmitterThread(cdc_settings, tracer=tracer) as emitter:
        stages.drain_bronze()
        stages.drain_silver()
        stages.drain_gold()
        before = {str(e.event_id) for e in control_events(cdc_settings)}
        exporter.clear()

        xid = _update_one_customer(source_settings)

        def transaction_span() -> list[ReadableSpan]:
            return [
                s
                for s in exporter.get_finished_spans()
                if s.name == "cdc.transaction" and (s.attributes or {}).get("lakepulse.cdc.xid") == xid
            ]

        wait_for(lambda: bool(transaction_span()), 120, f"the emitter to produce transaction {xid}")
        emitter.stop()  # flushes: every event of the transaction is acknowledged by Kafka

    stages.drain_bronze()
    stages.drain_silver()
    wait_for(lambda: bool(stages.gold.run_once().silver_events), 300, "gold to consume silver's event")
    report = stages.gold.reports[-1]
    assert not report.skipped and report.commits, report

    spans = exporter.get_finished_spans()
    cdc_span = _only(transaction_span(), "cdc.transaction span")
    assert cdc_span.kind is trace.SpanKind.PRODUCER

    # bronze: the micro-batch span links to the trace of the transaction it wrote.
    bronze_span = _only(
        [s for s in spans if s.name == "bronze.batch" and _context(cdc_span) in _links(s)],
        "bronze.batch span linked to the transaction",
    )
    assert _context(bronze_span)[0] != _context(cdc_span)[0]  # a batch starts a trace of its own

    # silver: the table batch continues the bronze batch's trace as its child.
    silver_span = _only(
        [
            s
            for s in spans
            if s.name == "silver.batch" and (s.attributes or {}).get("lakepulse.table") == "customers"
        ],
        "silver.batch span of customers",
    )
    assert silver_span.parent is not None
    assert (silver_span.parent.trace_id, silver_span.parent.span_id) == _context(bronze_span)
    assert silver_span.kind is trace.SpanKind.CONSUMER

    # gold: the build span links to the silver batch it answers.
    gold_span = _only([s for s in spans if s.name == "gold.build"], "gold.build span")
    assert _context(silver_span) in _links(gold_span)
    assert (gold_span.attributes or {}).get("lakepulse.gold.build_id") == report.build_id

    # Each stage's control events carry its own span's context and the transaction's source position.
    events = control_events(cdc_settings)
    bronze_events = [e for e in _commits(events, Layer.BRONZE, before) if e.table == "customers"]
    silver_events = [e for e in _commits(events, Layer.SILVER, before) if e.table == "customers"]
    gold_events = _commits(events, Layer.GOLD, before)
    bronze_event = _only(bronze_events, "bronze commit of customers")
    silver_event = _only(silver_events, "silver commit of customers")
    assert _carried(bronze_event.trace) == _context(bronze_span)
    assert _carried(silver_event.trace) == _context(silver_span)
    assert silver_event.source_lsn is not None and silver_event.source_lsn == bronze_event.source_lsn
    assert silver_event.source_commit_ts_ms is not None
    assert silver_event.source_commit_ts_ms == bronze_event.source_commit_ts_ms

    assert {e.table for e in gold_events} == set(report.commits)
    for event in gold_events:
        assert _carried(event.trace) == _context(gold_span), event.table
        assert event.source_commit_ts_ms == silver_event.source_commit_ts_ms, event.table
        assert event.source_lsn is not None
        assert event.source_lsn.min <= silver_event.source_lsn.min
        assert event.source_lsn.max >= silver_event.source_lsn.max

    # Freshness follows the same source commit time.
    source_ts_ms = silver_event.source_commit_ts_ms
    silver_freshness = silver_registry.get_sample_value(
        "lakepulse_silver_freshness_seconds", {"table": "customers"}
    )
    assert silver_freshness is not None and silver_freshness >= 0
    for table in report.commits:
        assert gold_metrics.FRESHNESS.newest_ms(table) == source_ts_ms, table
