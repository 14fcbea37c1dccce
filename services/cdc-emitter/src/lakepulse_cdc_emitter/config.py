"""The emitter's settings: the shared :class:`LakePulseSettings` plus a ``cdc`` section.

Environment examples: ``LAKEPULSE_CDC__SLOT_NAME=lakepulse_cdc``,
``LAKEPULSE_CDC__TABLES='["sales.orders","sales.order_lines"]'``, ``LAKEPULSE_CDC__PARTITIONS=6``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from lakepulse_common.settings import LakePulseSettings, TelemetrySettings

_IDENTIFIER = r"[a-z_][a-z0-9_$]*"
_QUALIFIED = re.compile(rf"^{_IDENTIFIER}\.{_IDENTIFIER}$")

SERVICE_NAME = "cdc-emitter"


class CustomerRouting(BaseModel):
    """Orders and order lines share a partition per customer, so one customer's changes stay ordered."""

    enabled: bool = True
    orders_table: str = Field(default="sales.orders", pattern=_QUALIFIED.pattern)
    order_lines_table: str = Field(default="sales.order_lines", pattern=_QUALIFIED.pattern)
    customer_column: str = "customer_id"
    order_id_column: str = "order_id"
    cache_size: int = Field(default=200_000, ge=1, description="order_id → customer_id entries kept")


class CdcSettings(BaseModel):
    slot_name: str = Field(default="lakepulse_cdc", pattern=r"^[a-z0-9_]{1,63}$")
    publication: str = Field(default="lakepulse_cdc", pattern=r"^[a-z0-9_]{1,63}$")
    tables: list[str] = Field(
        default_factory=list, description="schema.table to capture; empty = every table of `schemas`"
    )
    schemas: list[str] = Field(default_factory=lambda: ["application", "sales", "warehouse"])
    snapshot_mode: Literal["initial", "never"] = Field(
        default="initial", description="initial: snapshot when the slot has no delivered snapshot"
    )
    state_schema: str = Field(
        default="lakepulse_cdc", pattern=r"^[a-z_][a-z0-9_]*$", description="holds the snapshot state"
    )
    server_name: str | None = Field(default=None, description="source.name; default: the topic prefix")
    partitions: int = Field(default=3, ge=1, description="partitions of newly created CDC topics")
    snapshot_chunk_rows: int = Field(default=10_000, ge=1, description="rows fetched per snapshot round trip")
    feedback_interval_s: float = Field(default=1.0, gt=0, description="how often the slot is advanced")
    heartbeat_message_interval_s: float = Field(
        default=30.0, ge=0, description="pg_logical_emit_message cadence when idle; 0 disables it"
    )
    status_interval_s: float = Field(default=5.0, gt=0, description="slot-lag and re-snapshot polling")
    producer_queue_kbytes: int = Field(default=65_536, ge=1024, description="bounds the emitter's memory")
    linger_ms: int = Field(default=5, ge=0)
    routing: CustomerRouting = CustomerRouting()

    @field_validator("tables")
    @classmethod
    def _qualified(cls, tables: list[str]) -> list[str]:
        bad = [t for t in tables if not _QUALIFIED.match(t)]
        if bad:
            raise ValueError(f"tables must be lower-case schema.table names: {bad}")
        return tables


class CdcTelemetrySettings(TelemetrySettings):
    """The emitter serves /metrics on 9401 unless told otherwise (a subclass, not an instance default,
    so the port survives when only some ``LAKEPULSE_TELEMETRY__*`` variables are set)."""

    metrics_port: int = Field(default=9401, ge=0, le=65535, description="0 disables the /metrics endpoint")


class CdcEmitterSettings(LakePulseSettings):
    cdc: CdcSettings = CdcSettings()
    telemetry: CdcTelemetrySettings = CdcTelemetrySettings()

    @property
    def server_name(self) -> str:
        return self.cdc.server_name or self.kafka.topic_prefix
