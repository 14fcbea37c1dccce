"""Every mutating endpoint needs a valid bearer token; tokens never reach the logs."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from tests.services.control_api.conftest import AUTH, TOKEN

pytestmark = pytest.mark.integration

MUTATIONS = [
    ("/api/v1/jobs/replay", {"topic": "x", "start_offset": 0, "end_offset": 1}),
    ("/api/v1/jobs/reprocess", {"tables": "all"}),
    ("/api/v1/jobs/backfill", {"start_date": "2024-01-01", "end_date": "2024-01-02"}),
    ("/api/v1/jobs/maintenance", {"action": "optimize", "layer": "gold", "table": "x"}),
    ("/api/v1/jobs/00000000-0000-0000-0000-000000000001/cancel", {}),
]


BAD_HEADERS = [
    {},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": f"Bearer {TOKEN}x"},
    {"Authorization": f"Bearer {TOKEN[:-1]}"},
    {"Authorization": "Bearer "},
    {"Authorization": TOKEN},
]


def test_mutations_without_a_valid_token_are_401(client: TestClient) -> None:
    for path, body in MUTATIONS:
        for headers in BAD_HEADERS:
            response = client.post(path, json=body, headers=headers)
            assert response.status_code == 401, (path, headers, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/v1/jobs").json()["total"] == 0


def test_every_mutating_operation_declares_bearer_security(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    mutating = [
        (path, method, operation)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if method in {"post", "put", "patch", "delete"}
    ]
    assert {path for path, _, _ in mutating} == {
        "/api/v1/jobs/replay",
        "/api/v1/jobs/reprocess",
        "/api/v1/jobs/backfill",
        "/api/v1/jobs/maintenance",
        "/api/v1/jobs/{job_id}/cancel",
    }
    for path, method, operation in mutating:
        assert operation["security"] == [{"HTTPBearer": []}], (method, path)
        assert "401" in operation["responses"], (method, path)


def test_a_valid_token_is_accepted_and_never_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = client.post(
            "/api/v1/jobs/backfill", json={"start_date": "2024-01-01", "end_date": "2024-01-02"}, headers=AUTH
        )
        client.post(
            "/api/v1/jobs/reprocess", json={"tables": "all"}, headers={"Authorization": "Bearer leak-me"}
        )
    assert response.status_code == 202
    text = "\n".join(record.getMessage() + str(record.__dict__) for record in caplog.records)
    assert caplog.records, "expected the job creation to be logged"
    assert TOKEN not in text and "leak-me" not in text
