"""The control-topic reader: a confluent-kafka consumer thread that folds every event into the state.

It assigns itself every partition of the control topic (no group rebalancing: each replica of the
API must see all tables) and starts from the beginning, so the in-memory state is rebuilt from the
retained topic on every start. ``job_progress`` events update the jobs in Postgres; offsets are
committed to the ``control_group`` only after a batch is applied, which makes the reader's own lag
visible to operators. An unexpected error stops the reader and, through ``on_failure``, the service:
stale state served as if it were current would be worse than no state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition
from sqlalchemy.exc import OperationalError
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_random_exponential

from lakepulse_common.control_events import ControlEvent, EventKind
from lakepulse_common.errors import ControlEventError
from lakepulse_common.kafka import watermarks
from lakepulse_control_api import metrics
from lakepulse_control_api.errors import ControlConsumerError
from lakepulse_control_api.jobs import JobStore
from lakepulse_control_api.state import PipelineState

log = logging.getLogger(__name__)

_BATCH = 500
_POLL_S = 0.5


class ControlConsumer(threading.Thread):
    def __init__(
        self,
        consumer: Consumer,
        topic: str,
        state: PipelineState,
        jobs: JobStore,
        *,
        metadata_timeout_s: float,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        super().__init__(name="control-consumer", daemon=True)
        self._consumer = consumer
        self._topic = topic
        self._state = state
        self._jobs = jobs
        self._timeout_s = metadata_timeout_s
        self._on_failure = on_failure
        self._stop_event = threading.Event()
        self._caught_up = threading.Event()
        self._end_offsets: dict[int, int] = {}
        self.error: BaseException | None = None

    @property
    def caught_up(self) -> bool:
        """True once the topic has been read up to the end it had when the reader started."""
        return self._caught_up.is_set()

    @property
    def healthy(self) -> bool:
        return self.error is None and (self.is_alive() or not self._stop_event.is_set())

    def wait_caught_up(self, timeout_s: float) -> bool:
        return self._caught_up.wait(timeout_s)

    def run(self) -> None:
        try:
            self._assign_all()
            while not self._stop_event.is_set():
                messages = self._consumer.consume(num_messages=_BATCH, timeout=_POLL_S)
                if messages:
                    self._apply(messages)
                    self._commit(asynchronous=True)
                self._check_caught_up()
        except Exception as exc:  # the reader is the API's source of truth: any failure stops the service
            self.error = exc
            log.critical("control-topic reader stopped on an error", exc_info=True)
            if self._on_failure is not None:
                self._on_failure(exc)
        finally:
            self._close()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout_s)

    @retry(
        retry=retry_if_exception_type((ControlConsumerError, KafkaException)),
        wait=wait_random_exponential(multiplier=0.1, max=2.0),
        stop=stop_after_delay(30),
        reraise=True,
    )
    def _partition_ends(self) -> dict[int, int]:
        """Each control partition's end offset; a topic created a moment ago may need a moment to lead."""
        metadata = self._consumer.list_topics(topic=self._topic, timeout=self._timeout_s)
        topic = metadata.topics.get(self._topic)
        if topic is None or topic.error is not None or not topic.partitions:
            raise ControlConsumerError(f"control topic {self._topic} does not exist")
        marks = watermarks(self._consumer, self._topic, sorted(topic.partitions), self._timeout_s)
        return {partition: high for partition, (_low, high) in marks.items()}

    def _assign_all(self) -> None:
        ends = self._partition_ends()
        partitions = sorted(ends)
        self._end_offsets = {p: high for p, high in ends.items() if high > 0}
        self._consumer.assign([TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in partitions])
        log.info("reading %s from the beginning (%d partitions)", self._topic, len(partitions))

    def _apply(self, messages: list[Message]) -> None:
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(error)
            event = self._decode(message)
            if event is not None:
                self._state.apply(event)
                if event.kind is EventKind.JOB_PROGRESS:
                    self._apply_progress(event)
                elif event.kind is EventKind.HEARTBEAT:
                    metrics.HEARTBEAT_AGE.observe(event.service, int(event.produced_at.timestamp() * 1000))
                metrics.CONTROL_EVENTS.labels(event.kind.value).inc()
            self._consumer.store_offsets(message)
            self._note_position(message.partition() or 0, (message.offset() or 0) + 1)

    @staticmethod
    def _decode(message: Message) -> ControlEvent | None:
        try:
            return ControlEvent.from_bytes(message.value() or b"")
        except ControlEventError as exc:
            # Left in the topic where it is (the topic is the dead letter); counted and logged with its
            # position so the producer can be found. One bad producer must not blind the control plane.
            metrics.CONTROL_EVENTS_REJECTED.inc()
            position = f"{message.topic()}[{message.partition()}]@{message.offset()}"
            log.error("undecodable control event at %s: %s", position, exc)
            return None

    @retry(
        retry=retry_if_exception_type(OperationalError),
        wait=wait_random_exponential(multiplier=0.2, max=5.0),
        stop=stop_after_delay(60),
        reraise=True,
    )
    def _apply_progress(self, event: ControlEvent) -> None:
        self._jobs.apply_progress(event)

    def _note_position(self, partition: int, next_offset: int) -> None:
        end = self._end_offsets.get(partition)
        if end is not None and next_offset >= end:
            del self._end_offsets[partition]

    def _check_caught_up(self) -> None:
        if not self._end_offsets and not self._caught_up.is_set():
            self._caught_up.set()
            log.info("control state rebuilt from %s", self._topic)

    def _commit(self, *, asynchronous: bool) -> None:
        try:
            if asynchronous:
                self._consumer.commit(asynchronous=True)
            else:
                self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                raise

    def _close(self) -> None:
        try:
            self._commit(asynchronous=False)
        except KafkaException as exc:
            log.warning("final offset commit failed: %s", exc)
        finally:
            self._consumer.close()
        log.info("control-topic reader stopped")
