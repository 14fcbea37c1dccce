"""The LakePulse services as supervised programs of the local stack."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lakepulse_cli.stack.supervisor import Program
from lakepulse_common.settings import LakePulseSettings

# Start order matters only for readiness, not correctness: every stage waits on its inputs.
SERVICES = ("cdc-emitter", "bronze-writer", "silver-processor", "gold-builder", "control-api")


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
                stop_signal="TERM",
                stop_wait_s=120,  # a Spark stage finishes its micro-batch and commits before exiting
                start_s=5,
                environment=environment,
            )
        )
    return programs
