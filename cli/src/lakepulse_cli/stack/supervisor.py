"""supervisord as the local stack's process supervisor: config rendering and control.

supervisord (a well-kept, widely used supervisor) daemonises, restarts crashed programs
(``autorestart``), stops each program through its main process (killing its whole process group
only when it overstays ``stopwaitsecs``) and keeps per-program logs under the state dir.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
import tempfile
import xmlrpc.client
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from lakepulse_common.errors import StackError
from lakepulse_common.settings import LakePulseSettings

_MAX_SOCKET_PATH = 100  # AF_UNIX paths are limited to 107 bytes


@dataclass(frozen=True)
class Program:
    """One supervised program. ``priority`` orders start-up (lower first) and shutdown (lower last):
    the stores a service needs stay up until every service has stopped."""

    name: str
    command: Sequence[str]
    priority: int = 999
    user: str | None = None
    stop_signal: str = "TERM"
    stop_wait_s: int = 60
    start_s: int = 2
    environment: Mapping[str, str] = field(default_factory=dict)
    directory: Path | None = None


def run_dir(settings: LakePulseSettings) -> Path:
    return settings.state_dir / "run"


def socket_path(settings: LakePulseSettings) -> Path:
    path = run_dir(settings) / "supervisor.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(settings.state_dir).encode(), usedforsecurity=False).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"lakepulse-{digest}.sock"


def config_path(settings: LakePulseSettings) -> Path:
    return run_dir(settings) / "supervisord.conf"


def pid_path(settings: LakePulseSettings) -> Path:
    return run_dir(settings) / "supervisord.pid"


def _quote_env(environment: Mapping[str, str]) -> str:
    return ",".join(f'{key}="{value.replace(chr(34), "")}"' for key, value in environment.items())


def render_config(settings: LakePulseSettings, programs: Sequence[Program]) -> str:
    logs = settings.logs_dir
    lines = [
        "[unix_http_server]",
        f"file={socket_path(settings)}",
        "chmod=0700",
        "",
        "[supervisord]",
        f"logfile={logs / 'supervisord.log'}",
        f"pidfile={pid_path(settings)}",
        f"childlogdir={logs}",
        "logfile_maxbytes=10MB",
        "logfile_backups=2",
        "loglevel=info",
        "minfds=4096",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{socket_path(settings)}",
        "",
    ]
    for program in programs:
        lines += [
            f"[program:{program.name}]",
            f"command={shlex.join(program.command)}",
            f"priority={program.priority}",
            "autostart=true",
            "autorestart=true",
            f"startsecs={program.start_s}",
            "startretries=5",
            f"stopsignal={program.stop_signal}",
            f"stopwaitsecs={program.stop_wait_s}",
            # The stop signal goes to the program's own process only: it owns its children's shutdown
            # (a Spark service stops its query and SparkContext, then its pyspark JVM exits; the
            # postmaster stops its backends). Signalling the whole group would kill the JVM under a
            # service still finishing its batch. Only the SIGKILL after stopwaitsecs hits the group.
            "stopasgroup=false",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={logs / (program.name + '.log')}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=2",
        ]
        if program.user:
            lines.append(f"user={program.user}")
        if program.directory:
            lines.append(f"directory={program.directory}")
        if program.environment:
            lines.append(f"environment={_quote_env(program.environment)}")
        lines.append("")
    return "\n".join(lines)


def _supervisor_bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


class Supervisor:
    def __init__(self, settings: LakePulseSettings) -> None:
        self.settings = settings

    def write_config(self, programs: Sequence[Program]) -> Path:
        run_dir(self.settings).mkdir(parents=True, exist_ok=True)
        self.settings.logs_dir.mkdir(parents=True, exist_ok=True)
        path = config_path(self.settings)
        path.write_text(render_config(self.settings, programs))
        return path

    def _rpc(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{socket_path(self.settings)}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def pid(self) -> int | None:
        try:
            pid = int(pid_path(self.settings).read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def is_running(self) -> bool:
        if self.pid() is None:
            return False
        try:
            return bool(self._rpc().supervisor.getState()["statename"] == "RUNNING")
        except (OSError, xmlrpc.client.Fault):
            return False

    def start(self) -> None:
        """Start supervisord, or make a running one pick up the rendered config."""
        config = config_path(self.settings)
        if self.is_running():
            self._ctl("update")
            self._ctl("start", "all")
            return
        result = subprocess.run(
            [_supervisor_bin("supervisord"), "-c", str(config)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise StackError(f"supervisord failed to start: {result.stdout}{result.stderr}")

    def _ctl(self, *args: str) -> str:
        result = subprocess.run(
            [_supervisor_bin("supervisorctl"), "-c", str(config_path(self.settings)), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        # supervisorctl exits non-zero when e.g. a program is already started; the state check follows
        return result.stdout + result.stderr

    def processes(self) -> dict[str, dict[str, Any]]:
        if self.pid() is None:
            return {}
        try:
            infos = self._rpc().supervisor.getAllProcessInfo()
        except (OSError, xmlrpc.client.Fault):
            return {}
        return {info["name"]: info for info in infos}

    def shutdown(self) -> int | None:
        """Ask supervisord to stop every program and exit; returns the pid it had."""
        pid = self.pid()
        if pid is None:
            return None
        try:
            self._rpc().supervisor.shutdown()
        except (OSError, xmlrpc.client.Fault) as exc:
            raise StackError(f"cannot reach supervisord (pid {pid}): {exc}") from exc
        return pid
