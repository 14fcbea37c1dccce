"""The error responses each route documents, so the OpenAPI spec lists every status it can return."""

from __future__ import annotations

from typing import Any

from lakepulse_control_api.schemas import ErrorMessage


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "the body could not be decoded",
        401: "missing or wrong bearer token",
        404: "no such job, table or version",
        409: "an active job already covers these tables, or the job is already finished",
        429: "too many jobs queued or running",
        503: "Kafka or Postgres did not answer",
    }
    return {code: {"model": ErrorMessage, "description": descriptions[code]} for code in codes}
