"""The service loop: silver commit events in, gold builds out; control-plane commands on the side.

One consumer (group ``gold.consumer_group``) reads ``<prefix>.control`` and ``<prefix>.commands``.
Silver commit events are gathered for ``gold.batch_window_s`` (and, while a silver round they belong
to has not ended, up to ``gold.round_wait_s``: see :mod:`rounds`) and answered with ONE incremental
build that brings gold up to silver's newest versions (however many events asked). Offsets are
committed only after the build's Delta commits and the notifications are durable; a crash before
that re-delivers the events, and the re-run finds ``_build_state`` already current (or recomputes
the same rows). Messages that cannot be decoded are quarantined to a JSON-lines file with their
position and reason; any other error stops the service loudly.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from opentelemetry import trace

from lakepulse_common.commands import expiry_reason
from lakepulse_common.control_events import (
    Command,
    CommandAction,
    ControlEvent,
    EventKind,
    Layer,
)
from lakepulse_common.errors import ControlEventError
from lakepulse_common.runtime import Shutdown
from lakepulse_common.snapshot_warmer import SnapshotWarmer
from lakepulse_common.spark import release_unreachable_jvm_objects
from lakepulse_common.telemetry import context_from_headers, current_trace_context, link_from_headers
from lakepulse_common.topics import TopicNames
from lakepulse_gold_builder import metrics
from lakepulse_gold_builder.build import BuildReport, full_rebuild, today_utc, warm_committed
from lakepulse_gold_builder.config import SERVICE_NAME, GoldBuilderSettings
from lakepulse_gold_builder.errors import SilverNotReadyError, UnsupportedCommandError
from lakepulse_gold_builder.incremental import incremental_update, rebuild_dates
from lakepulse_gold_builder.maintenance import CompactionPolicy, optimize, vacuum
from lakepulse_gold_builder.notifications import Provenance, Publisher
from lakepulse_gold_builder.rounds import RoundTracker

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

MAX_TRACE_LINKS = 32  # links from one gold.build span to the silver commits it answers


def position(message: Message) -> str:
    return f"{message.topic()}[{message.partition()}]@{message.offset()}"


def build_links(events: list[ControlEvent]) -> list[trace.Link]:
    """Links to the traces of the silver commits a build answers (one per distinct trace, capped)."""
    links: dict[str, trace.Link] = {}
    for event in events:
        if event.trace is None or event.trace.traceparent in links:
            continue
        link = link_from_headers(event.trace.model_dump(exclude_none=True))
        if link is not None and event.trace.traceparent is not None:
            links[event.trace.traceparent] = link
    return list(links.values())[:MAX_TRACE_LINKS]


def error_kind(exc: BaseException) -> str:
    """The ``kind`` label of ``lakepulse_gold_errors_total`` for what stopped the service loop."""
    if isinstance(exc, KafkaException):
        return "kafka"
    return "unexpected"


def _b64(value: str | bytes | None) -> str:
    raw = value.encode() if isinstance(value, str) else (value or b"")
    return base64.b64encode(raw).decode()


class Quarantine:
    """Undecodable control/command messages, kept with key, value, headers, position and reason."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def put(self, message: Message, reason: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "topic": message.topic(),
            "partition": message.partition(),
            "offset": message.offset(),
            "key": _b64(message.key()),
            "value": _b64(message.value()),
            "headers": [[header[0], _b64(header[1])] for header in (message.headers() or [])],
            "error": reason,
            "quarantined_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        with self.path.open("ab") as handle:
            handle.write(orjson.dumps(record) + b"\n")
        log.warning("quarantined %s: %s", position(message), reason)


@dataclass
class Batch:
    silver_events: list[ControlEvent] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    expired: dict[str, str] = field(default_factory=dict)  # command id -> why it is not run
    consumed: list[Message] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return len(self.consumed)


class GoldService:
    def __init__(
        self,
        settings: GoldBuilderSettings,
        spark: SparkSession,
        consumer: Consumer,
        publisher: Publisher,
        shutdown: Shutdown,
        *,
        as_of: Callable[[], dt.date] = today_utc,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.settings = settings
        self.spark = spark
        self.consumer = consumer
        self.publisher = publisher
        self.shutdown = shutdown
        self.as_of = as_of
        self.tracer = tracer or trace.get_tracer(__name__)
        self.topics = TopicNames.from_settings(settings.kafka)
        self.quarantine = Quarantine(settings.state_dir / "quarantine" / f"{SERVICE_NAME}.jsonl")
        self.compaction = CompactionPolicy(settings.gold.optimize_every_commits)
        self.reports: list[BuildReport] = []
        # Between builds, the snapshots just committed are warmed for the next build (snapshot_warmer).
        self.warmer = SnapshotWarmer(spark) if settings.gold.warm_snapshots else None
        self.rounds = RoundTracker()

    def subscribe(self) -> None:
        self.consumer.subscribe([self.topics.control, self.topics.commands])

    def run(self) -> None:
        self.subscribe()
        try:
            while not self.shutdown.requested:
                self.run_once()
        except Exception as exc:  # counted, then the service stops loudly
            metrics.ERRORS.labels(error_kind(exc)).inc()
            raise
        finally:
            if self.warmer is not None:
                self.warmer.close()

    def run_once(self) -> Batch:
        """Poll one batch, act on it, then commit its offsets. Returns what was consumed."""
        batch = self._poll_batch()
        if batch.messages == 0:
            return batch
        if batch.silver_events:
            self._build(batch.silver_events)
        for command in batch.commands:
            self._run_command(command, expired=batch.expired.get(str(command.command_id)))
        self.publisher.flush()
        for message in batch.consumed:  # offsets are stored only now, after the sink is durable
            self.consumer.store_offsets(message=message)
        self.consumer.commit(asynchronous=False)
        return batch

    def _poll_batch(self) -> Batch:
        """Poll until the batch window after the first message has passed and no silver round with
        commits in the batch is still open (at most ``round_wait_s`` after the first message)."""
        gold = self.settings.gold
        batch = Batch()
        window_end: float | None = None
        wait_end = 0.0
        while batch.messages < gold.max_events_per_batch:
            now = time.monotonic()
            if window_end is None:
                timeout = gold.poll_timeout_s
            elif now < window_end:
                timeout = window_end - now
            elif self.rounds.waiting and now < wait_end:
                timeout = min(gold.poll_timeout_s, wait_end - now)
            else:
                break
            messages = self.consumer.consume(gold.max_events_per_batch - batch.messages, timeout)
            for message in messages:
                self._accept(message, batch)
            if batch.messages and window_end is None:
                window_end = time.monotonic() + gold.batch_window_s
                wait_end = time.monotonic() + gold.round_wait_s
            if window_end is None and not messages:
                break
        unended = self.rounds.settle()
        if unended and batch.silver_events:
            log.warning("building without the end of silver round(s) %s", sorted(unended))
        return batch

    def _accept(self, message: Message, batch: Batch) -> None:
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                return
            raise KafkaException(error)
        batch.consumed.append(message)
        try:
            if message.topic() == self.topics.commands:
                command = Command.from_bytes(message.value() or b"")
                if command.target_service == SERVICE_NAME:
                    batch.commands.append(command)
                    reason = expiry_reason(command, self.settings.control_api.command_ttl_s)
                    if reason is not None:
                        batch.expired[str(command.command_id)] = reason
                return
            event = ControlEvent.from_bytes(message.value() or b"")
        except ControlEventError as exc:
            metrics.SILVER_EVENTS.labels("quarantined").inc()
            metrics.ERRORS.labels("undecodable_message").inc()
            self.quarantine.put(message, str(exc))
            return
        if event.layer is not Layer.SILVER:
            return
        if event.kind is EventKind.COMMIT:
            metrics.SILVER_EVENTS.labels("accepted").inc()
            batch.silver_events.append(event)
            self.rounds.commit(event)
        elif event.kind is EventKind.ROUND_END:
            self.rounds.end(event)

    def _build(self, events: list[ControlEvent]) -> BuildReport:
        """One incremental build in a ``gold.build`` span linked to the silver commits it answers.

        Its commit events carry the span's context and what the silver events covered of the source
        (LSN range, newest commit time), like silver's and bronze's do.
        """
        gold = self.settings.gold
        started = time.perf_counter()
        with self.tracer.start_as_current_span(
            "gold.build",
            kind=trace.SpanKind.CONSUMER,
            links=build_links(events),
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": self.topics.control,
                "messaging.operation.type": "process",
                "messaging.batch.message_count": len(events),
                "lakepulse.layer": "gold",
            },
        ) as span:
            provenance = Provenance.of_events(events, current_trace_context())
            try:
                with self.publisher.building(provenance):
                    report = incremental_update(
                        self.spark,
                        self.settings.lake_root,
                        publisher=self.publisher,
                        as_of=self.as_of(),
                        max_records_per_file=gold.target_file_rows,
                        max_incremental_orders=gold.max_incremental_orders,
                        interpreted=gold.interpreted_incremental,
                    )
            except SilverNotReadyError as exc:
                # Silver creates its tables one by one; a later commit event triggers the first build.
                log.warning("gold build deferred: %s", exc)
                report = BuildReport(
                    build_id="", mode="incremental", silver_versions={}, skipped=True, reason=str(exc)
                )
            span.set_attributes(
                {
                    "lakepulse.gold.build_id": report.build_id,
                    "lakepulse.gold.mode": report.mode,
                    "lakepulse.gold.skipped": report.skipped,
                    "lakepulse.gold.commits": len(report.commits),
                }
            )
        self._observe(report, started)
        newest = max(event.produced_at for event in events)
        metrics.BUILD_LAG_SECONDS.set((dt.datetime.now(dt.UTC) - newest).total_seconds())
        due = self.compaction.record(report.commits)
        if due:
            for result in optimize(self.spark, self.settings.lake_root, due):
                metrics.TABLE_FILES.labels(result.table).set(result.files_after)
            if self.warmer is not None:
                warm_committed(self.warmer, self.settings.lake_root, due)
        release_unreachable_jvm_objects()
        return report

    def _observe(self, report: BuildReport, started: float) -> None:
        outcome = "skipped" if report.skipped else "committed"
        metrics.BUILDS.labels(report.mode, outcome).inc()
        metrics.BUILD_SECONDS.labels(report.mode).observe(time.perf_counter() - started)
        for table, version in report.commits.items():
            metrics.COMMITS.labels(table).inc()
            metrics.TABLE_VERSION.labels(table).set(version)
        for table, version in report.silver_versions.items():
            metrics.SILVER_VERSION.labels(table).set(version)
        self.reports.append(report)
        if self.warmer is not None:
            warm_committed(self.warmer, self.settings.lake_root, report.commits)

    def _run_command(self, command: Command, expired: str | None = None) -> None:
        """Run a command in a ``gold.command`` span that continues the control-api job's trace.

        ``expired`` (see :func:`expiry_reason`): answered ``failed`` without running it.
        """
        parent = context_from_headers(command.trace.model_dump(exclude_none=True)) if command.trace else None
        with self.tracer.start_as_current_span(
            "gold.command",
            context=parent,  # type: ignore[arg-type]
            kind=trace.SpanKind.CONSUMER,
            attributes={"lakepulse.job_id": command.job_id, "lakepulse.command.action": command.action.value},
        ):
            if expired is not None:
                log.warning("job %s: %s not run, %s", command.job_id, command.action.value, expired)
                metrics.COMMANDS.labels(command.action, "expired").inc()
                self._progress(command, "failed", {"error": expired})
                return
            self._progress(command, "started", {})
            try:
                with self.publisher.building(Provenance(trace=current_trace_context())):
                    result = self.execute(command)
            except (UnsupportedCommandError, ValueError) as exc:
                metrics.COMMANDS.labels(command.action, "rejected").inc()
                metrics.ERRORS.labels("command_rejected").inc()
                self._progress(command, "failed", {"error": str(exc)})
                return
            metrics.COMMANDS.labels(command.action, "succeeded").inc()
            self._progress(command, "succeeded", result)

    def execute(self, command: Command) -> dict[str, Any]:
        """Run one command; raises :class:`UnsupportedCommandError` for what gold does not do."""
        params, lake_root = command.params, self.settings.lake_root
        tables = params.get("tables")
        if tables is not None and not isinstance(tables, list):
            raise UnsupportedCommandError("params.tables must be a list of gold table names")
        if command.action is CommandAction.OPTIMIZE:
            done = optimize(self.spark, lake_root, tables, zorder=bool(params.get("zorder", True)))
            return {"tables": [vars(result) for result in done]}
        if command.action is CommandAction.VACUUM:
            hours = float(params.get("retain_hours", self.settings.gold.vacuum_retain_hours))
            done = vacuum(self.spark, lake_root, tables, retain_hours=hours)
            return {"tables": [vars(result) for result in done]}
        if command.action in (CommandAction.BACKFILL, CommandAction.REPROCESS):
            started = time.perf_counter()
            if "start_date" in params or "end_date" in params:
                start = dt.date.fromisoformat(str(params["start_date"]))
                end = dt.date.fromisoformat(str(params.get("end_date", params["start_date"])))
                report = rebuild_dates(
                    self.spark, lake_root, start, end, publisher=self.publisher, as_of=self.as_of()
                )
            else:
                report = full_rebuild(self.spark, lake_root, publisher=self.publisher, as_of=self.as_of())
            self._observe(report, started)
            return {"build_id": report.build_id, "mode": report.mode, "commits": report.commits}
        raise UnsupportedCommandError(f"{SERVICE_NAME} does not handle {command.action.value!r} commands")

    def _progress(self, command: Command, status: str, details: dict[str, Any]) -> None:
        event = ControlEvent(
            kind=EventKind.JOB_PROGRESS,
            service=SERVICE_NAME,
            trace=command.trace,
            details={
                "job_id": command.job_id,
                "command_id": str(command.command_id),
                "action": command.action.value,
                "status": status,
                **details,
            },
        )
        self.publisher.publish_event(event)
