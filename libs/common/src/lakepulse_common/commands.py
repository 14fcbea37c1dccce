"""The service side of the control plane's command protocol (see docs/control-api.md).

A service listens on ``<prefix>.commands`` for :class:`Command`\\ s addressed to it and answers with
``job_progress`` control events: ``running`` when work starts, then one final state
(``succeeded`` | ``failed`` | ``cancelled``). A ``cancel`` that arrives before its job started makes
the listener skip that job and answer ``cancelled``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from enum import StrEnum

from confluent_kafka import Consumer, Producer

from lakepulse_common.control_events import Command, CommandAction, ControlEvent, EventKind
from lakepulse_common.errors import ControlEventError
from lakepulse_common.kafka import create_consumer
from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.topics import TopicNames

log = logging.getLogger(__name__)


class JobState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobReporter:
    """Publishes ``job_progress`` events for one service and waits for Kafka's acknowledgement."""

    def __init__(self, producer: Producer, topics: TopicNames, service: str) -> None:
        self._producer = producer
        self._topics = topics
        self._service = service

    def report(self, job_id: str, state: JobState, progress: float | None = None, message: str = "") -> None:
        details: dict[str, object] = {"job_id": job_id, "state": state.value, "message": message}
        if progress is not None:
            details["progress"] = max(0.0, min(1.0, progress))
        event = ControlEvent(kind=EventKind.JOB_PROGRESS, service=self._service, details=details)
        self._producer.produce(self._topics.control, key=event.key, value=event.to_bytes())
        self._producer.flush(30)


CommandHandler = Callable[[Command], None]


class CommandListener(threading.Thread):
    """Reads the commands topic and queues this service's commands for the service's main loop.

    The listener does no work itself: :meth:`take` hands the next command to the main loop, which runs
    it between batches (so a command never races a micro-batch). Offsets are committed once a command
    was taken; a crash before it finished re-delivers it, and handlers are idempotent.
    """

    def __init__(self, settings: LakePulseSettings, service: str, group_id: str | None = None) -> None:
        super().__init__(name=f"{service}-commands", daemon=True)
        self.service = service
        self._consumer: Consumer = create_consumer(
            settings.kafka, f"{service}-commands", group_id or f"lakepulse-{service}-commands"
        )
        self._consumer.subscribe([TopicNames.from_settings(settings.kafka).commands])
        self._pending: list[Command] = []
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                message = self._consumer.poll(0.5)
                value = message.value() if message is not None and not message.error() else None
                if message is None or value is None:
                    continue
                try:
                    command = Command.from_bytes(value)
                except ControlEventError as exc:
                    log.warning("ignoring malformed command at offset %s: %s", message.offset(), exc)
                    self._consumer.store_offsets(message)
                    continue
                if command.target_service == self.service:
                    with self._lock:
                        if command.action is CommandAction.CANCEL:
                            self._cancelled.add(str(command.params.get("job_id", command.job_id)))
                        else:
                            self._pending.append(command)
                self._consumer.store_offsets(message)
                self._consumer.commit(asynchronous=True)
        finally:
            self._consumer.close()

    def take(self) -> tuple[Command | None, bool]:
        """The next command and whether its job was cancelled before it started."""
        with self._lock:
            if not self._pending:
                return None, False
            command = self._pending.pop(0)
            return command, command.job_id in self._cancelled

    def is_cancelled(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._cancelled

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)
