"""The control plane's exceptions; the API maps each one to a single, documented HTTP status."""

from __future__ import annotations

from lakepulse_common.errors import LakePulseError


class ControlApiError(LakePulseError):
    """Base class of the control plane's deliberate errors."""


class InvalidRequestError(ControlApiError):
    """A well-formed request that asks for something impossible (an empty range, an unknown table): 422."""

    def __init__(self, field: str, message: str, *, location: str = "body") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.location = location


class NotFoundError(ControlApiError):
    """A job, table or table version that does not exist: 404."""


class JobConflictError(ControlApiError):
    """An active job already covers one of the requested tables, or the job is already finished: 409."""


class JobLimitError(ControlApiError):
    """As many jobs as ``control.max_concurrent_jobs`` are already queued or running: 429."""


class DependencyUnavailableError(ControlApiError):
    """Kafka or Postgres did not answer in time: 503, the request may be retried."""


class CommandDeliveryError(DependencyUnavailableError):
    """Kafka did not acknowledge a command: the job is failed rather than left queued forever."""


class ControlConsumerError(ControlApiError):
    """The control-topic reader stopped; the service stops with it (loudly) instead of serving stale state."""
