"""The emitter's lifecycle: publication → slot (+ snapshot when needed) → stream → graceful stop.

Delivery contract: the slot's ``confirmed_flush_lsn`` only moves to a transaction's end LSN once Kafka
acknowledged every event of it and of every transaction before it, so after any crash the slot
re-sends whatever might be missing (at-least-once; re-sent events carry the same ``source.lsn``).
When nothing is in flight, keepalives let the slot follow the server's WAL position, so an idle
publication does not pin WAL.
"""

from __future__ import annotations

import enum
import logging
import select
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg2.extras
from confluent_kafka import Producer
from opentelemetry import trace

from lakepulse_cdc_emitter import metrics
from lakepulse_cdc_emitter.catalog import Catalog
from lakepulse_cdc_emitter.config import SERVICE_NAME, CdcEmitterSettings
from lakepulse_cdc_emitter.delivery import EventSink
from lakepulse_cdc_emitter.envelope import Codec, JsonCodec, SourceFactory
from lakepulse_cdc_emitter.errors import CdcEmitterError, SnapshotInterrupted
from lakepulse_cdc_emitter.events import EventWriter
from lakepulse_cdc_emitter.partitioning import OrderCustomerCache
from lakepulse_cdc_emitter.pgoutput import format_lsn, parse_lsn
from lakepulse_cdc_emitter.relations import RelationRegistry, SchemaDiff
from lakepulse_cdc_emitter.replication import (
    create_slot,
    drop_slot,
    ensure_publication,
    open_replication,
    slot_exists,
    snapshot_order,
    start_stream,
    wait_slot_released,
)
from lakepulse_cdc_emitter.snapshot import SnapshotReader
from lakepulse_cdc_emitter.state import SnapshotState
from lakepulse_cdc_emitter.stream import ChangeStream
from lakepulse_common.control_events import ControlEvent, EventKind, Layer, LsnRange
from lakepulse_common.errors import KafkaAdminError
from lakepulse_common.kafka import TopicSpec, create_admin, create_producer, ensure_topics
from lakepulse_common.runtime import Heartbeater, Shutdown
from lakepulse_common.topics import TopicNames

log = logging.getLogger(__name__)

_FLUSH_TIMEOUT_S = 60.0
_CHECK_EVERY = 1024  # messages between clock reads on the busy path


class Outcome(enum.Enum):
    SHUTDOWN = "shutdown"
    RESNAPSHOT = "resnapshot"


@dataclass
class _Session:
    """Everything tied to one slot incarnation (a re-snapshot starts a new one)."""

    sink: EventSink
    writer: EventWriter
    registry: RelationRegistry
    stream: ChangeStream


class CdcEmitter:
    def __init__(
        self,
        settings: CdcEmitterSettings,
        shutdown: Shutdown,
        tracer: trace.Tracer | None = None,
        codec: Codec | None = None,
    ) -> None:
        self.settings = settings
        self.shutdown = shutdown
        self.tracer = tracer or trace.get_tracer(__name__)
        self.codec = codec or JsonCodec()
        self.topics = TopicNames.from_settings(settings.kafka)
        self.confirmed_lsn = 0
        self._admin = create_admin(settings.kafka, "lakepulse-cdc-emitter-admin")
        self._last_wal_heartbeat = 0.0
        self.streaming = threading.Event()  # set while the slot is being streamed (readiness)

    # wiring -----------------------------------------------------------------------------------

    def _ensure_cdc_topic(self, topic: str) -> int:
        kafka = self.settings.kafka
        spec = TopicSpec(
            topic,
            self.settings.cdc.partitions,
            kafka.retention_ms,
            replication_factor=kafka.replication_factor,
        )
        ensure_topics(self._admin, [spec])
        deadline = time.monotonic() + 30
        while True:  # a new topic's partitions show up in metadata a moment after creation
            partitions = self._admin.list_topics(topic, timeout=10).topics[topic].partitions
            if partitions:
                return len(partitions)
            if time.monotonic() > deadline:
                raise KafkaAdminError(f"topic {topic} has no partitions in the broker's metadata")
            time.sleep(0.1)

    def _producer(self) -> Producer:
        cdc = self.settings.cdc
        return create_producer(
            self.settings.kafka,
            "lakepulse-cdc-emitter",
            partitioner="murmur2_random",
            **{"queue.buffering.max.kbytes": cdc.producer_queue_kbytes, "linger.ms": cdc.linger_ms},
        )

    def _session(self, producer: Producer, catalog: Catalog, control: Producer) -> _Session:
        cdc = self.settings.cdc
        sink = EventSink(producer)
        customers = OrderCustomerCache(
            cdc.routing.cache_size,
            lambda order_id: catalog.lookup_one(
                cdc.routing.orders_table, cdc.routing.customer_column, cdc.routing.order_id_column, order_id
            ),
        )
        sources = SourceFactory(self.settings.server_name, self.settings.postgres.database)
        writer = EventWriter(sink, self.codec, self.topics, sources, customers, self._ensure_cdc_topic)
        registry = RelationRegistry(catalog, cdc.routing)

        def on_schema_change(diff: SchemaDiff, lsn: int) -> None:
            event = ControlEvent(
                kind=EventKind.SCHEMA_CHANGE,
                service=SERVICE_NAME,
                layer=Layer.SOURCE,
                table=diff.table.split(".", 1)[1],
                source_lsn=LsnRange(min=lsn, max=lsn),
                details={
                    "schema": diff.table.split(".", 1)[0],
                    "added": diff.added,
                    "removed": diff.removed,
                    "retyped": diff.retyped,
                    "columns": diff.columns,
                    "topic": self.topics.cdc(diff.table.split(".", 1)[1]),
                },
            )
            control.produce(self.topics.control, key=event.key, value=event.to_bytes())
            if control.flush(30):
                log.error("schema_change event for %s not acknowledged", diff.table)

        stream = ChangeStream(writer, registry, self.tracer, on_schema_change)
        return _Session(sink, writer, registry, stream)

    # lifecycle --------------------------------------------------------------------------------

    def run(self) -> None:
        settings = self.settings
        cdc = settings.cdc
        kafka = settings.kafka
        ensure_topics(
            self._admin,
            [
                TopicSpec(
                    self.topics.transaction,
                    1,
                    kafka.retention_ms,
                    replication_factor=kafka.replication_factor,
                ),
                TopicSpec(
                    self.topics.control,
                    kafka.default_partitions,
                    kafka.retention_ms,
                    replication_factor=kafka.replication_factor,
                ),
            ],
        )
        catalog = Catalog(settings.postgres)
        producer = self._producer()
        control = create_producer(kafka, "lakepulse-cdc-emitter-control")
        heartbeater = Heartbeater(
            control, self.topics, SERVICE_NAME, settings.heartbeat_interval_s, {"slot": cdc.slot_name}
        )
        heartbeater.start()
        try:
            state = SnapshotState(catalog, cdc.state_schema, cdc.slot_name)
            state.ensure()
            ensure_publication(catalog, cdc)
            while not self.shutdown.requested:
                session = self._session(producer, catalog, control)
                try:
                    conn = self._bootstrap(catalog, state, session)
                except SnapshotInterrupted as exc:
                    log.warning("%s; it will be redone on the next start", exc)
                    break
                try:
                    outcome = self._stream(conn, catalog, state, session, heartbeater)
                finally:
                    conn.close()
                if outcome is Outcome.SHUTDOWN:
                    break
                log.info("re-snapshot requested: restarting from a new slot")
        finally:
            heartbeater.stop()
            producer.flush(_FLUSH_TIMEOUT_S)
            control.flush(10)
            catalog.close()

    def _bootstrap(
        self, catalog: Catalog, state: SnapshotState, session: _Session
    ) -> psycopg2.extras.LogicalReplicationConnection:
        """A replication connection positioned on a slot whose snapshot (if any) is fully delivered."""
        cdc = self.settings.cdc
        status = state.status()
        exists = slot_exists(catalog, cdc.slot_name)
        wants_snapshot = status == "requested" or (cdc.snapshot_mode == "initial" and status != "done")
        if exists and wants_snapshot:
            log.warning(
                "slot %s has no complete snapshot behind it (status %s): starting over", cdc.slot_name, status
            )
            drop_slot(catalog, cdc.slot_name)
            exists = False
        if exists:
            wait_slot_released(catalog, cdc.slot_name)  # e.g. the walsender of a killed predecessor
        conn = open_replication(self.settings.postgres)
        if exists:
            return conn
        cur = conn.cursor()
        if not wants_snapshot:
            lsn, _ = create_slot(cur, cdc.slot_name, export_snapshot=False)
            state.set("done", format_lsn(lsn))
            return conn
        state.set("running")
        lsn, snapshot_name = create_slot(cur, cdc.slot_name, export_snapshot=True)
        if snapshot_name is None:
            conn.close()
            raise CdcEmitterError(f"slot {cdc.slot_name} was created without an exported snapshot")
        tables = snapshot_order(catalog, ensure_publication(catalog, cdc))
        reader = SnapshotReader(
            self.settings, session.writer, session.registry, self.tracer, lambda: self.shutdown.requested
        )
        started = time.monotonic()
        try:
            rows = reader.run(snapshot_name, lsn, tables)
            while session.sink.flush(_FLUSH_TIMEOUT_S) is None or not session.sink.idle:
                if self.shutdown.requested:
                    raise SnapshotInterrupted("shutdown before the snapshot was acknowledged")
        except BaseException:
            conn.close()  # the snapshot stays `running`: the next start redoes it
            raise
        state.finish_snapshot(format_lsn(lsn))
        log.info(
            "snapshot of %d rows from %d tables delivered in %.1f s",
            rows,
            len(tables),
            time.monotonic() - started,
        )
        self.confirmed_lsn = lsn
        return conn

    def _stream(
        self,
        conn: psycopg2.extras.LogicalReplicationConnection,
        catalog: Catalog,
        state: SnapshotState,
        session: _Session,
        heartbeater: Heartbeater,
    ) -> Outcome:
        cdc = self.settings.cdc
        cur = conn.cursor()
        rows = catalog.fetchall(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
            (cdc.slot_name,),
        )
        self.confirmed_lsn = parse_lsn(rows[0][0]) if rows and rows[0][0] else 0
        start_stream(cur, cdc)
        log.info("streaming slot %s from %s", cdc.slot_name, format_lsn(self.confirmed_lsn))
        self.streaming.set()
        stream, sink = session.stream, session.sink
        handle = stream.handle
        read = cur.read_message
        now = time.monotonic()
        next_feedback = now + cdc.feedback_interval_s
        next_status = now + cdc.status_interval_s
        last_message = now
        resnapshot = False
        count = 0
        while True:
            msg = read()
            if msg is not None:
                handle(msg.payload, msg.data_start)
                count += 1
                if resnapshot:
                    if stream.in_transaction:
                        continue
                    break
                if count % _CHECK_EVERY:
                    continue
                now = last_message = time.monotonic()
            else:
                now = time.monotonic()
                if resnapshot and not stream.in_transaction:
                    break
            if self.shutdown.requested:
                break
            if now >= next_feedback:
                next_feedback = now + cdc.feedback_interval_s
                self._feedback(cur, sink, stream, idle=msg is None)
            if now >= next_status:
                next_status = now + cdc.status_interval_s
                resnapshot = (
                    self._status(catalog, state, heartbeater, sink, idle_s=now - last_message) or resnapshot
                )
            if msg is None:
                sink.poll(0)
                # Short waits while deliveries are outstanding, so acks are served (and confirmed) promptly.
                select.select([conn], [], [], 0.005 if sink.in_flight else 0.1)
        self.streaming.clear()
        log.info("stream stopping: flushing the producer")
        sink.flush(_FLUSH_TIMEOUT_S)
        self._feedback(cur, sink, stream, idle=False)
        return Outcome.RESNAPSHOT if resnapshot else Outcome.SHUTDOWN

    def _feedback(self, cur: Any, sink: EventSink, stream: ChangeStream, *, idle: bool) -> None:
        sink.poll(0)
        target = self.confirmed_lsn
        acked = sink.acknowledged_lsn()
        if acked is not None and acked > target:
            target = acked
        if idle and sink.idle and not stream.in_transaction and cur.wal_end > target:
            target = cur.wal_end  # nothing in flight: everything the server sent so far is handled
        if target > self.confirmed_lsn:
            cur.send_feedback(write_lsn=target, flush_lsn=target, force=True)
            self.confirmed_lsn = target
            metrics.CONFIRMED_LSN.set(target)

    def _status(
        self, catalog: Catalog, state: SnapshotState, heartbeater: Heartbeater, sink: EventSink, idle_s: float
    ) -> bool:
        """Slot lag, liveness details, WAL heartbeat when idle; True when a re-snapshot is requested."""
        cdc = self.settings.cdc
        lag = catalog.slot_lag_bytes(cdc.slot_name)
        if lag is not None:
            metrics.SLOT_LAG_BYTES.set(lag)
        heartbeater.details = {
            "slot": cdc.slot_name,
            "confirmed_flush_lsn": format_lsn(self.confirmed_lsn),
            "slot_lag_bytes": lag,
            "events_produced": sink.produced,
        }
        interval = cdc.heartbeat_message_interval_s
        now = time.monotonic()
        if interval and idle_s >= interval and now - self._last_wal_heartbeat >= interval:
            self._last_wal_heartbeat = now
            catalog.emit_heartbeat_message(f"lakepulse-heartbeat:{cdc.slot_name}")
        return state.status() == "requested"
