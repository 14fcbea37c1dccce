"""Kafka's murmur2 partitioner (Java-compatible) and the order → customer cache."""

import pytest

from lakepulse_cdc_emitter.partitioning import OrderCustomerCache, customer_partition, java_partition, murmur2

pytestmark = pytest.mark.unit


def _signed(value):
    return value - (1 << 32) if value >= 1 << 31 else value


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # the vectors of Kafka's UtilsTest.testMurmur2
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ("abc", 479470107),
    ],
)
def test_murmur2_matches_kafka(text, expected):
    assert _signed(murmur2(text.encode())) == expected


def test_partition_is_positive_hash_modulo_partitions():
    assert java_partition(b"21", 3) == (-973932308 & 0x7FFFFFFF) % 3
    assert customer_partition(42, 6) == java_partition(b"42", 6) == customer_partition("42", 6)
    assert {customer_partition(c, 4) for c in range(100)} == {0, 1, 2, 3}


def test_cache_remembers_evicts_and_falls_back_to_the_lookup():
    looked_up = []

    def lookup(order_id):
        looked_up.append(order_id)
        return "9" if order_id == "3" else None

    cache = OrderCustomerCache(2, lookup)
    cache.remember("1", "10")
    cache.remember("2", "20")
    assert cache.customer_of("1") == "10"  # hit, and now most recent
    cache.remember("4", "40")  # evicts "2", the least recently used
    assert len(cache) == 2
    assert cache.customer_of("3") == "9" and cache.customer_of("2") is None
    assert looked_up == ["3", "2"] and cache.misses == 2
