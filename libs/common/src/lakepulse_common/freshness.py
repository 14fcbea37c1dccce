"""Gauges of age, computed when Prometheus scrapes: now − the newest timestamp seen per label value.

Freshness (now − the source commit time of the newest change a stage applied) and heartbeat age grow
while nothing happens, so a value set at event time would be stale by the next scrape. Instead the
newest timestamp per label value is remembered and each labelled child of the gauge reports its age
through ``set_function``. The gauge itself stays an ordinary ``prometheus_client.Gauge``, registered
where the service keeps its other metrics.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from prometheus_client import Gauge


class AgeGauge:
    """Feeds a one-label :class:`Gauge` with ``now − newest timestamp`` per label value, in seconds."""

    def __init__(self, gauge: Gauge, clock: Callable[[], float] = time.time) -> None:
        self.gauge = gauge
        self._clock = clock
        self._newest_ms: dict[str, int] = {}
        self._lock = threading.Lock()

    def observe(self, label: str, timestamp_ms: int | None) -> None:
        """Remember ``timestamp_ms`` for ``label`` when it is newer than the newest seen so far."""
        if timestamp_ms is None:
            return
        with self._lock:
            known = self._newest_ms.get(label)
            if known is not None and known >= timestamp_ms:
                return
            self._newest_ms[label] = timestamp_ms
        if known is None:
            self.gauge.labels(label).set_function(lambda: self.age_seconds(label) or 0.0)

    def age_seconds(self, label: str) -> float | None:
        """Seconds since the newest timestamp of ``label`` (never negative: clocks of hosts differ)."""
        with self._lock:
            newest = self._newest_ms.get(label)
        return None if newest is None else max(0.0, self._clock() - newest / 1000)

    def newest_ms(self, label: str) -> int | None:
        with self._lock:
            return self._newest_ms.get(label)
