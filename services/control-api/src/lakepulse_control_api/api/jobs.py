"""``/api/v1/jobs``: replay, reprocess, backfill and maintenance jobs; list, get, cancel.

Every mutating route needs a bearer token. A new job answers 202 Accepted: the commands are on the
commands topic, and the job's state follows the targets' ``job_progress`` events from then on.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from lakepulse_control_api.api.deps import Authenticated, Plane
from lakepulse_control_api.api.responses import errors
from lakepulse_control_api.models import Job, JobKind, JobState
from lakepulse_control_api.schemas import (
    BackfillRequest,
    JobList,
    JobOut,
    MaintenanceRequest,
    ReplayRequest,
    ReprocessRequest,
    TargetProgress,
)

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

_CREATE = {
    "status_code": status.HTTP_202_ACCEPTED,
    "response_model": JobOut,
    "dependencies": [Authenticated],
    "responses": errors(400, 401, 409, 429, 503),
}


@router.post("/replay", **_CREATE)  # type: ignore[arg-type]
def create_replay(plane: Plane, request: ReplayRequest) -> JobOut:
    """Re-ingest into bronze from a CDC topic's offset or timestamp range (bronze-writer)."""
    return job_out(plane.jobs.create(plane.planner.replay(request)))


@router.post("/reprocess", **_CREATE)  # type: ignore[arg-type]
def create_reprocess(plane: Plane, request: ReprocessRequest) -> JobOut:
    """Rebuild silver and/or gold tables from bronze (silver-processor, gold-builder)."""
    return job_out(plane.jobs.create(plane.planner.reprocess(request)))


@router.post("/backfill", **_CREATE)  # type: ignore[arg-type]
def create_backfill(plane: Plane, request: BackfillRequest) -> JobOut:
    """Recompute gold for a date range (gold-builder)."""
    return job_out(plane.jobs.create(plane.planner.backfill(request)))


@router.post("/maintenance", **_CREATE)  # type: ignore[arg-type]
def create_maintenance(plane: Plane, request: MaintenanceRequest) -> JobOut:
    """OPTIMIZE or VACUUM one table (the service that owns its layer)."""
    return job_out(plane.jobs.create(plane.planner.maintenance(request)))


@router.get("", response_model=JobList)
def list_jobs(
    plane: Plane,
    state: JobState | None = None,
    kind: JobKind | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JobList:
    """Jobs, newest first."""
    jobs, total = plane.jobs.list_jobs(state=state, kind=kind, limit=limit, offset=offset)
    return JobList(jobs=[job_out(job) for job in jobs], total=total)


@router.get("/{job_id}", response_model=JobOut, responses=errors(404))
def get_job(plane: Plane, job_id: uuid.UUID) -> JobOut:
    return job_out(plane.jobs.get(str(job_id)))


@router.post(
    "/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    dependencies=[Authenticated],
    responses=errors(401, 404, 409, 503),
)
def cancel_job(plane: Plane, job_id: uuid.UUID) -> JobOut:
    """Send a cancel command to the job's targets; a job still queued is cancelled at once."""
    return job_out(plane.jobs.cancel(str(job_id)))


def job_out(job: Job) -> JobOut:
    targets: dict[str, dict[str, Any]] = job.targets
    return JobOut(
        id=job.id,
        kind=JobKind(job.kind),
        state=JobState(job.state),
        progress=job.progress,
        message=job.message,
        params=job.params,
        scope=job.scope,
        targets=[
            TargetProgress(
                service=service,
                action=target["action"],
                state=JobState(target["state"]),
                progress=float(target["progress"]),
                message=target.get("message"),
            )
            for service, target in sorted(targets.items())
        ],
        cancel_requested=job.cancel_requested,
        created_at=job.created_at,
        updated_at=job.updated_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )
