"""The LakePulse services as supervised programs of the local stack."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lakepulse_cli.stack.supervisor import Program
from lakepulse_common.settings import LakePulseSettings

# Start order matters only for readiness (every stage waits on its inputs); stop order for a clean
# exit: supervisord stops higher priorities first, so the services stop (API first, source last)
# while Postgres and Kafka, below SERVICES_PRIORITY, are still up for their final commits.
SERVICES = ("cdc-emitter", "bronze-writer", "silver-processor", "gold-builder", "control-api")
SERVICES_PRIORITY = 300


def console_script(service: str) -> Path:
    return Path(sys.executable).parent / f"lakepulse-{service}"


def service_programs(settings: LakePulseSettings, services: tuple[str, ...] = SERVICES) -> list[Program]:
    """One program per installed service, configured through the same LAKEPULSE_* environment."""
    environment = {key: value for key, value in os.environ.items() if key.startswith(("LAKEPULSE_", "OTEL_"))}
    environment["LAKEPULSE_STATE_DIR"] = str(settings.state_dir)
    if settings.java_home is not None:
        environment.setdefault("JAVA_HOME", str(settings.java_home))
    programs = []
    for service in services:
        script = console_script(service)
        if not script.exists():
            continue
        programs.append(
            Program(
                name=service,
                command=[str(script)],
                priority=SERVICES_PRIORITY + 10 * SERVICES.index(service),
                stop_signal="TERM",
                stop_wait_s=120,  # a Spark stage finishes its micro-batch and commits before exiting
                start_s=5,
                environment=environment,
            )
        )
    return programs
