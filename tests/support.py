"""Small helpers shared by tests (import as `from tests.support import ...`)."""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def random_name(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def wait_for(condition: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.2) -> T:
    """Poll ``condition`` until it returns a truthy value; fail the test with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


def free_ports(count: int) -> list[int]:
    """Ports the kernel reports free right now (bound together, so they are distinct)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
