"""A real Jaeger v2 (OTLP receiver + query API) for the trace export tests, on free loopback ports.

The binary is built by ``make jaeger`` (part of ``make setup``); its config is deploy/jaeger/config.yaml
with every endpoint moved to a free port, so the test never collides with a Jaeger a developer runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.observability.jaeger import (
    JAEGER_BINARY,
    JAEGER_CONFIG,
    LOOPBACK,
    Jaeger,
    jaeger_config_on_ports,
)
from tests.observability.local_server import http_ok, running_server
from tests.support import free_ports


@pytest.fixture
def jaeger(tmp_path: Path) -> Iterator[Jaeger]:
    if not JAEGER_BINARY.is_file():
        pytest.fail(
            f"Jaeger binary missing at {JAEGER_BINARY}: build it with `make jaeger` "
            "(Go module proxy, a few minutes; `make setup` does it too)"
        )
    names = ("otlp_grpc", "otlp_http", "query_http", "query_grpc", "health")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    config = jaeger_config_on_ports(yaml.safe_load(JAEGER_CONFIG.read_text()), ports)
    config_path = tmp_path / "jaeger.yaml"
    config_path.write_text(yaml.safe_dump(config))
    command = [str(JAEGER_BINARY), "--config", f"file:{config_path}"]
    health = http_ok(f"http://{LOOPBACK}:{ports['health']}/status")
    query = http_ok(f"http://{LOOPBACK}:{ports['query_http']}/api/services")
    with running_server(command, tmp_path / "jaeger.log", lambda: health() and query(), "Jaeger"):
        yield Jaeger(
            otlp_grpc=f"http://{LOOPBACK}:{ports['otlp_grpc']}",
            otlp_http=f"http://{LOOPBACK}:{ports['otlp_http']}",
            query=f"http://{LOOPBACK}:{ports['query_http']}",
        )
