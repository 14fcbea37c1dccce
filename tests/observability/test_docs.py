"""docs/observability.md stays a true catalogue: every metric in the code, every alert in the rules."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.observability.exposition import REPO_ROOT, documented_names

pytestmark = pytest.mark.unit

DOC = REPO_ROOT / "docs" / "observability.md"
RULES = REPO_ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARDS = REPO_ROOT / "deploy" / "grafana" / "dashboards"


def _code_spans() -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", DOC.read_text()))


def test_every_service_metric_is_in_the_catalogue() -> None:
    spans = _code_spans()
    missing = {
        service: sorted(names - spans) for service, names in documented_names().items() if names - spans
    }
    assert not missing, f"metrics missing from docs/observability.md: {missing}"


def test_every_alert_and_dashboard_is_documented() -> None:
    spans = _code_spans()
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}
    dashboards = {path.stem for path in DASHBOARDS.glob("*.json")}
    assert not alerts - spans, f"alerts missing from docs/observability.md: {sorted(alerts - spans)}"
    assert not dashboards - spans, (
        f"dashboards missing from docs/observability.md: {sorted(dashboards - spans)}"
    )
