"""Fixtures for the deploy tests: the parsed compose.yaml, read once per session."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.deploy.deploy_files import COMPOSE_FILE


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict), "compose.yaml is not a mapping"
    return document


@pytest.fixture(scope="session")
def compose_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = compose.get("services")
    assert isinstance(services, dict) and services, "compose.yaml has no services"
    return services
