"""``lakepulse-silver-processor``: wiring only. SIGTERM finishes the current table batch, then closes."""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY

from lakepulse_common.announced import AnnouncedState
from lakepulse_common.commands import CommandListener, JobReporter
from lakepulse_common.kafka import (
    create_admin,
    create_consumer,
    create_producer,
    ensure_topics,
    platform_topics,
)
from lakepulse_common.runtime import Heartbeater, Shutdown
from lakepulse_common.spark import build_spark_session
from lakepulse_common.telemetry import init_telemetry
from lakepulse_common.topics import TopicNames
from lakepulse_silver_processor.commands import CommandingLoop, SilverCommands
from lakepulse_silver_processor.config import SERVICE_NAME, SilverProcessorSettings
from lakepulse_silver_processor.metrics import SilverMetrics
from lakepulse_silver_processor.processor import SilverProcessor

log = logging.getLogger(__name__)


def main() -> int:
    settings = SilverProcessorSettings()
    telemetry = init_telemetry(SERVICE_NAME, settings.telemetry)
    shutdown = Shutdown().install()
    topics = TopicNames.from_settings(settings.kafka)
    ensure_topics(create_admin(settings.kafka), platform_topics(settings.kafka))
    spark = build_spark_session(settings, SERVICE_NAME)
    producer = create_producer(settings.kafka, SERVICE_NAME)
    consumer = create_consumer(settings.kafka, SERVICE_NAME, settings.silver.consumer_group)
    heartbeater = Heartbeater(producer, topics, SERVICE_NAME, settings.heartbeat_interval_s)
    processor = SilverProcessor(spark, settings.lake_root, settings.silver, SilverMetrics(REGISTRY))
    listener = CommandListener(settings, SERVICE_NAME)
    reporter = JobReporter(producer, topics, SERVICE_NAME)
    commands = SilverCommands(
        processor, producer, topics, reporter, listener, settings.silver.flush_timeout_s
    )
    loop = CommandingLoop(
        processor,
        consumer,
        producer,
        topics,
        settings.silver,
        shutdown,
        commands=commands,
        announced=AnnouncedState(settings.state_dir / SERVICE_NAME / "announced.json"),
    )
    heartbeater.start()
    listener.start()
    log.info("silver processor consuming %s as group %s", topics.control, settings.silver.consumer_group)
    try:
        loop.run()
    finally:
        listener.stop()
        heartbeater.stop()
        consumer.close()
        producer.flush(settings.silver.flush_timeout_s)
        spark.stop()
        telemetry.shutdown()
    log.info("silver processor stopped (%s)", shutdown.signal_name or "requested")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
