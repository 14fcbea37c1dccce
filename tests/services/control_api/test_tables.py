"""Tables endpoints against small Delta tables written with delta-rs."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from fastapi.testclient import TestClient

from lakepulse_common.storage import for_delta_rs, table_uri
from lakepulse_control_api.config import ControlApiServiceSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def orders_table(api_settings: ControlApiServiceSettings) -> str:
    """silver.orders: version 0 has two rows, version 1 appends a third with a new column."""
    uri = for_delta_rs(table_uri(api_settings.lake_root, "silver", "orders"))
    first = pa.table(
        {
            "order_id": [1, 2],
            "amount": pa.array([Decimal("1.50"), Decimal("2.25")], pa.decimal128(10, 2)),
            "placed_at": [datetime(2024, 1, 1, tzinfo=UTC), None],
            "blob": [b"\x00\x01", None],
            "ratio": [float("nan"), 0.5],
        }
    )
    write_deltalake(uri, first)
    second = first.slice(0, 1).append_column("note", pa.array(["late"]))
    write_deltalake(uri, second, mode="append", schema_mode="merge")
    return uri


def test_history_lists_both_commits(client: TestClient, orders_table: str) -> None:
    response = client.get("/api/v1/tables/silver/orders/history")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["latest_version"] == 1
    assert [entry["version"] for entry in body["history"]] == [1, 0]
    assert body["history"][1]["operation"] == "WRITE"
    assert body["history"][1]["operation_metrics"]["num_added_rows"] == 2


def test_schema_at_each_version(client: TestClient, orders_table: str) -> None:
    v0 = client.get("/api/v1/tables/silver/orders/schema", params={"version": 0}).json()
    latest = client.get("/api/v1/tables/silver/orders/schema").json()
    assert [f["name"] for f in v0["fields"]] == ["order_id", "amount", "placed_at", "blob", "ratio"]
    assert [f["name"] for f in latest["fields"]][-1] == "note"
    assert latest["version"] == 1
    assert v0["fields"][1]["type"] == "decimal(10,2)"


def test_preview_as_of_version_zero_and_as_of_a_timestamp(client: TestClient, orders_table: str) -> None:
    v0 = client.get("/api/v1/tables/silver/orders/preview", params={"version": 0, "limit": 10}).json()
    assert v0["version"] == 0
    assert v0["columns"] == ["order_id", "amount", "placed_at", "blob", "ratio"]
    assert sorted(r["order_id"] for r in v0["rows"]) == [1, 2]
    first = next(r for r in v0["rows"] if r["order_id"] == 1)
    assert first == {
        "order_id": 1,
        "amount": "1.50",
        "placed_at": "2024-01-01T00:00:00+00:00",
        "blob": "AAE=",
        "ratio": None,
    }
    latest = client.get("/api/v1/tables/silver/orders/preview", params={"limit": 1}).json()
    assert latest["version"] == 1 and len(latest["rows"]) == 1 and "note" in latest["columns"]

    created = DeltaTable(orders_table).history()[-1]["timestamp"]
    as_of = datetime.fromtimestamp(created / 1000, UTC).isoformat()
    at_creation = client.get("/api/v1/tables/silver/orders/preview", params={"timestamp": as_of}).json()
    assert at_creation["version"] == 0


def test_listing_and_errors(client: TestClient, orders_table: str) -> None:
    assert {"layer": "silver", "table": "orders"} in client.get("/api/v1/tables").json()["tables"]
    assert client.get("/api/v1/tables/gold/orders/history").status_code == 404
    assert client.get("/api/v1/tables/silver/orders/preview", params={"version": 99}).status_code == 404
    assert (
        client.get(
            "/api/v1/tables/silver/orders/preview", params={"version": 0, "timestamp": "2024-01-01T00:00:00Z"}
        ).status_code
        == 422
    )
    assert (
        client.get(
            "/api/v1/tables/silver/orders/preview", params={"timestamp": "1990-01-01T00:00:00Z"}
        ).status_code
        == 422
    )
    assert client.get("/api/v1/tables/source/orders/history").status_code == 422
    assert client.get("/api/v1/tables/silver/Orders/history").status_code == 422
    assert client.get("/api/v1/tables/silver/..%2F..%2Fetc/history").status_code in (404, 422)
    assert client.get("/api/v1/tables/silver/orders/preview", params={"limit": 100_000}).status_code == 422
