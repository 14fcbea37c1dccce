"""Job lifecycle through the real Kafka and Postgres: commands out, ``job_progress`` events back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lakepulse_common.control_events import Command, CommandAction, ControlEvent, EventKind, Layer, RowCounts
from tests.services.control_api.conftest import AUTH
from tests.support import wait_for

pytestmark = pytest.mark.integration

Publish = Callable[[ControlEvent], None]


def progress(service: str, job_id: str, state: str, fraction: float = 0.0, message: str = "") -> ControlEvent:
    details: dict[str, Any] = {"job_id": job_id, "state": state, "progress": fraction, "message": message}
    return ControlEvent(kind=EventKind.JOB_PROGRESS, service=service, details=details)


def announce_table(publish: Publish, layer: Layer, table: str) -> None:
    publish(
        ControlEvent(
            kind=EventKind.COMMIT,
            service="silver-processor",
            layer=layer,
            table=table,
            delta_version=0,
            rows=RowCounts(input=1, written=1),
        )
    )


def job_in_state(client: TestClient, job_id: str, state: str) -> dict[str, Any]:
    """The job when it has reached ``state``, else an empty (falsy) dict."""
    job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
    return job if job["state"] == state else {}


def test_reprocess_succeeds_when_every_target_reports_success(
    client: TestClient, service_producer: Publish, command_reader: Callable[[int], list[Command]]
) -> None:
    response = client.post("/api/v1/jobs/reprocess", json={"tables": "all"}, headers=AUTH)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["state"] == "queued"
    assert job["scope"] == ["silver.*", "gold.*"]

    commands = {c.target_service: c for c in command_reader(2)}
    assert set(commands) == {"silver-processor", "gold-builder"}
    assert all(c.job_id == job["id"] and c.action is CommandAction.REPROCESS for c in commands.values())
    assert commands["silver-processor"].params == {}  # no tables, no version: everything, from the start

    service_producer(progress("silver-processor", job["id"], "running", 0.5, "3 of 6 tables"))
    running = wait_for(lambda: job_in_state(client, job["id"], "running"), 30, "job running")
    assert running["progress"] == pytest.approx(0.25)
    assert running["started_at"] is not None

    service_producer(progress("silver-processor", job["id"], "succeeded", 1.0))
    service_producer(progress("gold-builder", job["id"], "succeeded", 1.0, "done"))
    done = wait_for(lambda: job_in_state(client, job["id"], "succeeded"), 30, "job succeeded")
    assert done["progress"] == 1.0
    assert done["finished_at"] is not None
    assert {t["state"] for t in done["targets"]} == {"succeeded"}

    # A late event for a finished job changes nothing (final states are final).
    service_producer(progress("gold-builder", job["id"], "failed", 0.0, "late"))
    service_producer(progress("silver-processor", "unrelated-job", "running", 0.1))
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "succeeded"


def test_a_failed_target_fails_the_job_with_its_message(
    client: TestClient, service_producer: Publish, command_reader: Callable[[int], list[Command]]
) -> None:
    announce_table(service_producer, Layer.SILVER, "customers")
    wait_for(lambda: client.get("/api/v1/status").json()["tables"], 30, "the table to be announced")
    response = client.post(
        "/api/v1/jobs/maintenance",
        json={"action": "optimize", "layer": "silver", "table": "customers"},
        headers=AUTH,
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    [command] = command_reader(1)
    assert (command.target_service, command.action) == ("silver-processor", CommandAction.OPTIMIZE)
    assert command.params == {"layer": "silver", "tables": ["customers"]}

    # The gold-builder's spelling of job_progress ("status", "started", "error") is understood too.
    service_producer(
        ControlEvent(
            kind=EventKind.JOB_PROGRESS,
            service="silver-processor",
            details={"job_id": job_id, "status": "started"},
        )
    )
    wait_for(lambda: job_in_state(client, job_id, "running"), 30, "job running")
    service_producer(
        ControlEvent(
            kind=EventKind.JOB_PROGRESS,
            service="silver-processor",
            details={"job_id": job_id, "status": "failed", "error": "disk full"},
        )
    )
    failed = wait_for(lambda: job_in_state(client, job_id, "failed"), 30, "job failed")
    assert failed["message"] == "silver-processor: disk full"
    assert failed["finished_at"] is not None

    listed = client.get("/api/v1/jobs", params={"state": "failed"}).json()
    assert [j["id"] for j in listed["jobs"]] == [job_id] and listed["total"] == 1


def test_cancel_a_queued_and_a_running_job(
    client: TestClient, service_producer: Publish, command_reader: Callable[[int], list[Command]]
) -> None:
    queued = client.post(
        "/api/v1/jobs/backfill", json={"start_date": "2024-01-01", "end_date": "2024-01-31"}, headers=AUTH
    ).json()
    cancelled = client.post(f"/api/v1/jobs/{queued['id']}/cancel", headers=AUTH)
    assert cancelled.status_code == 202
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["cancel_requested"] is True

    running = client.post(
        "/api/v1/jobs/reprocess", json={"tables": "all", "layers": ["silver"]}, headers=AUTH
    ).json()
    service_producer(progress("silver-processor", running["id"], "running", 0.1))
    wait_for(lambda: job_in_state(client, running["id"], "running"), 30, "job running")
    requested = client.post(f"/api/v1/jobs/{running['id']}/cancel", headers=AUTH).json()
    assert requested["state"] == "running" and requested["cancel_requested"] is True

    commands = command_reader(4)
    cancels = [(c.job_id, c.target_service) for c in commands if c.action is CommandAction.CANCEL]
    assert cancels == [(queued["id"], "gold-builder"), (running["id"], "silver-processor")]

    service_producer(progress("silver-processor", running["id"], "cancelled", 0.1, "stopped at batch 3"))
    final = wait_for(lambda: job_in_state(client, running["id"], "cancelled"), 30, "job cancelled")
    assert final["message"] == "silver-processor: stopped at batch 3"

    again = client.post(f"/api/v1/jobs/{running['id']}/cancel", headers=AUTH)
    assert again.status_code == 409


def test_overlapping_jobs_conflict_and_the_limit_holds(client: TestClient, service_producer: Publish) -> None:
    first = client.post(
        "/api/v1/jobs/backfill", json={"start_date": "2024-01-01", "end_date": "2024-01-02"}, headers=AUTH
    )
    assert first.status_code == 202
    overlapping = client.post("/api/v1/jobs/reprocess", json={"tables": "all"}, headers=AUTH)
    assert overlapping.status_code == 409
    assert first.json()["id"] in overlapping.json()["detail"]

    for table in ("a", "b", "c"):
        announce_table(service_producer, Layer.SILVER, table)
    wait_for(lambda: len(client.get("/api/v1/status").json()["tables"]) == 3, 30, "tables announced")
    body = {"action": "optimize", "layer": "silver"}
    assert (
        client.post("/api/v1/jobs/maintenance", json=body | {"table": "a"}, headers=AUTH).status_code == 202
    )
    assert (
        client.post("/api/v1/jobs/maintenance", json=body | {"table": "b"}, headers=AUTH).status_code == 202
    )
    limited = client.post("/api/v1/jobs/maintenance", json=body | {"table": "c"}, headers=AUTH)
    assert limited.status_code == 429  # limit 3 in the test settings


INVALID_REQUESTS: list[tuple[str, dict[str, Any], str]] = [
    ("/api/v1/jobs/backfill", {"start_date": "2024-02-01", "end_date": "2024-01-01"}, "end_date"),
    ("/api/v1/jobs/backfill", {"start_date": "2024-01-01", "end_date": "2999-01-01"}, "end_date"),
    (
        "/api/v1/jobs/backfill",
        {"start_date": "2024-01-01", "end_date": "2024-01-02", "tables": ["nope"]},
        "tables",
    ),
    ("/api/v1/jobs/reprocess", {"tables": ["silver.unknown_table"]}, "tables"),
    ("/api/v1/jobs/reprocess", {"tables": []}, "tables"),
    ("/api/v1/jobs/maintenance", {"action": "vacuum", "layer": "gold", "table": "missing"}, "table"),
    (
        "/api/v1/jobs/maintenance",
        {"action": "vacuum", "layer": "silver", "table": "known", "retain_hours": 1},
        "retain_hours",
    ),
    (
        "/api/v1/jobs/maintenance",
        {"action": "optimize", "layer": "silver", "table": "known", "retain_hours": 200},
        "retain_hours",
    ),
    ("/api/v1/jobs/replay", {"topic": "not-a-cdc-topic", "start_offset": 0, "end_offset": 1}, "topic"),
]

MALFORMED_BODIES: list[dict[str, Any]] = [
    {"tables": "everything"},
    {"tables": ["silver.orders"], "unexpected": 1},
    {"from_bronze_version": -1},
    {"tables": ["bronze.orders; DROP TABLE x"]},
    {"tables": ["silver.../../etc"]},
    {"layers": []},
    {"layers": ["bronze"]},
]


def test_impossible_requests_are_422_naming_the_field(client: TestClient, service_producer: Publish) -> None:
    announce_table(service_producer, Layer.SILVER, "known")
    wait_for(lambda: client.get("/api/v1/status").json()["tables"], 30, "the table to be announced")
    for path, body, field in INVALID_REQUESTS:
        response = client.post(path, json=body, headers=AUTH)
        assert response.status_code == 422, (path, body, response.text)
        assert response.json()["detail"][0]["loc"][-1] == field, (path, body, response.text)
    for body in MALFORMED_BODIES:
        response = client.post("/api/v1/jobs/reprocess", json=body, headers=AUTH)
        assert response.status_code == 422, (body, response.text)
    assert client.get("/api/v1/jobs").json()["total"] == 0


def test_malformed_json_and_ids(client: TestClient) -> None:
    raw = client.post(
        "/api/v1/jobs/backfill", content=b"{not json", headers=AUTH | {"Content-Type": "application/json"}
    )
    assert raw.status_code == 422
    assert client.get("/api/v1/jobs/not-a-uuid").status_code == 422
    assert client.get("/api/v1/jobs/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.get("/api/v1/jobs", params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/jobs", params={"state": "exploded"}).status_code == 422
