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


def _catalogue_rows() -> list[str]:
    """The metric named in the first column of each row of the "Metrics catalogue" tables."""
    section = DOC.read_text().split("## Metrics catalogue", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(lakepulse_[a-z0-9_]+)` \|", section, flags=re.MULTILINE)


def test_the_catalogue_lists_no_metric_the_code_does_not_register() -> None:
    registered = set().union(*documented_names().values())
    rows = _catalogue_rows()
    assert len(rows) > 40  # the tables were found
    assert len(rows) == len(set(rows)), "a metric is listed twice"
    assert not set(rows) - registered, f"stale catalogue entries: {sorted(set(rows) - registered)}"


def test_every_alert_and_dashboard_is_documented() -> None:
    spans = _code_spans()
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}
    dashboards = {path.stem for path in DASHBOARDS.glob("*.json")}
    assert not alerts - spans, f"alerts missing from docs/observability.md: {sorted(alerts - spans)}"
    assert not dashboards - spans, (
        f"dashboards missing from docs/observability.md: {sorted(dashboards - spans)}"
    )
