"""The FastAPI application: routers, error mapping, request metrics and the control plane's lifespan."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response, status
from fastapi.responses import JSONResponse

from lakepulse_common import __version__
from lakepulse_control_api import metrics
from lakepulse_control_api.api import health, jobs, tables
from lakepulse_control_api.api import status as status_routes
from lakepulse_control_api.config import ControlApiServiceSettings
from lakepulse_control_api.errors import (
    DependencyUnavailableError,
    InvalidRequestError,
    JobConflictError,
    JobLimitError,
    NotFoundError,
)
from lakepulse_control_api.plane import ControlPlane

log = logging.getLogger(__name__)

_STATUS_OF: dict[type[Exception], int] = {
    NotFoundError: status.HTTP_404_NOT_FOUND,
    JobConflictError: status.HTTP_409_CONFLICT,
    JobLimitError: status.HTTP_429_TOO_MANY_REQUESTS,
    DependencyUnavailableError: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def create_app(
    settings: ControlApiServiceSettings,
    *,
    on_failure: Callable[[BaseException], None] | None = None,
) -> FastAPI:
    """Build the app; the control plane starts in the lifespan (migrations, topics, reader)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        plane = ControlPlane.start(settings, on_failure=on_failure)
        app.state.plane = plane
        try:
            yield
        finally:
            plane.close()

    app = FastAPI(
        title="LakePulse control plane",
        version=__version__,
        description="Pipeline status, Delta tables, and replay / reprocess / backfill / maintenance jobs.",
        lifespan=lifespan,
    )
    for router in (status_routes.router, tables.router, jobs.router, health.router):
        app.include_router(router)
    _install_error_handlers(app)
    app.middleware("http")(_record_request)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    async def invalid_request(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InvalidRequestError)
        detail = [{"loc": [exc.location, exc.field], "msg": exc.message, "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    app.add_exception_handler(InvalidRequestError, invalid_request)
    for error_type, code in _STATUS_OF.items():
        app.add_exception_handler(error_type, _plain_error(code))


def _plain_error(code: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(_request: Request, exc: Exception) -> Response:
        if code >= 500:
            log.warning("request failed: %s", exc)
        return JSONResponse({"detail": str(exc)}, status_code=code)

    return handler


async def _record_request(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    started = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    template = getattr(route, "path", "unmatched")
    metrics.REQUESTS.labels(request.method, template, str(response.status_code)).inc()
    metrics.REQUEST_SECONDS.labels(request.method, template).observe(time.perf_counter() - started)
    return response
