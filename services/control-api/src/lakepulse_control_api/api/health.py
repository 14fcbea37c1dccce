"""Liveness, readiness and Prometheus metrics (outside /api/v1: they are for machines, not users)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lakepulse_control_api.api.deps import Plane
from lakepulse_control_api.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "the control-topic reader has stopped"}},
)
def healthz(plane: Plane, response: Response) -> Health:
    """Alive while the control-topic reader runs; a stopped reader means restart the process."""
    if not plane.consumer.healthy:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Health(status="failing", detail=f"control-topic reader stopped: {plane.consumer.error}")
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Postgres or Kafka is unreachable"}},
)
def readyz(plane: Plane, response: Response) -> Readiness:
    """Ready when Postgres and Kafka answer and the reader is running."""
    postgres, kafka, reader = plane.postgres_ready(), plane.kafka_ready(), plane.consumer.healthy
    ready = postgres and kafka and reader
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Readiness(
        status="ready" if ready else "not_ready", postgres=postgres, kafka=kafka, control_consumer=reader
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
def prometheus_metrics() -> Response:
    """Prometheus text exposition of this process's metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
