"""Jobs in Postgres: creation under a lock (limits and overlaps), progress folding, cancellation.

A job fans out to one command per target service; each target reports back with ``job_progress``
control events and keeps its own state in ``Job.targets``. The job's state is derived from its
targets (:func:`aggregate`), and a final state is never left again, so re-reading old progress
events after a restart changes nothing.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from lakepulse_common.control_events import Command, CommandAction, ControlEvent
from lakepulse_control_api import metrics
from lakepulse_control_api.commands import CommandPublisher
from lakepulse_control_api.errors import (
    CommandDeliveryError,
    JobConflictError,
    JobLimitError,
    NotFoundError,
)
from lakepulse_control_api.models import ACTIVE_STATES, TERMINAL_STATES, Job, JobKind, JobState

log = logging.getLogger(__name__)

# Serialises job creation across requests and replicas, so limit and overlap checks cannot race.
_CREATE_LOCK_KEY = 0x1A4E_9C02


@dataclass(frozen=True)
class TargetCommand:
    service: str
    action: CommandAction
    params: dict[str, Any]


@dataclass(frozen=True)
class JobPlan:
    """A validated request: what the job writes (its scope) and the commands that carry it out."""

    kind: JobKind
    params: dict[str, Any]
    scope: list[str]
    commands: list[TargetCommand] = field(default_factory=list)


def scopes_overlap(first: list[str], second: list[str]) -> bool:
    """Scope keys are ``layer.table``, ``layer.*`` or ``*``; a wildcard covers what it names."""

    def covers(wide: str, narrow: str) -> bool:
        if wide == "*" or wide == narrow:
            return True
        return wide.endswith(".*") and narrow.startswith(wide[:-1])

    return any(covers(a, b) or covers(b, a) for a in first for b in second)


def aggregate(targets: dict[str, dict[str, Any]]) -> tuple[JobState, float, str | None]:
    """The job's state, progress and message, derived from its targets' own reports."""
    states = {service: JobState(t["state"]) for service, t in targets.items()}
    failed = [service for service, state in states.items() if state is JobState.FAILED]
    if failed:
        state = JobState.FAILED
    elif all(s in TERMINAL_STATES for s in states.values()):
        state = JobState.CANCELLED if JobState.CANCELLED in states.values() else JobState.SUCCEEDED
    elif any(s is not JobState.QUEUED for s in states.values()):
        state = JobState.RUNNING
    else:
        state = JobState.QUEUED
    progress = sum(
        1.0 if states[s] is JobState.SUCCEEDED else float(t["progress"]) for s, t in targets.items()
    ) / max(len(targets), 1)
    reporting = failed or [s for s, t in targets.items() if t.get("message")]
    message = None
    if reporting:
        service = reporting[0] if failed else max(reporting, key=lambda s: targets[s].get("updated_at", ""))
        message = f"{service}: {targets[service].get('message') or state.value}"
    return state, round(min(max(progress, 0.0), 1.0), 4), message


class JobStore:
    def __init__(
        self, sessions: sessionmaker[Session], publisher: CommandPublisher, max_concurrent_jobs: int
    ) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._max_concurrent = max_concurrent_jobs

    def create(self, plan: JobPlan) -> Job:
        now = datetime.now(UTC)
        job_id = str(uuid.uuid4())
        with self._sessions.begin() as session:
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_LOCK_KEY})
            active = session.scalars(select(Job).where(Job.state.in_([s.value for s in ACTIVE_STATES]))).all()
            if len(active) >= self._max_concurrent:
                raise JobLimitError(
                    f"{len(active)} jobs are queued or running (limit {self._max_concurrent}); retry later"
                )
            for other in active:
                if scopes_overlap(other.scope, plan.scope):
                    raise JobConflictError(
                        f"job {other.id} ({other.kind}, {other.state}) already covers"
                        f" {', '.join(other.scope)}"
                    )
            job = Job(
                id=job_id,
                kind=plan.kind.value,
                state=JobState.QUEUED.value,
                params=plan.params,
                scope=plan.scope,
                targets={
                    c.service: {"action": c.action.value, "state": JobState.QUEUED.value, "progress": 0.0}
                    for c in plan.commands
                },
                progress=0.0,
                message=None,
                cancel_requested=False,
                created_at=now,
                updated_at=now,
            )
            session.add(job)
        commands = [
            Command(job_id=job_id, target_service=c.service, action=c.action, params=c.params)
            for c in plan.commands
        ]
        try:
            self._publisher.publish(commands)
        except CommandDeliveryError as exc:
            self._finish(job_id, JobState.FAILED, f"commands not delivered: {exc}")
            raise
        metrics.JOBS_CREATED.labels(plan.kind.value).inc()
        log.info("job %s (%s) queued for %s", job_id, plan.kind.value, ", ".join(plan.scope))
        return job

    def get(self, job_id: str) -> Job:
        with self._sessions() as session:
            job = session.get(Job, job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id}")
        return job

    def list_jobs(
        self, *, state: JobState | None, kind: JobKind | None, limit: int, offset: int
    ) -> tuple[list[Job], int]:
        query = select(Job)
        if state is not None:
            query = query.where(Job.state == state.value)
        if kind is not None:
            query = query.where(Job.kind == kind.value)
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            jobs = session.scalars(
                query.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
            ).all()
        return list(jobs), total

    def cancel(self, job_id: str) -> Job:
        """Ask the targets to stop; a job no service has started yet is cancelled at once."""
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            job = session.get(Job, job_id, with_for_update=True)
            if job is None:
                raise NotFoundError(f"no job {job_id}")
            if JobState(job.state) in TERMINAL_STATES:
                raise JobConflictError(f"job {job_id} is already {job.state}")
            pending = [s for s, t in job.targets.items() if JobState(t["state"]) not in TERMINAL_STATES]
            job.cancel_requested = True
            job.updated_at = now
            if JobState(job.state) is JobState.QUEUED:
                job.targets = {
                    s: t | {"state": JobState.CANCELLED.value, "updated_at": now.isoformat()}
                    for s, t in job.targets.items()
                }
                job.state = JobState.CANCELLED.value
                job.message = "cancelled before any service started it"
                job.finished_at = now
                metrics.JOBS_FINISHED.labels(job.kind, job.state).inc()
            else:
                job.message = "cancel requested"
        self._send_cancel(job_id, pending)
        return job

    def apply_progress(self, event: ControlEvent) -> Job | None:
        """Fold one ``job_progress`` event; unknown jobs, unknown targets and final jobs are ignored."""
        report = _parse_progress(event)
        if report is None:
            return None
        job_id, state, progress, message = report
        now = datetime.now(UTC)
        cancel_others: list[str] = []
        with self._sessions.begin() as session:
            job = session.get(Job, job_id, with_for_update=True)
            if job is None or JobState(job.state) in TERMINAL_STATES:
                return job
            target = job.targets.get(event.service)
            if target is None or JobState(target["state"]) in TERMINAL_STATES:
                log.warning("job %s: ignoring progress from %s (not an active target)", job_id, event.service)
                return job
            updated = target | {
                "state": state.value,
                "progress": max(float(target["progress"]), progress),
                "message": message if message is not None else target.get("message"),
                "updated_at": event.produced_at.isoformat(),
            }
            job.targets = job.targets | {event.service: updated}
            new_state, job.progress, job.message = aggregate(job.targets)
            if job.started_at is None and new_state is not JobState.QUEUED:
                job.started_at = now
            if new_state in TERMINAL_STATES:
                job.finished_at = now
                metrics.JOBS_FINISHED.labels(job.kind, new_state.value).inc()
            if new_state is JobState.FAILED:
                cancel_others = [
                    s for s, t in job.targets.items() if JobState(t["state"]) not in TERMINAL_STATES
                ]
            job.state = new_state.value
            job.updated_at = now
        if cancel_others:
            self._send_cancel(job_id, cancel_others)
        return job

    def _finish(self, job_id: str, state: JobState, message: str) -> None:
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            job = session.get(Job, job_id, with_for_update=True)
            if job is not None and JobState(job.state) not in TERMINAL_STATES:
                job.state, job.message, job.finished_at, job.updated_at = state.value, message, now, now
                metrics.JOBS_FINISHED.labels(job.kind, state.value).inc()

    def _send_cancel(self, job_id: str, services: list[str]) -> None:
        if not services:
            return
        cancels = [
            Command(job_id=job_id, target_service=s, action=CommandAction.CANCEL, params={"job_id": job_id})
            for s in services
        ]
        try:
            self._publisher.publish(cancels)
        except CommandDeliveryError:
            log.exception("job %s: cancel commands to %s not delivered", job_id, ", ".join(services))
            raise


_STATE_ALIASES = {"started": JobState.RUNNING.value}


def _parse_progress(event: ControlEvent) -> tuple[str, JobState, float, str | None] | None:
    details = event.details
    job_id = details.get("job_id")
    # "state" is the documented key; "status" (with "started" for running) is accepted as well.
    raw_state = details.get("state", details.get("status"))
    try:
        state = JobState(_STATE_ALIASES.get(str(raw_state), str(raw_state)))
        progress = float(details.get("progress", 0.0))
        if not math.isfinite(progress):
            raise ValueError("progress must be finite")
    except (TypeError, ValueError):
        log.warning("malformed job_progress event %s from %s: %r", event.event_id, event.service, details)
        return None
    if not isinstance(job_id, str) or state is JobState.QUEUED:
        return None
    if state is JobState.SUCCEEDED:
        progress = 1.0
    message = details.get("message", details.get("error"))
    return job_id, state, min(max(progress, 0.0), 1.0), str(message) if message is not None else None
