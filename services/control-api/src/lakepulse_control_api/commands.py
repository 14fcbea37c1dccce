"""Publishing :class:`Command`s on the commands topic, synchronously: a job is only reported queued once
Kafka has acknowledged every command it needs."""

from __future__ import annotations

import logging
import threading

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from lakepulse_common.control_events import Command, TraceContext
from lakepulse_common.telemetry import inject_trace_headers
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
        errors: list[str] = []

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                errors.append(f"{message.topic()}: {error}")

        carrier = inject_trace_headers({})
        trace = TraceContext(traceparent=carrier.get("traceparent"), tracestate=carrier.get("tracestate"))
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
