"""AgeGauge: the age of the newest timestamp per label, computed when the registry is scraped."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Gauge

from lakepulse_common.freshness import AgeGauge

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _gauge() -> tuple[CollectorRegistry, AgeGauge, Clock]:
    registry = CollectorRegistry()
    clock = Clock(1_000.0)
    ages = AgeGauge(Gauge("freshness_seconds", "age", ["table"], registry=registry), clock=clock)
    return registry, ages, clock


def test_age_grows_between_observations_and_is_read_at_scrape_time() -> None:
    registry, ages, clock = _gauge()
    ages.observe("orders", 990_000)  # 10 s before "now"
    assert registry.get_sample_value("freshness_seconds", {"table": "orders"}) == 10.0
    clock.now += 5
    assert registry.get_sample_value("freshness_seconds", {"table": "orders"}) == 15.0


def test_only_a_newer_timestamp_moves_the_gauge_and_none_is_ignored() -> None:
    registry, ages, _ = _gauge()
    ages.observe("orders", 995_000)
    ages.observe("orders", 990_000)  # an older commit replayed later: freshness does not regress
    ages.observe("orders", None)
    assert ages.newest_ms("orders") == 995_000
    assert registry.get_sample_value("freshness_seconds", {"table": "orders"}) == 5.0
    ages.observe("orders", 999_000)
    assert registry.get_sample_value("freshness_seconds", {"table": "orders"}) == 1.0


def test_labels_are_independent_and_clock_skew_never_gives_a_negative_age() -> None:
    registry, ages, _ = _gauge()
    ages.observe("orders", 1_002_000)  # a source clock ahead of this host's
    ages.observe("customers", 400_000)
    assert registry.get_sample_value("freshness_seconds", {"table": "orders"}) == 0.0
    assert registry.get_sample_value("freshness_seconds", {"table": "customers"}) == 600.0
    assert registry.get_sample_value("freshness_seconds", {"table": "colors"}) is None
    assert ages.age_seconds("colors") is None
