"""deploy/grafana/dashboards: valid dashboards that query only series the services really expose.

Grafana itself does not run here, so the JSON is checked the way Grafana would trip over it (ids,
data source, layout), every query is parsed by promtool, and every metric a query names must be in
the exposition read from the services' metrics modules (tests/observability/exposition.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.deploy_files import REPO_ROOT
from tests.observability.exposition import known_series, promql_metric_names

pytestmark = pytest.mark.unit

GRAFANA_DIR = REPO_ROOT / "deploy" / "grafana"
DASHBOARD_DIR = GRAFANA_DIR / "dashboards"
DASHBOARD_FILES = sorted(DASHBOARD_DIR.glob("*.json"))
PROVIDER_FILE = GRAFANA_DIR / "provisioning" / "dashboards" / "dashboards.yaml"
GRID_COLUMNS = 24

# Issue 10: pipeline overview, one per stage, data quality, Kafka and Postgres.
REQUIRED_DASHBOARDS = {
    "lakepulse-overview",
    "lakepulse-cdc",
    "lakepulse-bronze",
    "lakepulse-silver",
    "lakepulse-gold",
    "lakepulse-data-quality",
    "lakepulse-kafka-postgres",
}
# Grafana's built-in interval variables, as promtool sees them.
GRAFANA_INTERVALS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def _load(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    assert isinstance(document, dict), f"{path.name}: not a JSON object"
    return document


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """All panels, including those nested in (collapsed) rows."""
    found: list[dict[str, Any]] = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def _queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (panel.get("title", "?"), target["expr"])
        for panel in _panels(dashboard)
        for target in panel.get("targets", [])
    ]


def _prometheus_datasource_uids() -> set[str]:
    files = sorted((GRAFANA_DIR / "provisioning" / "datasources").glob("*.yaml"))
    return {
        source["uid"]
        for file in files
        for source in yaml.safe_load(file.read_text())["datasources"]
        if source["type"] == "prometheus"
    }


def test_the_dashboards_of_the_issue_exist() -> None:
    uids = [_load(path)["uid"] for path in DASHBOARD_FILES]
    duplicates = sorted(uid for uid, count in Counter(uids).items() if count > 1)
    assert not duplicates, f"dashboard uids used twice: {duplicates}"
    missing = sorted(REQUIRED_DASHBOARDS - set(uids))
    assert not missing, f"missing dashboards: {missing}"


def test_provider_loads_the_folder_compose_mounts(compose_services: dict[str, Any]) -> None:
    (provider,) = yaml.safe_load(PROVIDER_FILE.read_text())["providers"]
    assert provider["type"] == "file"
    mounts = {
        source: target
        for volume in compose_services["grafana"]["volumes"]
        for source, target, *_ in [volume.split(":")]
    }
    assert mounts.get("./deploy/grafana/dashboards") == provider["options"]["path"], mounts
    assert mounts.get("./deploy/grafana/provisioning") == "/etc/grafana/provisioning"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_dashboard_structure(path: Path) -> None:
    dashboard = _load(path)
    assert dashboard.get("title") and re.fullmatch(r"[a-z0-9-]{1,40}", dashboard.get("uid", "")), path.name
    assert dashboard["uid"] == path.stem, f"{path.name}: name the file after its uid"
    assert "lakepulse" in dashboard.get("tags", [])
    panels = _panels(dashboard)
    assert panels, f"{path.name}: no panels"
    assert all("id" in panel for panel in panels), f"{path.name}: a panel has no id"
    ids = Counter(int(panel["id"]) for panel in panels)
    duplicated = sorted(panel_id for panel_id, count in ids.items() if count > 1)
    assert not duplicated, f"{path.name}: panel ids used twice: {duplicated}"

    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= GRID_COLUMNS, f"{path.name}: {panel['title']} is wider than the grid"
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                other = cells.setdefault((x, y), panel["title"])
                assert other == panel["title"], f"{path.name}: {panel['title']} overlaps {other}"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_every_query_uses_the_provisioned_prometheus(path: Path) -> None:
    uids = _prometheus_datasource_uids()
    problems = []
    for panel in _panels(_load(path)):
        if panel["type"] == "row":
            continue
        targets = panel.get("targets", [])
        if not targets:
            problems.append(f"{panel['title']}: no query")
        for source in [panel.get("datasource"), *(target.get("datasource") for target in targets)]:
            if not source or source.get("type") != "prometheus" or source.get("uid") not in uids:
                problems.append(f"{panel['title']}: data source {source} is not one of {sorted(uids)}")
        ref_ids = [target.get("refId") for target in targets]
        if len(set(ref_ids)) != len(ref_ids) or None in ref_ids:
            problems.append(f"{panel['title']}: refIds {ref_ids} are not unique")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_every_panel_metric_is_exposed_by_a_service(path: Path) -> None:
    available = known_series()
    unknown = {
        f"{title}: {expr}": sorted(promql_metric_names(expr) - available)
        for title, expr in _queries(_load(path))
    }
    unknown = {query: names for query, names in unknown.items() if names}
    assert not unknown, f"{path.name} queries series no service exposes: {json.dumps(unknown, indent=2)}"


@pytest.mark.integration
def test_every_panel_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule: a typo Grafana would only show as an error."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: `make setup` installs Debian's prometheus package")
    rules = []
    for path in DASHBOARD_FILES:
        for index, (_, expr) in enumerate(_queries(_load(path))):
            for variable, value in GRAFANA_INTERVALS.items():
                expr = expr.replace(variable, value)
            rules.append({"record": f"{path.stem.replace('-', '_')}_query_{index}", "expr": expr})
    rules_file = tmp_path / "dashboard-queries.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout
