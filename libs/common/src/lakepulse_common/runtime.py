"""What every long-running service shares: graceful shutdown on SIGTERM/SIGINT and liveness heartbeats.

A service's main loop checks :attr:`Shutdown.requested` (or waits on it) and, once set, flushes,
commits and closes before returning. Heartbeats are control events of kind ``heartbeat``; the
control plane derives service liveness from them.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from confluent_kafka import Producer

from lakepulse_common.control_events import ControlEvent, EventKind
from lakepulse_common.topics import TopicNames

log = logging.getLogger(__name__)


class Shutdown:
    """Set by SIGTERM or SIGINT; the first signal asks politely, the main loop does the rest."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_name: str | None = None

    def install(self) -> Shutdown:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name
        log.info("shutdown requested by %s", self.signal_name)
        self._event.set()

    def request(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout_s: float) -> bool:
        return self._event.wait(timeout_s)


class Heartbeater(threading.Thread):
    """Publishes a heartbeat control event every ``interval_s`` until stopped."""

    def __init__(
        self,
        producer: Producer,
        topics: TopicNames,
        service: str,
        interval_s: float,
        details: dict[str, object] | None = None,
    ) -> None:
        super().__init__(name=f"{service}-heartbeat", daemon=True)
        self._producer = producer
        self._topics = topics
        self._service = service
        self._interval_s = interval_s
        self._stop_event = threading.Event()
        self.details: dict[str, object] = dict(details or {})

    def beat(self) -> None:
        event = ControlEvent(kind=EventKind.HEARTBEAT, service=self._service, details=dict(self.details))
        self._producer.produce(self._topics.control, key=event.key, value=event.to_bytes())
        self._producer.poll(0)

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.beat()
            except BufferError:
                log.warning("heartbeat skipped: producer queue full")
            self._stop_event.wait(self._interval_s)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=self._interval_s + 1)
