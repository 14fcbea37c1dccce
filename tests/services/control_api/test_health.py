"""Liveness, readiness and metrics endpoints."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from tests.support import free_ports

pytestmark = pytest.mark.integration


def test_health_readiness_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "detail": None}
    assert client.get("/readyz").json() == {
        "status": "ready",
        "postgres": True,
        "kafka": True,
        "control_consumer": True,
    }
    client.get("/api/v1/jobs")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert (
        'lakepulse_control_api_requests_total{method="GET",route="/api/v1/jobs",status="200"}' in metrics.text
    )


def test_readiness_fails_when_postgres_is_gone(client: TestClient) -> None:
    """A real unreachable Postgres (a port nobody listens on) behind the readiness probe."""
    plane = client.app.state.plane  # type: ignore[attr-defined]
    [closed_port] = free_ports(1)
    plane.engine.dispose()
    plane.engine = create_engine(plane.engine.url.set(port=closed_port), connect_args={"connect_timeout": 2})
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["postgres"] is False and response.json()["kafka"] is True
