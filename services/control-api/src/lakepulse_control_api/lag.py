"""Consumer lag per service: committed (or announced) offsets against the partitions' high watermarks.

Services that consume through a Kafka consumer group (silver-processor, gold-builder) are measured
from the group's committed offsets (``list_consumer_group_offsets``). Spark's Kafka source keeps its
offsets in its checkpoint, not in a group, so the bronze writer is measured from the ``kafka_offsets``
its commit events announce. Either way the high watermarks come from one ``list_offsets`` request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from lakepulse_control_api import metrics
from lakepulse_control_api.state import PartitionKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int
    high_watermark: int

    @property
    def lag(self) -> int:
        return max(self.high_watermark - self.committed, 0)


@dataclass(frozen=True)
class ServiceLag:
    service: str
    source: str  # "consumer_group" or "commit_events"
    group: str | None
    partitions: tuple[PartitionLag, ...]
    error: str | None = None

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)


class LagMonitor:
    """Measures lag on demand, cached for ``cache_s`` so a busy status page does not hammer the broker."""

    def __init__(
        self, admin: AdminClient, consumer_groups: Mapping[str, str], timeout_s: float, cache_s: float
    ) -> None:
        self._admin = admin
        self._groups = dict(consumer_groups)
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._lock = threading.Lock()
        self._cached: tuple[float, list[ServiceLag]] | None = None

    def measure(self, announced: Mapping[str, Mapping[PartitionKey, int]]) -> list[ServiceLag]:
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < self._cache_s:
                return self._cached[1]
            result = [self._group_lag(service, group) for service, group in sorted(self._groups.items())]
            result += [
                self._announced_lag(service, offsets)
                for service, offsets in sorted(announced.items())
                if service not in self._groups and offsets
            ]
            for service_lag in result:
                if service_lag.error is None:
                    metrics.CONSUMER_LAG.labels(service_lag.service).set(service_lag.total)
            self._cached = (time.monotonic(), result)
            return result

    def _group_lag(self, service: str, group: str) -> ServiceLag:
        try:
            future = self._admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group)], request_timeout=self._timeout_s
            )[group]
            committed = {
                (tp.topic, tp.partition): tp.offset
                for tp in future.result(timeout=self._timeout_s).topic_partitions
                if tp.offset >= 0
            }
            return ServiceLag(service, "consumer_group", group, self._with_watermarks(committed))
        except (KafkaException, TimeoutError) as exc:
            log.warning("cannot measure the lag of group %s: %s", group, exc)
            return ServiceLag(service, "consumer_group", group, (), error=str(exc))

    def _announced_lag(self, service: str, offsets: Mapping[PartitionKey, int]) -> ServiceLag:
        try:
            return ServiceLag(service, "commit_events", None, self._with_watermarks(offsets))
        except (KafkaException, TimeoutError) as exc:
            log.warning("cannot measure the lag of %s: %s", service, exc)
            return ServiceLag(service, "commit_events", None, (), error=str(exc))

    def _with_watermarks(self, committed: Mapping[PartitionKey, int]) -> tuple[PartitionLag, ...]:
        if not committed:
            return ()
        request = {
            TopicPartition(topic, partition): OffsetSpec.latest()  # type: ignore[no-untyped-call]
            for topic, partition in committed
        }
        futures = self._admin.list_offsets(request, request_timeout=self._timeout_s)
        lags = []
        for tp, future in futures.items():
            high = future.result(timeout=self._timeout_s).offset
            lags.append(PartitionLag(tp.topic, tp.partition, committed[(tp.topic, tp.partition)], high))
        return tuple(sorted(lags, key=lambda p: (p.topic, p.partition)))
