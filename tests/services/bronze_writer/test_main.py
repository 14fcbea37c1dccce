"""Wiring: what stopped the streaming query becomes a small, fixed set of error kinds."""

from __future__ import annotations

import pytest

from lakepulse_bronze_writer.main import query_error_kind
from lakepulse_bronze_writer.metrics import BronzeMetrics

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (
            "An exception was raised by the Python Proxy ... lakepulse_bronze_writer.control."
            "ControlDeliveryError: control events not delivered",
            "control_delivery",
        ),
        (
            "Some data may have been lost ... set the source option 'failOnDataLoss' to 'false'",
            "kafka_data_loss",
        ),
        ("io.delta.exceptions.ConcurrentModificationException: ...", "delta_conflict"),
        ("java.lang.OutOfMemoryError: Java heap space", "query_failed"),
    ],
)
def test_query_errors_are_classified(message: str, kind: str) -> None:
    assert query_error_kind(message) == kind


def test_freshness_follows_the_newest_source_commit_per_table() -> None:
    metrics = BronzeMetrics()
    metrics.observe_source_commits({"orders": 1_000, "_quarantine": None})
    metrics.observe_source_commits({"orders": 500})  # an older batch replayed: no regression
    assert metrics.freshness.newest_ms("orders") == 1_000
    assert metrics.registry.get_sample_value("lakepulse_bronze_freshness_seconds", {"table": "orders"}) > 0
    assert (
        metrics.registry.get_sample_value("lakepulse_bronze_freshness_seconds", {"table": "_quarantine"})
        is None
    )
