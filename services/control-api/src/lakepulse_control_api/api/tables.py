"""``/api/v1/tables``: Delta history, schema and time-travel previews, read with delta-rs."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from lakepulse_common.control_events import Layer
from lakepulse_control_api.api.deps import Plane
from lakepulse_control_api.api.responses import errors
from lakepulse_control_api.errors import InvalidRequestError
from lakepulse_control_api.schemas import (
    TABLE_PATTERN,
    HistoryEntry,
    SchemaField,
    TableHistory,
    TableList,
    TablePreview,
    TableRef,
    TableSchema,
)

router = APIRouter(prefix="/api/v1/tables", tags=["tables"])

PREVIEW_LIMIT_CAP = 1000


class LakeLayer(StrEnum):
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"


_LAKE_LAYER_NAMES = frozenset(layer.value for layer in LakeLayer)
TableName = Annotated[str, Path(pattern=TABLE_PATTERN, max_length=128, examples=["orders"])]


@router.get("", response_model=TableList)
def list_tables(plane: Plane) -> TableList:
    """Tables found in the lake plus those the control topic has announced."""
    found = {(layer.value, table) for layer, table in plane.lake.list_tables()}
    found |= {key for key in plane.state.snapshot().tables if key[0] in _LAKE_LAYER_NAMES}
    return TableList(tables=[TableRef(layer=layer, table=table) for layer, table in sorted(found)])


@router.get("/{layer}/{table}/history", response_model=TableHistory, responses=errors(404))
def table_history(
    plane: Plane,
    layer: LakeLayer,
    table: TableName,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> TableHistory:
    """The newest ``limit`` commits of the table's Delta log, newest first."""
    latest, entries = plane.lake.history(Layer(layer), table, limit)
    return TableHistory(
        layer=layer.value, table=table, latest_version=latest, history=[_history_entry(e) for e in entries]
    )


@router.get("/{layer}/{table}/schema", response_model=TableSchema, responses=errors(404))
def table_schema(
    plane: Plane,
    layer: LakeLayer,
    table: TableName,
    version: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> TableSchema:
    """The Delta schema at ``version`` (default: the latest)."""
    loaded, schema = plane.lake.schema(Layer(layer), table, version)
    return TableSchema(
        layer=layer.value,
        table=table,
        version=loaded,
        fields=[
            SchemaField(
                name=f["name"],
                type=f["type"],
                nullable=f.get("nullable", True),
                metadata=f.get("metadata", {}),
            )
            for f in schema.get("fields", [])
        ],
    )


@router.get("/{layer}/{table}/preview", response_model=TablePreview, responses=errors(404))
def table_preview(
    plane: Plane,
    layer: LakeLayer,
    table: TableName,
    version: Annotated[int | None, Query(ge=0, le=2**62, description="time travel to a version")] = None,
    timestamp: Annotated[
        datetime | None, Query(description="time travel to the version current at this time")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=PREVIEW_LIMIT_CAP)] = 20,
) -> TablePreview:
    """The first ``limit`` rows as of a version or a timestamp (default: the latest version)."""
    if version is not None and timestamp is not None:
        raise InvalidRequestError("timestamp", "give version or timestamp, not both", location="query")
    as_of = None
    if timestamp is not None:
        as_of = timestamp if timestamp.tzinfo is not None else timestamp.replace(tzinfo=UTC)
    loaded, columns, rows = plane.lake.preview(
        Layer(layer),
        table,
        version=version,
        as_of=as_of,
        limit=min(limit, plane.settings.control.preview_max_rows),
    )
    return TablePreview(layer=layer.value, table=table, version=loaded, columns=columns, rows=rows)


def _history_entry(entry: dict[str, Any]) -> HistoryEntry:
    timestamp = entry.get("timestamp")
    known = {"version", "timestamp", "operation", "operationParameters", "operationMetrics"}
    return HistoryEntry(
        version=int(entry["version"]),
        timestamp=datetime.fromtimestamp(timestamp / 1000, UTC) if isinstance(timestamp, int) else None,
        operation=entry.get("operation"),
        operation_parameters=dict(entry.get("operationParameters") or {}),
        operation_metrics=dict(entry.get("operationMetrics") or {}),
        other={k: v for k, v in entry.items() if k not in known},
    )
