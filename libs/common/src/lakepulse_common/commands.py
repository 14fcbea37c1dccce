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
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from lakepulse_common.control_events import Command, CommandAction, ControlEvent, EventKind
from lakepulse_common.errors import ControlEventError, LakePulseError
from lakepulse_common.kafka import create_consumer
from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.storage import validate_table_name
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


def expiry_reason(command: Command, ttl_s: float, now: datetime | None = None) -> str | None:
    """Why ``command`` is too old to run when read at ``now`` (``None`` when it is not).

    The commands topic is retained, so a service that starts with a new consumer group (a new
    deployment, a reset group) reads commands that were answered long ago; those are not run again.
    """
    read_at = now or datetime.now(UTC)
    issued_at = command.issued_at if command.issued_at.tzinfo else command.issued_at.replace(tzinfo=UTC)
    age = (read_at - issued_at).total_seconds()
    if age <= ttl_s:
        return None
    return (
        f"expired: issued at {command.issued_at.isoformat()}, {age:,.0f} s before it was read"
        f" (command_ttl_s = {ttl_s:g})"
    )


class CommandListener(threading.Thread):
    """Reads the commands topic and queues this service's commands for the service's main loop.

    The listener does no work itself: :meth:`take` hands the next command to the main loop, which runs
    it between batches (so a command never races a micro-batch). The committed offset never passes a
    command of this service that was not reported :meth:`finished`: a crash while a command is queued or
    running re-delivers it (and the commands after it) on restart, and handlers are idempotent.
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
        self._ttl_s = settings.control_api.command_ttl_s
        self._expired: dict[str, str] = {}  # command id -> why it is not run
        self._unfinished: dict[str, tuple[str, int, int]] = {}  # command id -> topic, partition, offset
        self._read_up_to: dict[tuple[str, int], int] = {}  # next offset after what was read
        self._committed: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                message = self._consumer.poll(0.5)
                value = message.value() if message is not None and not message.error() else None
                if message is not None and value is not None:
                    self._accept(message.topic(), message.partition(), message.offset(), value)
                self._commit()
        finally:
            self._commit()
            self._consumer.close()

    def _accept(self, topic: str | None, partition: int | None, offset: int | None, value: bytes) -> None:
        if topic is None or partition is None or offset is None:
            return
        try:
            command = Command.from_bytes(value)
        except ControlEventError as exc:
            log.warning("ignoring malformed command at %s[%s]@%s: %s", topic, partition, offset, exc)
            command = None
        with self._lock:
            if command is not None and command.target_service == self.service:
                if command.action is CommandAction.CANCEL:
                    self._cancelled.add(str(command.params.get("job_id", command.job_id)))
                else:
                    self._pending.append(command)
                    self._unfinished[str(command.command_id)] = (topic, partition, offset)
                    reason = expiry_reason(command, self._ttl_s)
                    if reason is not None:
                        self._expired[str(command.command_id)] = reason
            self._read_up_to[(topic, partition)] = offset + 1

    def _commit(self) -> None:
        """Commit, per partition, up to the oldest unfinished command of this service (or all read)."""
        with self._lock:
            positions = dict(self._read_up_to)
            for topic, partition, offset in self._unfinished.values():
                positions[(topic, partition)] = min(positions[(topic, partition)], offset)
            changed = {tp: o for tp, o in positions.items() if self._committed.get(tp) != o}
        if not changed:
            return
        try:
            self._consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in changed.items()], asynchronous=False
            )
        except KafkaException as exc:  # retried on the next poll; re-delivery is harmless
            log.warning("command offsets not committed yet: %s", exc)
            return
        self._committed.update(changed)

    def finished(self, command: Command) -> None:
        """The command reached a final state: its offset may be committed."""
        with self._lock:
            self._unfinished.pop(str(command.command_id), None)
            self._expired.pop(str(command.command_id), None)

    def take(self) -> tuple[Command | None, bool]:
        """The next command and whether its job was cancelled before it started."""
        with self._lock:
            if not self._pending:
                return None, False
            command = self._pending.pop(0)
            return command, command.job_id in self._cancelled

    def expired(self, command: Command) -> str | None:
        """Why a queued command is not to be run: it was already too old when it was read."""
        with self._lock:
            return self._expired.get(str(command.command_id))

    def is_cancelled(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._cancelled

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


# --- parameters every maintenance handler checks the same way ----------------------------------------

DELTA_MIN_RETAIN_HOURS = 168.0  # Delta's retentionDurationCheck minimum: a shorter VACUUM can break readers


class CommandRejectedError(LakePulseError):
    """A command the service cannot carry out as asked (bad parameters, unknown table): the job fails,
    the service goes on."""


def maintained_tables(params: dict[str, Any], layer: str) -> list[str]:
    """``params.tables`` (distinct, validated names) of a maintenance command for ``layer``."""
    asked = params.get("layer", layer)
    if asked != layer:
        raise CommandRejectedError(f"this service maintains the {layer} layer, not {asked!r}")
    tables = params.get("tables")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, str) for t in tables):
        raise CommandRejectedError(f"params.tables must be a non-empty list of {layer} table names")
    for table in tables:
        try:
            validate_table_name(table)
        except ValueError as exc:
            raise CommandRejectedError(str(exc)) from exc
    return list(dict.fromkeys(tables))


def retain_hours(params: dict[str, Any]) -> float:
    """``params.retain_hours`` of a vacuum, never below :data:`DELTA_MIN_RETAIN_HOURS`."""
    raw = params.get("retain_hours", DELTA_MIN_RETAIN_HOURS)
    if not isinstance(raw, int | float) or isinstance(raw, bool):
        raise CommandRejectedError("params.retain_hours must be a number of hours")
    if raw < DELTA_MIN_RETAIN_HOURS:
        raise CommandRejectedError(
            f"retain_hours {raw} is below Delta's {DELTA_MIN_RETAIN_HOURS:g} h safety minimum"
        )
    return float(raw)


class JobCancelledError(Exception):
    """A cancel was seen at a safe point of a running job (before it wrote, or between tables)."""


class CommandRunner:
    """Runs a service's queued commands one by one and reports each outcome on the control topic.

    Subclasses set ``reporter`` and ``listener`` and implement :meth:`execute` (returning the success
    message). Errors in ``expected_failures`` (bad parameters and the like) answer ``failed`` and the
    service goes on; any other error answers ``failed`` and is re-raised, and the command's offset is
    not committed, so it is re-delivered after the restart.
    """

    reporter: JobReporter
    listener: CommandListener | None
    expected_failures: tuple[type[Exception], ...] = (CommandRejectedError,)

    def execute(self, command: Command) -> str:
        raise CommandRejectedError(f"{command.target_service} does not handle {command.action.value!r}")

    def run_pending(self) -> int:
        """Run every command the listener has queued; returns how many were handled."""
        if self.listener is None:
            return 0
        handled = 0
        while True:
            command, cancelled = self.listener.take()
            if command is None:
                return handled
            self.handle(command, cancelled=cancelled, expired=self.listener.expired(command))
            self.listener.finished(command)  # not reached when handle() re-raises: re-delivered
            handled += 1

    def handle(self, command: Command, *, cancelled: bool = False, expired: str | None = None) -> JobState:
        """Run one command and report its outcome; unexpected errors are reported, then re-raised.

        ``expired`` (see :func:`expiry_reason`) answers ``failed`` without running the command.
        """
        job = command.job_id
        if cancelled:
            self.reporter.report(job, JobState.CANCELLED, 0.0, "cancelled before it started")
            return JobState.CANCELLED
        if expired is not None:
            log.warning("job %s: %s not run, %s", job, command.action.value, expired)
            self.reporter.report(job, JobState.FAILED, None, expired)
            return JobState.FAILED
        log.info("job %s: %s %s", job, command.action.value, command.params)
        self.reporter.report(job, JobState.RUNNING, 0.0, f"{command.action.value} started")
        try:
            message = self.execute(command)
        except JobCancelledError as exc:
            self.reporter.report(job, JobState.CANCELLED, None, str(exc))
            return JobState.CANCELLED
        except self.expected_failures as exc:
            log.warning("job %s failed: %s", job, exc)
            self.reporter.report(job, JobState.FAILED, None, str(exc))
            return JobState.FAILED
        except Exception as exc:
            self.reporter.report(job, JobState.FAILED, None, f"{type(exc).__name__}: {exc}")
            raise
        self.reporter.report(job, JobState.SUCCEEDED, 1.0, message)
        return JobState.SUCCEEDED
