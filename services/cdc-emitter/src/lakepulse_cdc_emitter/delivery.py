"""Producing events and knowing which source LSN Kafka has fully acknowledged.

Events are grouped in :class:`Batch` es — one per source transaction, in commit order. A batch's
LSN may be confirmed to the replication slot only when it is closed (every event produced) and
every delivery callback reported success, and so has every batch before it. A failed delivery
poisons the sink: the next :meth:`EventSink.acknowledged_lsn` raises, so nothing past it is ever
confirmed.
"""

from __future__ import annotations

import logging
import time
from collections import deque

from confluent_kafka import KafkaError, Message, Producer

from lakepulse_cdc_emitter import metrics
from lakepulse_cdc_emitter.errors import DeliveryError
from lakepulse_common.telemetry import inject_trace_headers

log = logging.getLogger(__name__)

Headers = list[tuple[str, str | bytes | None]] | None

_POLL_EVERY = 1000


def trace_headers() -> Headers:
    """Kafka headers carrying the current span's W3C ``traceparent`` (None when tracing is off)."""
    headers: list[tuple[str, str | bytes | None]] = [
        (k, v.encode()) for k, v in inject_trace_headers({}).items()
    ]
    return headers or None


class Batch:
    __slots__ = ("ack", "closed", "commit_ts_us", "lsn", "pending", "sink")

    def __init__(self, sink: EventSink, lsn: int, commit_ts_us: int) -> None:
        self.sink = sink
        self.lsn = lsn
        self.commit_ts_us = commit_ts_us
        self.pending = 0
        self.closed = False
        self.ack = self._on_delivery  # one bound method per batch, reused for every event

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.sink.fail(err, msg)
        self.pending -= 1
        if not self.pending and self.closed:
            self.observe_latency()

    def observe_latency(self) -> None:
        """Source commit → the transaction's last acknowledgement (snapshot batches have no commit time)."""
        if self.commit_ts_us:
            metrics.COMMIT_TO_ACK_SECONDS.observe(max(0.0, _now_us() - self.commit_ts_us) / 1e6)


class EventSink:
    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self._open: deque[Batch] = deque()
        self._since_poll = 0
        self._error: str | None = None
        self._acknowledged: int | None = None
        self.produced = 0

    def open_batch(self, lsn: int, commit_ts_us: int) -> Batch:
        batch = Batch(self, lsn, commit_ts_us)
        self._open.append(batch)
        return batch

    @staticmethod
    def close_batch(batch: Batch) -> None:
        batch.closed = True
        if not batch.pending:
            batch.observe_latency()

    def produce(
        self,
        batch: Batch,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int,
        headers: Headers,
    ) -> None:
        batch.pending += 1
        producer = self._producer
        while True:
            try:
                producer.produce(topic, value, key, partition, on_delivery=batch.ack, headers=headers)
                break
            except BufferError:
                producer.poll(0.05)  # local queue full: serve delivery reports, then retry
        self.produced += 1
        self._since_poll += 1
        if self._since_poll >= _POLL_EVERY:
            self._since_poll = 0
            producer.poll(0)

    def fail(self, err: KafkaError, msg: Message) -> None:
        metrics.ERRORS.labels("delivery").inc()
        if self._error is None:
            self._error = f"{msg.topic()}[{msg.partition()}]: {err}"
            log.error("kafka delivery failed: %s", self._error)

    def poll(self, timeout_s: float = 0.0) -> None:
        self._producer.poll(timeout_s)

    def acknowledged_lsn(self) -> int | None:
        """The highest batch LSN whose events, and all earlier ones, Kafka acknowledged (None: none yet).

        Sticky: a second call returns the same LSN, not None. (It used to return only what a call
        newly retired, so the shutdown path's ``flush`` swallowed the LSN its final feedback needed.)
        """
        if self._error is not None:
            raise DeliveryError(f"kafka refused an event: {self._error}")
        open_batches = self._open
        while open_batches and open_batches[0].closed and open_batches[0].pending == 0:
            self._acknowledged = open_batches.popleft().lsn
        return self._acknowledged

    @property
    def idle(self) -> bool:
        """No batch is waiting: everything produced so far is acknowledged and confirmable."""
        return not self._open

    @property
    def in_flight(self) -> bool:
        """Messages are queued or awaiting their delivery report."""
        return len(self._producer) > 0

    def flush(self, timeout_s: float) -> int | None:
        """Wait for outstanding deliveries; returns the acknowledged LSN (raises on a failed delivery)."""
        remaining = self._producer.flush(timeout_s)
        if remaining:
            log.warning("%d events still unacknowledged after %.0f s", remaining, timeout_s)
        return self.acknowledged_lsn()


def _now_us() -> int:
    return time.time_ns() // 1000
