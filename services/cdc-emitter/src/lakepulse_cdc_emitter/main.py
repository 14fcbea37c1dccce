"""Entry point of ``lakepulse-cdc-emitter``: settings, telemetry, signals, then the emitter loop.

Exit status 0 after a graceful stop (SIGTERM/SIGINT: producer flushed, final feedback sent), 1 when
the emitter stopped on an error (decode error, refused delivery, unreachable source): the slot is
then left where Kafka's acknowledgements put it, so a restart re-sends from there.
"""

from __future__ import annotations

import logging
import sys

from lakepulse_cdc_emitter import metrics
from lakepulse_cdc_emitter.config import SERVICE_NAME, CdcEmitterSettings
from lakepulse_cdc_emitter.emitter import CdcEmitter
from lakepulse_common.runtime import Shutdown
from lakepulse_common.telemetry import init_telemetry

log = logging.getLogger(__name__)


def main() -> int:
    settings = CdcEmitterSettings()
    telemetry = init_telemetry(SERVICE_NAME, settings.telemetry)
    shutdown = Shutdown().install()
    log.info(
        "cdc-emitter starting: source %s, slot %s, publication %s, kafka %s",
        settings.postgres.redacted_dsn(),
        settings.cdc.slot_name,
        settings.cdc.publication,
        settings.kafka.bootstrap_servers,
    )
    try:
        CdcEmitter(settings, shutdown, tracer=telemetry.tracer(__name__)).run()
    except Exception as exc:
        metrics.ERRORS.labels(type(exc).__name__).inc()
        log.critical("cdc-emitter stopped on an error; the slot was not advanced past it", exc_info=True)
        return 1
    finally:
        telemetry.shutdown()
    log.info("cdc-emitter stopped (%s)", shutdown.signal_name or "done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
