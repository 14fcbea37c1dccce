"""Running the emitter in a test, reading its topics back, and replaying them into tables."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg2
import psycopg2.errors
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from lakepulse_cdc_emitter.config import CdcEmitterSettings
from lakepulse_cdc_emitter.emitter import CdcEmitter
from lakepulse_common.kafka import create_admin, create_consumer
from lakepulse_common.runtime import Shutdown
from lakepulse_common.topics import TopicNames
from tests.support import random_name, wait_for


class EmitterThread:
    """The emitter in this process, so a test can stop it like SIGTERM does and see its errors."""

    def __init__(self, settings: CdcEmitterSettings, tracer: Any = None) -> None:
        self.shutdown = Shutdown()
        self.emitter = CdcEmitter(settings, self.shutdown, tracer=tracer)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="cdc-emitter", daemon=True)

    def _run(self) -> None:
        try:
            self.emitter.run()
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> EmitterThread:
        self._thread.start()
        self.wait_streaming()
        return self

    def wait_streaming(self, timeout_s: float = 120) -> None:
        """Block until the snapshot is delivered and the slot is streamed (or the emitter failed)."""
        wait_for(
            lambda: self.emitter.streaming.is_set() or self.error is not None, timeout_s, "emitter streaming"
        )
        if self.error is not None:
            raise AssertionError(f"emitter failed: {self.error!r}") from self.error

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.shutdown.request()
        self._thread.join(90)
        assert not self._thread.is_alive(), "emitter did not stop within 90 s"
        if self.error is not None:
            raise AssertionError(f"emitter failed: {self.error!r}") from self.error


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: Any
    value: Any
    headers: dict[str, bytes]

    @property
    def table(self) -> str:
        return self.topic.rsplit(".", 1)[1]


class TopicReader:
    """Reads every partition of the CDC topics (and the transaction topic) from the beginning."""

    def __init__(self, settings: CdcEmitterSettings) -> None:
        self.topics = TopicNames.from_settings(settings.kafka)
        self._admin = create_admin(settings.kafka)
        self._consumer = create_consumer(settings.kafka, "cdc-test-reader", random_name("g"))
        self._assigned: set[tuple[str, int]] = set()
        self.records: list[Record] = []

    def close(self) -> None:
        self._consumer.close()

    def _refresh(self) -> None:
        metadata = self._admin.list_topics(timeout=10)
        wanted = [
            TopicPartition(name, p, OFFSET_BEGINNING)
            for name, topic in metadata.topics.items()
            if name.startswith(self.topics.cdc_prefix)
            for p in topic.partitions
            if (name, p) not in self._assigned
        ]
        if wanted:
            self._assigned.update((tp.topic, tp.partition) for tp in wanted)
            self._consumer.incremental_assign(wanted)

    def poll_until(
        self, condition: Callable[[list[Record]], bool], timeout_s: float, what: str
    ) -> list[Record]:
        deadline = time.monotonic() + timeout_s
        next_refresh = 0.0
        while not condition(self.records):
            now = time.monotonic()
            if now > deadline:
                raise AssertionError(
                    f"timed out after {timeout_s}s waiting for {what} ({len(self.records)} records)"
                )
            if now >= next_refresh:
                self._refresh()
                next_refresh = now + 1.0
            for message in self._consumer.consume(10_000, timeout=0.5):
                assert message.error() is None, message.error()
                raw_key, raw_value = message.key(), message.value()
                self.records.append(
                    Record(
                        message.topic(),
                        message.partition(),
                        message.offset(),
                        None if raw_key is None else orjson.loads(raw_key),
                        None if raw_value is None else orjson.loads(raw_value),
                        dict(message.headers() or []),
                    )
                )
        return self.records

    def read_to_end(self, timeout_s: float = 60) -> list[Record]:
        """Everything the topics hold now (their high watermarks), for a producer that has stopped."""
        self._refresh()
        total = sum(
            self._consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
            for topic, partition in self._assigned
        )
        return self.poll_until(lambda records: len(records) >= total, timeout_s, f"{total} records")

    def data(self, table: str | None = None) -> list[Record]:
        return [
            r
            for r in self.records
            if r.topic != self.topics.transaction and (table is None or r.table == table)
        ]

    def transactions(self) -> list[Record]:
        return [r for r in self.records if r.topic == self.topics.transaction]


def replay(records: Iterable[Record], key_column: str) -> dict[Any, dict[str, Any]]:
    """Apply the change events of one table, partition by partition in offset order, as a sink would."""
    by_partition: dict[int, dict[Any, dict[str, Any]]] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        rows = by_partition.setdefault(record.partition, {})
        event = record.value
        if event is None:
            continue  # tombstone
        op = event["op"]
        if op in ("c", "r", "u"):
            rows[event["after"][key_column]] = event["after"]
        elif op == "d":
            rows.pop(event["before"][key_column], None)
        elif op == "t":
            rows.clear()
    merged: dict[Any, dict[str, Any]] = {}
    for rows in by_partition.values():
        overlap = merged.keys() & rows.keys()
        assert not overlap, f"keys in several partitions: {sorted(overlap)[:5]}"
        merged.update(rows)
    return merged


def query(
    conn: psycopg2.extensions.connection, statement: str, params: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else []


def rows_as_dicts(
    conn: psycopg2.extensions.connection, statement: str, key_column: str
) -> dict[Any, dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute(statement)
        names = [d.name for d in cur.description]
        return {row[names.index(key_column)]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}


def snapshot_status(conn: psycopg2.extensions.connection, settings: CdcEmitterSettings) -> str | None:
    try:
        rows = query(
            conn,
            "SELECT status FROM lakepulse_cdc.emitter_state WHERE slot_name = %s",
            (settings.cdc.slot_name,),
        )
    except psycopg2.errors.UndefinedTable:
        return None
    return rows[0][0] if rows else None


def control_events(settings: CdcEmitterSettings) -> list[Any]:
    """Every event on the control topic so far (read partition by partition up to the high watermark)."""
    from lakepulse_common.control_events import ControlEvent

    topic = TopicNames.from_settings(settings.kafka).control
    consumer = create_consumer(settings.kafka, "cdc-test-control", random_name("g"))
    try:
        partitions = create_admin(settings.kafka).list_topics(topic, timeout=10).topics[topic].partitions
        events = []
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, p, low)])
            while True:
                message = consumer.poll(10)
                assert message is not None and message.error() is None, "control topic read stalled"
                events.append(ControlEvent.from_bytes(message.value()))
                if message.offset() >= high - 1:
                    break
        return events
    finally:
        consumer.close()
