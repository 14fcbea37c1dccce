"""Kafka partition choice, identical to the Java client's default partitioner for keyed records.

Every CDC topic is partitioned by the message key (librdkafka's ``murmur2_random`` partitioner is
Java-compatible for non-null keys). Orders and order lines are partitioned by customer instead:
the partition is ``murmur2(str(customer_id)) mod partitions``, what a Java producer computes for a
record keyed by the customer id as a string. Order lines do not carry the customer, so an LRU
cache fed by the orders events maps order → customer, with a catalog query as the fallback.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

_SEED: Final = 0x9747B28C
_M: Final = 0x5BD1E995
_MASK: Final = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2`` as an unsigned 32-bit value."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    full = length & ~3
    for i in range(0, full, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail == 3:
        h ^= data[full + 2] << 16
    if tail >= 2:
        h ^= data[full + 1] << 8
    if tail >= 1:
        h ^= data[full]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def java_partition(key: bytes, partitions: int) -> int:
    """``Utils.toPositive(Utils.murmur2(key)) % partitions`` — the Java default partitioner."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def customer_partition(customer_id: Any, partitions: int) -> int:
    return java_partition(str(customer_id).encode(), partitions)


class OrderCustomerCache:
    """A bounded order_id → customer_id map, refreshed by every orders event."""

    def __init__(self, capacity: int, lookup: Callable[[Any], Any | None]) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[Any, Any] = OrderedDict()
        self._lookup = lookup
        self.misses = 0

    def remember(self, order_id: Any, customer_id: Any) -> None:
        entries = self._entries
        entries[order_id] = customer_id
        entries.move_to_end(order_id)
        if len(entries) > self._capacity:
            entries.popitem(last=False)

    def customer_of(self, order_id: Any) -> Any | None:
        customer = self._entries.get(order_id)
        if customer is not None:
            return customer
        self.misses += 1
        customer = self._lookup(order_id)
        if customer is not None:
            self.remember(order_id, customer)
        return customer

    def __len__(self) -> int:
        return len(self._entries)
