"""Entry point of ``lakepulse-control-api``: settings, telemetry, then uvicorn until SIGTERM.

uvicorn handles SIGTERM/SIGINT itself (it stops accepting, drains requests, then runs the lifespan's
shutdown, which stops the control-topic reader and commits its offsets). Afterwards uvicorn re-raises
the signal to the handler that was installed before it: LakePulse's :class:`Shutdown`, so a graceful
stop exits 0 instead of dying by the signal. Exit status 1 when startup or the reader failed: the
process stops rather than serve stale pipeline state.
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from lakepulse_common.runtime import Shutdown
from lakepulse_common.telemetry import init_telemetry
from lakepulse_control_api.app import create_app
from lakepulse_control_api.config import SERVICE_NAME, ControlApiServiceSettings

log = logging.getLogger(__name__)


def main() -> int:
    settings = ControlApiServiceSettings()
    telemetry = init_telemetry(SERVICE_NAME, settings.telemetry)
    failures: list[BaseException] = []
    server: uvicorn.Server | None = None

    def on_failure(exc: BaseException) -> None:
        failures.append(exc)
        if server is not None:
            server.should_exit = True

    app = create_app(settings, on_failure=on_failure)
    config = uvicorn.Config(
        app,
        host=settings.control_api.host,
        port=settings.control_api.port,
        log_config=None,  # keep the JSON logging init_telemetry configured
        access_log=False,
        timeout_graceful_shutdown=15,
    )
    server = uvicorn.Server(config)
    log.info(
        "control-api listening on %s:%d (postgres %s, kafka %s)",
        settings.control_api.host,
        settings.control_api.port,
        settings.postgres.redacted_dsn(),
        settings.kafka.bootstrap_servers,
    )
    shutdown = Shutdown().install()  # receives the signal uvicorn re-raises after its graceful stop
    try:
        server.run()
    finally:
        telemetry.shutdown()
    if failures or not server.started:
        log.critical("control-api stopped on an error")
        return 1
    log.info("control-api stopped (%s)", shutdown.signal_name or "done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
