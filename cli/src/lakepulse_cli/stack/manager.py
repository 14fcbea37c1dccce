"""Bring the local stack up, take it down, report its state.

``up`` is idempotent: it initialises what is missing (Postgres cluster, Kafka storage), starts
supervisord or lets a running one restart whatever died, then waits on health checks
(a Postgres ``SELECT 1``, a Kafka metadata request) — never on a fixed sleep.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from lakepulse_cli.stack import kafka, postgres
from lakepulse_cli.stack.services import SERVICES, service_programs
from lakepulse_cli.stack.supervisor import Program, Supervisor
from lakepulse_common.errors import StackError
from lakepulse_common.kafka import broker_is_healthy, create_admin, ensure_topics, platform_topics
from lakepulse_common.settings import LakePulseSettings

log = logging.getLogger(__name__)

INFRASTRUCTURE = ("postgres", "kafka")
# supervisord starts lower priorities first and stops them last: Postgres, then Kafka, then the services
# (services.SERVICES_PRIORITY), so a stopping service can still commit offsets and announce its batch.
POSTGRES_PRIORITY = 100
KAFKA_PRIORITY = 200


@dataclass
class ComponentStatus:
    name: str
    state: str
    healthy: bool
    pid: int | None = None
    rss_bytes: int = 0
    log_file: str | None = None


@dataclass
class StackStatus:
    state_dir: str
    endpoints: dict[str, str]
    components: list[ComponentStatus] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return bool(self.components) and all(c.healthy for c in self.components)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"healthy": self.healthy}


def _tree_rss(pid: int | None) -> int:
    if not pid:
        return 0
    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.Error:
        return 0


def _wait_until(check: Callable[[], bool], what: str, timeout_s: float) -> None:
    """Poll a health check every 250 ms until it passes or the deadline expires."""
    retrying = Retrying(
        stop=stop_after_delay(timeout_s), wait=wait_fixed(0.25), retry=retry_if_result(lambda ok: not ok)
    )
    try:
        retrying(check)
    except RetryError as exc:
        raise StackError(f"{what} not healthy after {timeout_s:.0f}s") from exc


class Stack:
    """The embedded local stack described by one :class:`LakePulseSettings`."""

    def __init__(self, settings: LakePulseSettings, services: Sequence[Program] = ()) -> None:
        self.settings = settings
        self.services = tuple(services)
        self.supervisor = Supervisor(settings)

    def programs(self) -> list[Program]:
        settings = self.settings
        pg_dir = postgres.data_dir(settings)
        return [
            Program(
                name="postgres",
                command=postgres.server_command(settings, pg_dir),
                priority=POSTGRES_PRIORITY,
                user=postgres.run_as_user(),
                stop_signal="INT",  # "fast" shutdown: roll back open transactions, checkpoint, exit
                stop_wait_s=60,
            ),
            Program(
                name="kafka",
                command=kafka.server_command(settings),
                priority=KAFKA_PRIORITY,
                stop_signal="TERM",
                stop_wait_s=90,
            ),
            *self.services,
        ]

    def up(self, timeout_s: float = 120.0) -> StackStatus:
        settings = self.settings
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        settings.logs_dir.mkdir(parents=True, exist_ok=True)
        postgres.ensure_cluster(settings)
        kafka.ensure_formatted(settings)
        if not self.services:  # keep services a previous `up --with-services` started
            running = tuple(name for name in self.supervisor.processes() if name in SERVICES)
            self.services = tuple(service_programs(settings, running)) if running else ()
        self.supervisor.write_config(self.programs())
        self.supervisor.start()
        _wait_until(lambda: postgres.is_healthy(settings), "postgres", timeout_s)
        postgres.ensure_database(settings)
        _wait_until(lambda: broker_is_healthy(settings.kafka), "kafka", timeout_s)
        ensure_topics(create_admin(settings.kafka), platform_topics(settings.kafka))
        # supervisord's own view must agree too (RUNNING once ``startsecs`` passed), and a probe can miss
        # once on a loaded machine: return only a status whose infrastructure reads healthy.
        _wait_until(self._infrastructure_healthy, "stack status", timeout_s)
        return self.status()

    def _infrastructure_healthy(self) -> bool:
        return all(c.healthy for c in self.status().components if c.name in INFRASTRUCTURE)

    def down(self, timeout_s: float = 120.0) -> list[int]:
        """Stop everything; returns pids of stray processes that had to be killed (normally none)."""
        pid = self.supervisor.shutdown()
        if pid is not None:
            _wait_until(lambda: not psutil.pid_exists(pid), "supervisord shutdown", timeout_s)
        return self._kill_strays()

    def _kill_strays(self) -> list[int]:
        """Kill leftovers of this stack's own programs only (a broker or server that outlived supervisord).

        Matched by what only they carry on their command line — the Postgres data directory, the broker's
        properties file, the supervisord config — never by the state dir alone, which other processes
        (e.g. Spark drivers of a test session) may mention too.
        """
        markers = (
            str(postgres.data_dir(self.settings)),
            str(kafka.kafka_dir(self.settings) / "server.properties"),
            str(self.settings.state_dir / "run" / "supervisord.conf"),
        )
        strays = []
        for process in psutil.process_iter(["pid", "cmdline"]):
            cmdline = process.info.get("cmdline") or []
            if process.pid != os.getpid() and any(arg in markers for arg in cmdline):
                strays.append(process)
        for process in strays:
            log.warning("killing stray process %s: %s", process.pid, " ".join(process.cmdline())[:200])
            process.kill()
        psutil.wait_procs(strays, timeout=10)
        return [p.pid for p in strays]

    def status(self, *, reveal_secrets: bool = False) -> StackStatus:
        settings = self.settings
        processes = self.supervisor.processes()
        checks: dict[str, Callable[[], bool]] = {
            "postgres": lambda: postgres.is_healthy(settings),
            "kafka": lambda: broker_is_healthy(settings.kafka, timeout_s=5.0),
        }
        components = []
        # Services supervised by an earlier `up --with-services` count even if this object was built
        # without them (as `up` keeps them).
        names = [p.name for p in self.programs()]
        names += [name for name in SERVICES if name in processes and name not in names]
        for name in names:
            if name not in INFRASTRUCTURE and name not in processes:
                continue  # a service this stack was not started with
            info = processes.get(name, {})
            state = str(info.get("statename", "STOPPED"))
            pid = int(info.get("pid") or 0) or None
            probe = checks.get(name)
            healthy = state == "RUNNING" and (probe() if probe else True)
            components.append(
                ComponentStatus(
                    name=name,
                    state=state,
                    healthy=healthy,
                    pid=pid,
                    rss_bytes=_tree_rss(pid),
                    log_file=str(settings.logs_dir / f"{name}.log"),
                )
            )
        return StackStatus(
            state_dir=str(settings.state_dir),
            endpoints=self.endpoints(reveal_secrets=reveal_secrets),
            components=components,
        )

    def endpoints(self, *, reveal_secrets: bool = False) -> dict[str, str]:
        settings = self.settings
        pg = settings.postgres
        return {
            "kafka_bootstrap_servers": settings.kafka.bootstrap_servers,
            "postgres_dsn": pg.dsn() if reveal_secrets else pg.redacted_dsn(),
            "lake_root_uri": settings.lake_root,
            "control_api_url": settings.control_api.url,
            "postgres_data_dir": str(postgres.data_dir(settings)),
            "logs_dir": str(Path(settings.logs_dir)),
        }
