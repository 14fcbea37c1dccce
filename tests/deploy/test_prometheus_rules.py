"""deploy/prometheus: promtool accepts the config and the rules, the rules' unit tests pass, every rule
queries a series a service exposes, and a real Prometheus fires an alert from a scraped endpoint.

The live test derives its files from the real ones: prometheus.yml with the ``lakepulse`` job pointed
at an endpoint in this process, and alerts.yml with every ``for:`` shortened — never a hand copy of an
expression.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server

from lakepulse_cdc_emitter import metrics as cdc_metrics
from tests.observability.exposition import known_series, promql_metric_names
from tests.observability.local_server import http_ok, running_server
from tests.support import free_ports, wait_for

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES = PROMETHEUS_DIR / "alerts.yml"
RULES_TESTS = PROMETHEUS_DIR / "alerts.test.yml"
SEVERITIES = {"warning", "critical"}
GIB = 1024**3
LOOPBACK = "127.0.0.1"

# What issue 10 asks the rules to watch, and the series that watching needs.
CONCERNS = {
    "freshness SLA": "lakepulse_gold_build_lag_seconds",
    "per-table freshness": "lakepulse_silver_freshness_seconds",
    "missing heartbeats": "lakepulse_control_api_heartbeat_age_seconds",
    "stage errors": "lakepulse_silver_errors_total",
    "consumer lag": "lakepulse_control_api_consumer_lag_messages",
    "quarantine growth": "lakepulse_bronze_quarantined_total",
    "replication slot lag": "lakepulse_cdc_slot_lag_bytes",
    "service down": "up",
}


def _rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in _rules() if "alert" in rule]


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: `make setup` installs Debian's prometheus package")
    return path


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_binary("promtool"), *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120
    )


# ---------------------------------------------------------------------------------------- rule content


@pytest.mark.unit
def test_every_rule_queries_series_the_services_expose() -> None:
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    available = known_series() | recorded
    unknown = {
        rule.get("alert") or rule["record"]: sorted(promql_metric_names(rule["expr"]) - available)
        for rule in _rules()
    }
    unknown = {name: missing for name, missing in unknown.items() if missing}
    assert not unknown, f"rules query series no service exposes: {unknown}"


@pytest.mark.unit
def test_every_alert_has_a_severity_a_for_duration_and_annotations() -> None:
    problems = []
    for alert in _alerts():
        name = alert["alert"]
        if alert.get("labels", {}).get("severity") not in SEVERITIES:
            problems.append(f"{name}: severity must be one of {sorted(SEVERITIES)}")
        if not alert.get("for"):
            problems.append(f"{name}: no `for:` (a single bad scrape would page)")
        annotations = alert.get("annotations", {})
        problems += [
            f"{name}: no {key} annotation" for key in ("summary", "description") if key not in annotations
        ]
    assert not problems, "\n".join(problems)


@pytest.mark.unit
def test_alerts_cover_every_concern_of_the_issue() -> None:
    queried = set().union(*(promql_metric_names(alert["expr"]) for alert in _alerts()))
    uncovered = [concern for concern, series in CONCERNS.items() if series not in queried]
    assert not uncovered, f"no alert watches: {uncovered}"


# ---------------------------------------------------------------------------------------- promtool


@pytest.mark.integration
def test_promtool_accepts_the_config_and_its_rule_files() -> None:
    result = _promtool("check", "config", CONFIG.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(_rules())} rules found" in result.stdout, result.stdout


@pytest.mark.integration
def test_promtool_accepts_the_rules() -> None:
    result = _promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
def test_alert_rules_pass_their_unit_tests() -> None:
    result = _promtool("test", "rules", RULES_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


# ---------------------------------------------------------------------------------------- live Prometheus


def fast_rules(rules: dict[str, Any], for_duration: str) -> dict[str, Any]:
    """alerts.yml with every alert's ``for:`` set to ``for_duration``; expressions untouched."""
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = for_duration
    return rules


def local_config(config: dict[str, Any], rules_file: Path, target: str) -> dict[str, Any]:
    """prometheus.yml scraping only ``target`` as the cdc-emitter, every second."""
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(rules_file)]
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "lakepulse"]
    job["static_configs"] = [{"targets": [target], "labels": {"service": "cdc-emitter"}}]
    config["scrape_configs"] = [job]
    return config


@dataclass
class MetricsEndpoint:
    """The cdc-emitter's real slot-lag gauge, served from this process like the service serves it."""

    address: str
    server: WSGIServer
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def emitter_endpoint() -> Iterator[MetricsEndpoint]:
    registry = CollectorRegistry()
    registry.register(cdc_metrics.SLOT_LAG_BYTES)
    before = registry.get_sample_value("lakepulse_cdc_slot_lag_bytes") or 0.0
    (port,) = free_ports(1)
    server, thread = start_http_server(port, addr=LOOPBACK, registry=registry)
    endpoint = MetricsEndpoint(f"{LOOPBACK}:{port}", server, thread)
    yield endpoint
    endpoint.stop()
    cdc_metrics.SLOT_LAG_BYTES.set(before)


@pytest.fixture
def prometheus(tmp_path: Path, emitter_endpoint: MetricsEndpoint) -> Iterator[str]:
    rules_file = tmp_path / "alerts.yml"
    rules_file.write_text(yaml.safe_dump(fast_rules(yaml.safe_load(RULES.read_text()), "2s")))
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(
        yaml.safe_dump(local_config(yaml.safe_load(CONFIG.read_text()), rules_file, emitter_endpoint.address))
    )
    (port,) = free_ports(1)
    url = f"http://{LOOPBACK}:{port}"
    command = [
        _binary("prometheus"),
        f"--config.file={config_file}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address={LOOPBACK}:{port}",
    ]
    with running_server(command, tmp_path / "prometheus.log", http_ok(f"{url}/-/ready"), "Prometheus"):
        yield url


def _alerts_by_state(url: str, alertname: str) -> dict[str, dict[str, Any]]:
    response = httpx.get(f"{url}/api/v1/alerts", timeout=5.0)
    response.raise_for_status()
    return {
        alert["state"]: alert
        for alert in response.json()["data"]["alerts"]
        if alert["labels"]["alertname"] == alertname
    }


@pytest.mark.integration
def test_prometheus_fires_and_resolves_slot_lag_alert_from_a_scraped_endpoint(
    prometheus: str, emitter_endpoint: MetricsEndpoint
) -> None:
    cdc_metrics.SLOT_LAG_BYTES.set(3 * GIB)

    firing = wait_for(
        lambda: _alerts_by_state(prometheus, "LakePulseReplicationSlotLagCritical").get("firing"),
        60,
        "LakePulseReplicationSlotLagCritical to fire",
    )
    assert firing is not None
    assert firing["labels"]["severity"] == "critical"
    assert firing["labels"]["service"] == "cdc-emitter"
    assert firing["annotations"]["summary"] == "Replication slot holds 3GiB of WAL"
    assert float(firing["value"]) == 3 * GIB
    assert _alerts_by_state(prometheus, "LakePulseServiceDown") == {}, "the scraped target is up"

    cdc_metrics.SLOT_LAG_BYTES.set(1024)
    wait_for(
        lambda: not _alerts_by_state(prometheus, "LakePulseReplicationSlotLagCritical"),
        60,
        "LakePulseReplicationSlotLagCritical to resolve once the slot caught up",
    )

    emitter_endpoint.stop()  # the service dies: its scrapes fail, up == 0
    down = wait_for(
        lambda: _alerts_by_state(prometheus, "LakePulseServiceDown").get("firing"),
        60,
        "LakePulseServiceDown to fire once the endpoint is gone",
    )
    assert down is not None
    assert down["labels"]["service"] == "cdc-emitter"
    assert down["annotations"]["summary"] == "cdc-emitter is down"
