"""Entry point: ``lakepulse-bronze-writer [run]`` streams Kafka to bronze until SIGTERM;
``lakepulse-bronze-writer ingest-files PATH --table T`` loads CSV/JSON files into bronze.

Wiring only: settings, telemetry, SparkSession, Kafka producer, then :class:`BronzeStream` or
:func:`ingest_files`. On SIGTERM the query stops after the batch in flight and the producer is flushed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from lakepulse_bronze_writer.config import SERVICE_NAME, BronzeWriterSettings
from lakepulse_bronze_writer.metrics import BronzeMetrics

log = logging.getLogger(__name__)


# Substrings of a failed query's message → the ``kind`` of ``lakepulse_bronze_errors_total``.
_QUERY_ERROR_KINDS = (
    ("ControlDeliveryError", "control_delivery"),
    ("failOnDataLoss", "kafka_data_loss"),
    ("ConcurrentModification", "delta_conflict"),
)


def query_error_kind(message: str) -> str:
    """What stopped the streaming query, as a small fixed set of metric label values."""
    return next((kind for marker, kind in _QUERY_ERROR_KINDS if marker in message), "query_failed")


def run(settings: BronzeWriterSettings) -> int:
    from lakepulse_bronze_writer.commands import BronzeCommands
    from lakepulse_bronze_writer.stream import BronzeStream
    from lakepulse_common.commands import CommandListener, JobReporter
    from lakepulse_common.kafka import (
        create_admin,
        create_producer,
        ensure_topics,
        platform_topics,
        wait_for_broker,
    )
    from lakepulse_common.runtime import Heartbeater, Shutdown
    from lakepulse_common.spark import build_spark_session
    from lakepulse_common.telemetry import init_telemetry
    from lakepulse_common.topics import TopicNames

    telemetry = init_telemetry(SERVICE_NAME, settings.telemetry)
    shutdown = Shutdown().install()
    wait_for_broker(settings.kafka)
    ensure_topics(create_admin(settings.kafka), platform_topics(settings.kafka))
    spark = build_spark_session(settings, "lakepulse-bronze-writer")
    producer = create_producer(settings.kafka, "lakepulse-bronze-writer")
    heartbeat = Heartbeater(
        producer, TopicNames.from_settings(settings.kafka), SERVICE_NAME, settings.heartbeat_interval_s
    )
    metrics = BronzeMetrics.global_registry()
    stream = BronzeStream(spark, settings, producer, metrics, telemetry.tracer("lakepulse.bronze"))
    topics = TopicNames.from_settings(settings.kafka)
    listener = CommandListener(settings, SERVICE_NAME)
    commands = BronzeCommands(
        spark,
        settings,
        stream.announcer,
        stream.writer.lock,
        JobReporter(producer, topics, SERVICE_NAME),
        listener,
    )
    query = stream.start()
    heartbeat.start()
    listener.start()
    exit_code = 0
    try:
        while query.isActive and not shutdown.requested:
            query.awaitTermination(1)
            stream.update_progress_metrics()
            commands.run_pending()  # replay / optimize / vacuum jobs, serialised with the batches
        if not shutdown.requested and query.exception() is not None:
            metrics.errors.labels(kind=query_error_kind(str(query.exception()))).inc()
            log.error("bronze query failed: %s", query.exception())
            exit_code = 1
    finally:
        listener.stop()
        stream.stop()
        heartbeat.stop()
        producer.flush(settings.bronze.control_flush_timeout_s)
        telemetry.shutdown()
        spark.stop()
    return exit_code


def ingest(settings: BronzeWriterSettings, path: Path, table: str) -> int:
    from lakepulse_bronze_writer.files import ingest_files
    from lakepulse_common.telemetry import init_telemetry

    telemetry = init_telemetry(SERVICE_NAME, settings.telemetry.model_copy(update={"metrics_port": 0}))
    try:
        for result in ingest_files(settings, path, table):
            state = "skipped (already ingested)" if result.skipped else f"{result.rows} rows"
            log.info(
                "%s → bronze.%s: %s, %d quarantined, sha256 %s",
                result.path,
                table,
                state,
                result.quarantined,
                result.sha256,
            )
    finally:
        telemetry.shutdown()
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lakepulse-bronze-writer", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="stream the CDC topics into bronze until SIGTERM (default)")
    files = commands.add_parser("ingest-files", help="load CSV / JSON-lines files into a bronze table")
    files.add_argument("path", type=Path, help="a file, or a directory searched for *.csv/*.json/*.jsonl")
    files.add_argument("--table", required=True, help="target bronze table")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = BronzeWriterSettings()
    if args.command == "ingest-files":
        sys.exit(ingest(settings, args.path, args.table))
    sys.exit(run(settings))


if __name__ == "__main__":
    main()
