"""Read-only access to the Delta tables with delta-rs: history, schema and time-travel previews.

Every location comes from :func:`lakepulse_common.storage.table_uri`, which validates the table name,
so no request string ever becomes a path on its own. Spark is not needed (nor wanted) in the API.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow.fs as pafs
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

from lakepulse_common.control_events import Layer
from lakepulse_common.settings import LakeSettings
from lakepulse_common.storage import for_delta_rs, is_local, local_path, table_uri, validate_table_name
from lakepulse_control_api.errors import InvalidRequestError, NotFoundError

LAKE_LAYERS = (Layer.BRONZE, Layer.SILVER, Layer.GOLD)


class LakeReader:
    def __init__(self, lake: LakeSettings) -> None:
        assert lake.root is not None  # resolved by LakePulseSettings
        self._root = lake.root
        self._options = _storage_options(lake)

    def uri(self, layer: Layer, table: str) -> str:
        return for_delta_rs(table_uri(self._root, layer, table))

    def exists(self, layer: Layer, table: str) -> bool:
        try:
            return DeltaTable.is_deltatable(self.uri(layer, table), storage_options=self._options)
        except (DeltaError, OSError):
            return False

    def list_tables(self) -> list[tuple[Layer, str]]:
        """Tables found on disk (local lakes only; on S3 the control topic is the catalogue)."""
        if not is_local(self._root):
            return []
        found = []
        for layer in LAKE_LAYERS:
            layer_dir = local_path(self._root) / layer.value
            if not layer_dir.is_dir():
                continue
            for child in sorted(layer_dir.iterdir()):
                if (child / "_delta_log").is_dir() and _valid_name(child.name):
                    found.append((layer, child.name))
        return found

    def open(self, layer: Layer, table: str, *, version: int | None = None) -> DeltaTable:
        try:
            return DeltaTable(self.uri(layer, table), version=version, storage_options=self._options)
        except TableNotFoundError as exc:
            raise NotFoundError(f"no Delta table {layer.value}.{table}") from exc
        except DeltaError as exc:
            if version is not None:
                raise NotFoundError(f"{layer.value}.{table} has no version {version}") from exc
            raise

    def history(self, layer: Layer, table: str, limit: int) -> tuple[int, list[dict[str, Any]]]:
        delta = self.open(layer, table)
        return delta.version(), delta.history(limit)

    def schema(self, layer: Layer, table: str, version: int | None) -> tuple[int, dict[str, Any]]:
        delta = self.open(layer, table, version=version)
        return delta.version(), json.loads(delta.schema().to_json())

    def preview(
        self, layer: Layer, table: str, *, version: int | None, as_of: datetime | None, limit: int
    ) -> tuple[int, list[str], list[dict[str, Any]]]:
        delta = self.open(layer, table, version=version)
        if as_of is not None:
            self._travel_to(delta, layer, table, as_of)
        if is_local(self._root):
            # pyarrow's own filesystem: a head() stops the scan early, and delta-rs's Python one
            # under pyarrow's read-ahead threads can crash the interpreter at exit (lakepulse_cli.sql).
            local = pafs.SubTreeFileSystem(self.uri(layer, table), pafs.LocalFileSystem())
            head = delta.to_pyarrow_dataset(filesystem=local).head(limit)
        else:
            head = delta.to_pyarrow_dataset().head(limit)
        rows = [{key: json_safe(value) for key, value in row.items()} for row in head.to_pylist()]
        return delta.version(), head.schema.names, rows

    def _travel_to(self, delta: DeltaTable, layer: Layer, table: str, as_of: datetime) -> None:
        """Load the version current at ``as_of``; delta-rs falls back to the oldest version when
        ``as_of`` predates the table, so that case is detected from the version's commit time."""
        name = f"{layer.value}.{table}"
        latest = delta.version()
        try:
            delta.load_as_version(as_of)
        except (DeltaError, ValueError, OverflowError) as exc:
            raise InvalidRequestError(
                "timestamp", f"{name} has no version at {as_of}", location="query"
            ) from exc
        loaded = delta.version()
        history = self.open(layer, table).history(latest - loaded + 1)
        committed = next((e.get("timestamp") for e in history if e.get("version") == loaded), None)
        if isinstance(committed, int) and committed > as_of.timestamp() * 1000:
            raise InvalidRequestError(
                "timestamp", f"{name} did not exist yet at {as_of.isoformat()}", location="query"
            )


def json_safe(value: Any) -> Any:
    """Arrow values as JSON: bytes base64, decimals as strings, NaN/inf as null (JSON has none)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return str(value)


def _valid_name(name: str) -> bool:
    try:
        validate_table_name(name)
    except ValueError:
        return False
    return True


def _storage_options(lake: LakeSettings) -> dict[str, str]:
    options: dict[str, str] = {}
    if lake.s3_endpoint:
        options["AWS_ENDPOINT_URL"] = lake.s3_endpoint
        options["AWS_ALLOW_HTTP"] = "true" if lake.s3_endpoint.startswith("http://") else "false"
    if lake.s3_access_key:
        options["AWS_ACCESS_KEY_ID"] = lake.s3_access_key.get_secret_value()
    if lake.s3_secret_key:
        options["AWS_SECRET_ACCESS_KEY"] = lake.s3_secret_key.get_secret_value()
    if lake.s3_path_style_access and lake.s3_endpoint:
        options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false"
    return options
