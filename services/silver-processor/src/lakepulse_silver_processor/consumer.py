"""The control loop: bronze commit events in, silver batches applied, silver events out.

Events are triggers, not data: a table is always brought from its last applied bronze version
(recorded in the silver table's own Delta commit) to the announced one, so a duplicate event
(version already applied) changes nothing and a lost one is caught up by the next event or at
start-up. Control-topic offsets are committed only after every table of a polled batch has been
committed to Delta; on shutdown mid-batch they are not committed and the events come again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from opentelemetry import trace as otel

from lakepulse_common import delta_log
from lakepulse_common.announced import AnnouncedState
from lakepulse_common.control_events import (
    ROUND_ID,
    ControlEvent,
    EventKind,
    Layer,
    LsnRange,
    RowCounts,
    TraceContext,
)
from lakepulse_common.errors import ControlEventError, LakePulseError
from lakepulse_common.progress import BRONZE_TRANSACTIONS_TABLE
from lakepulse_common.runtime import Shutdown
from lakepulse_common.spark import release_unreachable_jvm_objects
from lakepulse_common.telemetry import context_from_headers, current_trace_context, link_from_headers
from lakepulse_common.topics import TopicNames
from lakepulse_silver_processor.config import SERVICE_NAME, SilverSettings
from lakepulse_silver_processor.expectations import children_of
from lakepulse_silver_processor.metrics import BatchStats
from lakepulse_silver_processor.processor import ExpectationFailed, SilverProcessor
from lakepulse_silver_processor.schemas import TABLES

log = logging.getLogger(__name__)

_TABLE_ORDER = {name: i for i, name in enumerate(TABLES)}  # parents before children
_MAX_TRACE_LINKS = 32  # links from one silver.batch span to the bronze commits it folds in


class ControlDeliveryError(LakePulseError):
    """A silver control event could not be delivered."""


def error_kind(exc: BaseException) -> str:
    """The ``kind`` label of ``lakepulse_silver_errors_total`` for what stopped the loop."""
    if isinstance(exc, ExpectationFailed):
        return "expectation_failed"
    if isinstance(exc, ControlDeliveryError):
        return "control_delivery"
    if isinstance(exc, KafkaException):
        return "kafka"
    return "unexpected"


def commit_event(stats: BatchStats, trace: TraceContext | None, round_id: str | None = None) -> ControlEvent:
    lsn = (
        LsnRange(min=stats.lsn_min, max=stats.lsn_max)
        if stats.lsn_min is not None and stats.lsn_max is not None
        else None
    )
    return ControlEvent(
        kind=EventKind.COMMIT,
        service=SERVICE_NAME,
        layer=Layer.SILVER,
        table=stats.table,
        delta_version=stats.silver_version,
        rows=RowCounts(
            input=stats.rows_in,
            written=stats.upserts,
            quarantined=stats.quarantined,
            deleted=stats.deletes,
        ),
        source_lsn=lsn,
        source_commit_ts_ms=stats.source_ts_ms_max,
        trace=trace,
        details={
            "bronze_version_from": stats.bronze_version_from,
            "bronze_version_to": stats.bronze_version_to,
            "held": stats.held,
            "released": stats.released,
            "rule_failures": stats.rule_failures,
            **({ROUND_ID: round_id} if round_id else {}),
        },
    )


def round_end_event(round_id: str, commits: Mapping[str, int]) -> ControlEvent:
    """The end of one round: every table the round committed, with its newest silver version."""
    return ControlEvent(
        kind=EventKind.ROUND_END,
        service=SERVICE_NAME,
        layer=Layer.SILVER,
        details={ROUND_ID: round_id, "commits": dict(commits)},
    )


def reannouncement(table: str, commit: delta_log.CommitInfo) -> ControlEvent:
    """The commit event for a silver version whose original event may not have gone out.

    Rebuilt from the Delta commit itself: the row counts come from the MERGE's operation metrics; the
    source LSN range and trace of the original batch are not kept in the table, so they are absent.
    """
    metrics = commit.operation_metrics

    def count(name: str) -> int:
        return int(metrics.get(name, "0") or 0)

    return ControlEvent(
        kind=EventKind.COMMIT,
        service=SERVICE_NAME,
        layer=Layer.SILVER,
        table=table,
        delta_version=commit.version,
        rows=RowCounts(
            written=count("numTargetRowsInserted") + count("numTargetRowsUpdated"),
            deleted=count("numTargetRowsDeleted"),
        ),
        details={"operation": commit.operation, "reannounced": True},
    )


def status_event(table: str, problems: list[str]) -> ControlEvent:
    return ControlEvent(
        kind=EventKind.TABLE_STATUS,
        service=SERVICE_NAME,
        layer=Layer.SILVER,
        table=table,
        details={"status": "paused", "problems": problems},
    )


class ControlLoop:
    def __init__(
        self,
        processor: SilverProcessor,
        consumer: Consumer,
        producer: Producer,
        topics: TopicNames,
        settings: SilverSettings,
        shutdown: Shutdown,
        tracer: otel.Tracer | None = None,
        announced: AnnouncedState | None = None,
    ) -> None:
        self.processor = processor
        self.consumer = consumer
        self.producer = producer
        self.topics = topics
        self.settings = settings
        self.shutdown = shutdown
        self.tracer = tracer or otel.get_tracer(__name__)
        self._announced_pauses: set[str] = set()
        self._delivery_errors: list[str] = []
        # The last silver version announced per table (acknowledged by Kafka), and what is in flight.
        self.announced = announced
        self._in_flight: dict[str, int] = {}
        # The round in progress (one poll's tables, or the start-up catch-up) and what it committed.
        self._round_id: str | None = None
        self._round_commits: dict[str, int] = {}

    def run(self) -> None:
        try:
            self.consumer.subscribe([self.topics.control])
            self.catch_up()
            while not self.shutdown.requested:
                self.poll_once()
        except Exception as exc:  # counted, then the service stops loudly
            self.processor.metrics.errors.labels(error_kind(exc)).inc()
            raise

    def catch_up(self) -> None:
        """Announce what a crash may have left unannounced, then apply whatever bronze holds beyond
        each table's applied version (missed events, restarts)."""
        self.reannounce()
        with self._round():
            for table in TABLES:
                if self.shutdown.requested:
                    break
                if self.processor.bronze_latest(table) >= 0:
                    self.run_table(table, None, None)
        self._flush()

    def reannounce(self) -> list[tuple[str, int]]:
        """Announce each table's newest silver version again if its event was not acknowledged.

        A crash between a silver commit and Kafka's acknowledgement of its event would otherwise leave
        gold (and any other subscriber) unaware of the commit until the next one. Only the newest
        version is announced: a silver event is a trigger, consumers read up to the newest version
        and deduplicate on (table, version). Without a state file (first start) every table is.
        """
        if self.announced is None:
            return []
        done = []
        for table in TABLES:
            uri = self.processor.uri(table)
            newest = delta_log.latest_version(self.processor.spark, uri)
            if newest < 0 or newest <= self.announced.last(table):
                continue
            for commit in delta_log.commit_infos(self.processor.spark, uri, newest, newest):
                log.info("silver %s@%d: announced again (its event may not have gone out)", table, newest)
                self._produce(reannouncement(table, commit))
                done.append((table, newest))
        self._flush()
        return done

    def poll_once(self) -> int:
        """Handle one batch of control events; returns how many messages were consumed."""
        messages = self.consumer.consume(self.settings.poll_max_events, self.settings.poll_timeout_s)
        if not messages:
            return 0
        targets: dict[str, int] = {}
        traces: dict[str, TraceContext | None] = {}
        triggers: dict[str, list[TraceContext]] = {}
        transaction_ends = False
        for message in messages:
            event = self._decode(message)
            if event is None or event.kind is not EventKind.COMMIT or event.layer is not Layer.BRONZE:
                continue
            if event.table == BRONZE_TRANSACTIONS_TABLE:
                transaction_ends = True  # END events alone can complete held transactions
                continue
            if event.table is None or event.delta_version is None or event.table not in TABLES:
                continue
            if event.trace is not None:
                triggers.setdefault(event.table, []).append(event.trace)
            if event.delta_version > targets.get(event.table, -1):
                targets[event.table] = event.delta_version
                traces[event.table] = event.trace
        ordered = sorted(targets, key=_TABLE_ORDER.__getitem__)
        with self._round():
            for i, table in enumerate(ordered):
                if self.shutdown.requested:
                    log.info("shutdown: leaving control offsets uncommitted, events will come again")
                    return len(messages)
                self.run_table(
                    table,
                    targets[table],
                    traces[table],
                    links=triggers.get(table, ()),
                    later={t: targets[t] for t in ordered[i + 1 :]},
                )
            if transaction_ends:
                self._retry_unblocked(None)
        self._flush()
        self.consumer.commit(offsets=self._next_offsets(messages), asynchronous=False)
        release_unreachable_jvm_objects()
        return len(messages)

    def run_table(
        self,
        table: str,
        version: int | None,
        trace: TraceContext | None,
        *,
        links: Sequence[TraceContext] = (),
        later: Mapping[str, int] | None = None,
    ) -> None:
        """Apply ``table`` up to bronze ``version`` in a ``silver.batch`` span that continues ``trace``.

        The span is a child of the triggering bronze commit's span and links to every other bronze
        event folded into it; the silver commit events carry the span's own context onwards.
        ``later`` are the tables (and bronze versions) this round applies next: a table with new data
        there re-evaluates its held changes in that batch, so it is not retried separately here.
        """
        if version is not None and version <= self.processor.applied_version(table):
            self.processor.metrics.duplicate_events.inc()
            log.info("bronze %s@%d already applied: duplicate event ignored", table, version)
            return
        with self._batch_span(table, version, trace, links):
            batches = self.processor.apply(table, version)
            self._announce(batches, current_trace_context())
            self._announce_pause(table)
            if batches:
                ahead = [t for t, v in (later or {}).items() if v > self.processor.applied_version(t)]
                self._retry_unblocked(table, skip=ahead)

    def _retry_unblocked(self, committed: str | None, skip: Iterable[str] = ()) -> None:
        """Re-evaluate held changes a commit may have unblocked, and follow what those release.

        Waiting are children missing a parent and, with transaction alignment, changes whose
        transaction has become complete. A retry that releases changes is itself a commit that may
        unblock others (an order released → its held lines), so it is followed too; each table is
        retried at most once per triggering commit.
        """
        queue: list[str | None] = [committed]
        retried: set[str] = set(skip)
        while queue:
            source = queue.pop(0)
            children = children_of(source) if source is not None else []
            waiting = set(children) | set(self.processor.tables_with_releasable_transactions())
            for other in sorted(waiting - {source} - retried, key=_TABLE_ORDER.__getitem__):
                done = self.processor.applied_version(other)
                if done < 0:
                    continue
                retried.add(other)
                with self._batch_span(other, done, None, ()):
                    results = self.processor.apply(other, done, retry_held=True)
                    self._announce(results, current_trace_context())
                if any(stats.released for stats in results):
                    queue.append(other)

    @contextmanager
    def _batch_span(
        self, table: str, version: int | None, parent: TraceContext | None, links: Sequence[TraceContext]
    ) -> Iterator[otel.Span]:
        context = context_from_headers(parent.model_dump(exclude_none=True)) if parent else None
        span_links = [
            link
            for link in (link_from_headers(t.model_dump(exclude_none=True)) for t in links if t != parent)
            if link is not None
        ]
        attributes: dict[str, str | int] = {
            "messaging.system": "kafka",
            "messaging.destination.name": self.topics.control,
            "messaging.operation.type": "process",
            "lakepulse.layer": "silver",
            "lakepulse.table": table,
        }
        if version is not None:
            attributes["lakepulse.bronze_version"] = version
        with (
            self.tracer.start_as_current_span(
                "silver.batch",
                context=context,  # type: ignore[arg-type]
                kind=otel.SpanKind.CONSUMER,
                links=span_links[:_MAX_TRACE_LINKS],
                attributes=attributes,
            ) as span
        ):
            yield span

    @contextmanager
    def _round(self) -> Iterator[None]:
        """One round of table applies; its commit events carry the round's id, and a ``round_end``
        event follows the last of them (also when shutdown cuts the round short: what was committed
        is final). Nothing is sent for a round that committed nothing, or that failed."""
        self._round_id, self._round_commits = uuid.uuid4().hex, {}
        try:
            yield
            if self._round_commits:
                self._produce(round_end_event(self._round_id, self._round_commits))
        finally:
            self._round_id, self._round_commits = None, {}

    def _announce(self, batches: Iterable[BatchStats], trace: TraceContext | None) -> None:
        for stats in batches:
            self._produce(commit_event(stats, trace, self._round_id))
            if self._round_id is not None and stats.silver_version is not None:
                self._round_commits[stats.table] = stats.silver_version

    def _announce_pause(self, table: str) -> None:
        problems = self.processor.paused.get(table)
        if problems and table not in self._announced_pauses:
            self._produce(status_event(table, problems))
            self._announced_pauses.add(table)

    def _produce(self, event: ControlEvent) -> None:
        if event.kind is EventKind.COMMIT and event.table is not None and event.delta_version is not None:
            self._in_flight[event.table] = max(self._in_flight.get(event.table, -1), event.delta_version)
        self.producer.produce(
            self.topics.control, key=event.key, value=event.to_bytes(), on_delivery=self._on_delivery
        )
        self.producer.poll(0)
        self.processor.metrics.control_events.labels(event.kind.value).inc()

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._delivery_errors.append(str(err))

    def _flush(self) -> None:
        remaining = self.producer.flush(self.settings.flush_timeout_s)
        if remaining or self._delivery_errors:
            errors, self._delivery_errors = self._delivery_errors, []
            raise ControlDeliveryError(f"{remaining} silver control events undelivered: {errors}")
        if self.announced is not None and self._in_flight:
            for table, version in self._in_flight.items():
                self.announced.versions[table] = max(self.announced.last(table), version)
            self.announced.save()
        self._in_flight.clear()

    def _decode(self, message: Message) -> ControlEvent | None:
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                return None
            raise KafkaException(error)
        value = message.value()
        if value is None:
            return None
        try:
            return ControlEvent.from_bytes(value)
        except ControlEventError as exc:
            self.processor.metrics.errors.labels("undecodable_event").inc()
            log.warning(
                "control message %s[%s]@%s ignored: %s",
                message.topic(),
                message.partition(),
                message.offset(),
                exc,
            )
            return None

    @staticmethod
    def _next_offsets(messages: list[Message]) -> list[TopicPartition]:
        newest: dict[tuple[str, int], int] = {}
        for message in messages:
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            if message.error() is None and topic is not None and partition is not None and offset is not None:
                newest[(topic, partition)] = max(newest.get((topic, partition), -1), offset)
        return [TopicPartition(topic, partition, offset + 1) for (topic, partition), offset in newest.items()]
