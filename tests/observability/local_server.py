"""Run a real server binary (Jaeger, Prometheus) for one test: start, wait until ready, always stop.

The process writes to a log file whose tail is put into every failure message, so a server that
refuses its config says why instead of leaving a bare timeout.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support import wait_for

STOP_TIMEOUT_S = 15.0


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness probe: True once ``url`` answers 2xx."""

    def probe() -> bool:
        try:
            return httpx.get(url, timeout=2.0).is_success
        except httpx.HTTPError:
            return False

    return probe


@contextmanager
def running_server(
    command: list[str], log_path: Path, ready: Callable[[], bool], what: str, timeout_s: float = 60.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command``, wait for ``ready`` (failing early if the process exits), stop it at exit."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(
                    f"{what} exited with {process.returncode} before it was ready:\n{log_tail(log_path)}"
                )
            return ready()

        try:
            wait_for(up, timeout_s, f"{what} to become ready")
        except AssertionError as error:
            raise AssertionError(f"{error}\n--- {what} log ---\n{log_tail(log_path)}") from None
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)
