"""Where the Jaeger binary and config live, and the config rewritten onto free loopback ports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
JAEGER_BINARY = REPO_ROOT / ".lakepulse" / "tools" / "jaeger"
JAEGER_CONFIG = REPO_ROOT / "deploy" / "jaeger" / "config.yaml"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Jaeger:
    otlp_grpc: str
    otlp_http: str
    query: str


def jaeger_config_on_ports(config: dict[str, Any], ports: dict[str, int]) -> dict[str, Any]:
    """deploy/jaeger/config.yaml with the receiver, query and health endpoints on the given ports."""
    protocols = config["receivers"]["otlp"]["protocols"]
    protocols["grpc"]["endpoint"] = f"{LOOPBACK}:{ports['otlp_grpc']}"
    protocols["http"]["endpoint"] = f"{LOOPBACK}:{ports['otlp_http']}"
    query = config["extensions"]["jaeger_query"]
    query["http"]["endpoint"] = f"{LOOPBACK}:{ports['query_http']}"
    query["grpc"]["endpoint"] = f"{LOOPBACK}:{ports['query_grpc']}"
    config["extensions"]["healthcheckv2"]["http"]["endpoint"] = f"{LOOPBACK}:{ports['health']}"
    return config
