"""The readers the deploy tests trust: PromQL metric names and the services' exposition."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tests.observability import exposition
from tests.observability.exposition import metrics_modules, promql_metric_names, services_exposition

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (table) (rate(lakepulse_cdc_events_total{op="c"}[$__rate_interval]))',
            {"lakepulse_cdc_events_total"},
        ),
        ("histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))", {"h_bucket"}),
        ("a / on(table) group_left(kind) b offset 1h30m", {"a", "b"}),
        ("1-up", {"up"}),
        ("x > bool 1e3", {"x"}),
        ('count_values("up", foo)', {"foo"}),
        ('{__name__="bar"}', {"bar"}),
        ("lakepulse:silver_quarantine_ratio:rate15m > 0.05", {"lakepulse:silver_quarantine_ratio:rate15m"}),
        ("sum(x) without (a) * 2", {"x"}),
        ('label_replace(up{job="$job"}, "svc", "$1", "instance", "(.*)")', {"up"}),
        ("max_over_time(deriv(g[5m])[1h:1m])", {"g"}),
        ('absent(up{job="lakepulse"}) and on() vector(1)', {"up"}),
    ],
)
def test_promql_metric_names(expr: str, names: set[str]) -> None:
    assert promql_metric_names(expr) == names


def test_every_service_with_a_metrics_module_is_read() -> None:
    assert set(metrics_modules()) == {
        "cdc-emitter",
        "bronze-writer",
        "silver-processor",
        "gold-builder",
        "control-api",
    }


def test_exposition_covers_module_level_metrics_and_registry_classes() -> None:
    exposed = services_exposition()
    assert "lakepulse_cdc_slot_lag_bytes" in exposed["cdc-emitter"]  # module-level gauge
    assert "lakepulse_bronze_quarantined_total" in exposed["bronze-writer"]  # BronzeMetrics(registry=)
    assert "lakepulse_silver_batch_duration_seconds_bucket" in exposed["silver-processor"]
    assert "process_resident_memory_bytes" in exposed["gold-builder"]  # default collectors
    assert "lakepulse_cdc_slot_lag_bytes" not in exposed["gold-builder"]


def test_labelled_metrics_are_named_as_they_will_be_served() -> None:
    registry = CollectorRegistry()
    Counter("c", "counter", ["table"], registry=registry)
    Histogram("h", "histogram", ["table"], registry=registry)
    Gauge("g", "gauge", registry=registry)
    names = exposition._collector_names(registry)
    assert {"c_total", "h_bucket", "h_count", "h_sum", "g"} <= names
    assert "c" not in names and "h" not in names
