"""Publishing :class:`Command`s on the commands topic, synchronously: a job is only reported queued once
Kafka has acknowledged every command it needs.

Each publication is a ``control_api.job`` span (kind PRODUCER) whose context the commands carry in
``trace``, so the services' command spans continue the job's trace."""

from __future__ import annotations

import logging
import threading

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from opentelemetry import trace as otel

from lakepulse_common.control_events import Command
from lakepulse_common.telemetry import current_trace_context
from lakepulse_common.topics import TopicNames
from lakepulse_control_api.errors import CommandDeliveryError

log = logging.getLogger(__name__)


class CommandPublisher:
    def __init__(self, producer: Producer, topics: TopicNames, timeout_s: float) -> None:
        self._producer = producer
        self._topic = topics.commands
        self._timeout_s = timeout_s
        self._lock = threading.Lock()  # one flush at a time keeps each caller's error list its own

    def publish(self, commands: list[Command]) -> None:
        job_ids = sorted({command.job_id for command in commands})
        with otel.get_tracer(__name__).start_as_current_span(
            "control_api.job",
            kind=otel.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": self._topic,
                "messaging.operation.type": "send",
                "messaging.batch.message_count": len(commands),
                "lakepulse.job_id": ",".join(job_ids),
                "lakepulse.command.actions": sorted({command.action.value for command in commands}),
            },
        ):
            self._publish(commands)

    def _publish(self, commands: list[Command]) -> None:
        errors: list[str] = []

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                errors.append(f"{message.topic()}: {error}")

        trace = current_trace_context()
        with self._lock:
            try:
                for command in commands:
                    if command.trace is None:
                        command = command.model_copy(update={"trace": trace})
                    self._producer.produce(
                        self._topic, key=command.key, value=command.to_bytes(), on_delivery=on_delivery
                    )
            except (KafkaException, BufferError) as exc:
                errors.append(f"{self._topic}: {exc}")
            remaining = self._producer.flush(self._timeout_s)
        if remaining:
            errors.append(f"{remaining} command(s) not acknowledged within {self._timeout_s}s")
        if errors:
            raise CommandDeliveryError("; ".join(errors))
        for command in commands:
            log.info(
                "command %s sent to %s for job %s",
                command.action.value,
                command.target_service,
                command.job_id,
            )

    def close(self) -> None:
        self._producer.flush(self._timeout_s)
