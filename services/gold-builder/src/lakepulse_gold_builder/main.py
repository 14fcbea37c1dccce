"""``lakepulse-gold-builder``: run the service, or one job and exit.

    lakepulse-gold-builder                         # the service: react to silver commit events
    lakepulse-gold-builder --full-rebuild          # recreate gold from silver, then exit
    lakepulse-gold-builder --from 2016-05-01 --to 2016-05-31   # backfill a date range, then exit
    lakepulse-gold-builder --incremental           # catch gold up with silver once, then exit
    lakepulse-gold-builder --optimize [--vacuum-hours 168]     # maintenance, then exit

SIGTERM/SIGINT stop the service after the batch in progress: its Delta commits finish, notifications
are flushed and offsets committed, then the consumer leaves its group.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

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
from lakepulse_gold_builder.build import full_rebuild
from lakepulse_gold_builder.config import SERVICE_NAME, GoldBuilderSettings
from lakepulse_gold_builder.consumer import GoldService
from lakepulse_gold_builder.incremental import incremental_update, rebuild_dates
from lakepulse_gold_builder.maintenance import optimize, vacuum
from lakepulse_gold_builder.notifications import Publisher

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lakepulse-gold-builder", description=__doc__.split("\n")[0])
    job = parser.add_mutually_exclusive_group()
    job.add_argument("--full-rebuild", action="store_true", help="recreate every gold table, then exit")
    job.add_argument("--incremental", action="store_true", help="one incremental update, then exit")
    job.add_argument("--optimize", action="store_true", help="OPTIMIZE (Z-order) every gold table, then exit")
    parser.add_argument("--from", dest="start", type=dt.date.fromisoformat, help="backfill start date")
    parser.add_argument("--to", dest="end", type=dt.date.fromisoformat, help="backfill end date")
    parser.add_argument(
        "--vacuum-hours", type=float, help="with --optimize: also VACUUM, keeping this many hours"
    )
    parser.add_argument("--as-of", type=dt.date.fromisoformat, help="reference date (default: today, UTC)")
    args = parser.parse_args(argv)
    if (args.start is None) != (args.end is None):
        parser.error("--from and --to go together")
    if args.start is not None and (args.full_rebuild or args.incremental or args.optimize):
        parser.error("--from/--to is a job of its own")
    if args.vacuum_hours is not None and not args.optimize:
        parser.error("--vacuum-hours needs --optimize")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = GoldBuilderSettings()
    telemetry = init_telemetry(SERVICE_NAME, settings.telemetry)
    spark = build_spark_session(settings, SERVICE_NAME)
    topics = TopicNames.from_settings(settings.kafka)
    producer = create_producer(settings.kafka, SERVICE_NAME)
    publisher = Publisher(producer, topics, max_keys=settings.gold.notify_max_keys)
    lake_root, rows = settings.lake_root, settings.gold.target_file_rows
    try:
        if args.full_rebuild:
            full_rebuild(spark, lake_root, publisher=publisher, as_of=args.as_of, max_records_per_file=rows)
        elif args.incremental:
            incremental_update(
                spark, lake_root, publisher=publisher, as_of=args.as_of, max_records_per_file=rows
            )
        elif args.start is not None:
            rebuild_dates(spark, lake_root, args.start, args.end, publisher=publisher, as_of=args.as_of,
                          max_records_per_file=rows)  # fmt: skip
        elif args.optimize:
            optimize(spark, lake_root)
            if args.vacuum_hours is not None:
                vacuum(spark, lake_root, retain_hours=args.vacuum_hours)
        else:
            serve(settings, publisher, spark)
        publisher.flush()
    finally:
        spark.stop()
        telemetry.shutdown()
    return 0


def serve(settings: GoldBuilderSettings, publisher: Publisher, spark: SparkSession) -> None:
    ensure_topics(create_admin(settings.kafka), platform_topics(settings.kafka))
    shutdown = Shutdown().install()
    consumer = create_consumer(settings.kafka, SERVICE_NAME, settings.gold.consumer_group)
    heartbeat_producer = create_producer(settings.kafka, f"{SERVICE_NAME}-heartbeat")
    heartbeater = Heartbeater(
        heartbeat_producer,
        TopicNames.from_settings(settings.kafka),
        SERVICE_NAME,
        settings.heartbeat_interval_s,
    )
    heartbeater.start()
    service = GoldService(settings, spark, consumer, publisher, shutdown)
    log.info("gold builder consuming control events as group %s", settings.gold.consumer_group)
    try:
        service.run()
    finally:
        heartbeater.stop()
        heartbeat_producer.flush(5)
        consumer.close()
    log.info("gold builder stopped (%s)", shutdown.signal_name or "requested")


if __name__ == "__main__":
    sys.exit(main())
