"""The control plane's long-lived parts, built once per process and closed in reverse order."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from sqlalchemy import Engine

from lakepulse_common.kafka import (
    create_admin,
    create_consumer,
    create_producer,
    ensure_topics,
    platform_topics,
)
from lakepulse_common.topics import TopicNames
from lakepulse_control_api.commands import CommandPublisher
from lakepulse_control_api.config import SERVICE_NAME, ControlApiServiceSettings
from lakepulse_control_api.control_consumer import ControlConsumer
from lakepulse_control_api.db import create_db_engine, database_is_reachable, run_migrations, session_factory
from lakepulse_control_api.jobs import JobStore
from lakepulse_control_api.lag import LagMonitor
from lakepulse_control_api.lake import LakeReader
from lakepulse_control_api.planning import JobPlanner
from lakepulse_control_api.state import PipelineState

log = logging.getLogger(__name__)


@dataclass
class ControlPlane:
    settings: ControlApiServiceSettings
    engine: Engine
    admin: AdminClient
    state: PipelineState
    jobs: JobStore
    planner: JobPlanner
    lake: LakeReader
    lag: LagMonitor
    publisher: CommandPublisher
    consumer: ControlConsumer

    @classmethod
    def start(
        cls, settings: ControlApiServiceSettings, on_failure: Callable[[BaseException], None] | None = None
    ) -> ControlPlane:
        """Migrate the metadata schema, make sure the control topics exist, start the reader."""
        engine = create_db_engine(settings.postgres)
        run_migrations(engine)
        admin = create_admin(settings.kafka, SERVICE_NAME)
        ensure_topics(admin, platform_topics(settings.kafka), timeout_s=settings.control.kafka_timeout_s * 2)
        topics = TopicNames.from_settings(settings.kafka)
        state = PipelineState()
        publisher = CommandPublisher(
            create_producer(settings.kafka, SERVICE_NAME, **{"linger.ms": 0}),
            topics,
            settings.control.kafka_timeout_s,
        )
        jobs = JobStore(session_factory(engine), publisher, settings.control.max_concurrent_jobs)
        lake = LakeReader(settings.lake)
        consumer = ControlConsumer(
            create_consumer(settings.kafka, SERVICE_NAME, settings.control_group),
            topics.control,
            state,
            jobs,
            metadata_timeout_s=settings.control.kafka_timeout_s,
            on_failure=on_failure,
        )
        consumer.start()
        if not settings.control_api.tokens:
            log.warning("no control_api.tokens configured: every mutating request will be refused")
        return cls(
            settings=settings,
            engine=engine,
            admin=admin,
            state=state,
            jobs=jobs,
            planner=JobPlanner(admin, topics, lake, state, settings.control),
            lake=lake,
            lag=LagMonitor(
                admin,
                settings.control.consumer_groups,
                settings.control.kafka_timeout_s,
                settings.control.lag_cache_s,
            ),
            publisher=publisher,
            consumer=consumer,
        )

    def postgres_ready(self) -> bool:
        return database_is_reachable(self.engine)

    def kafka_ready(self) -> bool:
        """A metadata round trip on the long-lived admin client (no new client per probe)."""
        try:
            metadata = self.admin.list_topics(timeout=self.settings.control.kafka_timeout_s)
        except KafkaException:
            return False
        return bool(metadata.brokers)

    def close(self) -> None:
        self.consumer.stop()
        self.publisher.close()
        self.engine.dispose()
        log.info("control plane closed")
