"""Bronze-shaped Delta tables built from Python dicts, so silver tests need no Kafka or emitter.

Row images use Debezium's JSON encoding (dates as days since the epoch, timestamps as µs, numerics
as strings), exactly what the bronze writer stores in ``before``/``after``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import orjson
from pyspark.sql import SparkSession

from lakepulse_common.control_events import Layer
from lakepulse_common.storage import for_spark, table_uri

BRONZE_DDL = (
    "op STRING, source_lsn BIGINT, source_tx_id BIGINT, source_ts_ms BIGINT, ts_ms BIGINT,"
    " source_snapshot STRING, source_schema STRING, source_table STRING, transaction_id STRING,"
    " transaction_total_order BIGINT, transaction_data_collection_order BIGINT, _is_duplicate BOOLEAN,"
    " _key STRING, _topic STRING, _partition INT, _offset BIGINT, _ingested_at TIMESTAMP,"
    " _batch_id BIGINT, _ingest_date DATE, before STRING, after STRING"
)
EPOCH = dt.date(1970, 1, 1)
TS0_MS = 1_764_000_000_000  # a fixed source commit time


def days(value: dt.date) -> int:
    return (value - EPOCH).days


def micros(value: dt.datetime) -> int:
    return int((value - dt.datetime(1970, 1, 1)).total_seconds() * 1_000_000)


@dataclass(frozen=True)
class Change:
    """One CDC event: ``row`` is the after image (the before image for ``op='d'``)."""

    op: str
    lsn: int
    row: dict[str, Any]
    key: tuple[str, ...]
    ts_ms: int | None = None
    total_order: int = 1
    key_override: dict[str, Any] | None = None
    transaction_id: str | None = None  # default: one transaction per change


def upsert(lsn: int, row: dict[str, Any], key: tuple[str, ...], op: str = "u", **kw: Any) -> Change:
    return Change(op, lsn, row, key, **kw)


def delete(lsn: int, row: dict[str, Any], key: tuple[str, ...], **kw: Any) -> Change:
    return Change("d", lsn, row, key, **kw)


@dataclass
class Bronze:
    """Appends one bronze Delta version per :meth:`append` call."""

    spark: SparkSession
    lake_root: str
    offsets: dict[str, int] = field(default_factory=dict)

    def uri(self, table: str) -> str:
        return table_uri(self.lake_root, Layer.BRONZE, table)

    def append(self, table: str, changes: list[Change]) -> int:
        rows = []
        for change in changes:
            offset = self.offsets.get(table, 0)
            self.offsets[table] = offset + 1
            key = change.key_override or {k: change.row.get(k) for k in change.key}
            image = orjson.dumps(change.row).decode() if change.row else None
            rows.append(
                (
                    change.op,
                    change.lsn,
                    change.lsn // 10,
                    change.ts_ms if change.ts_ms is not None else TS0_MS + change.lsn,
                    TS0_MS + change.lsn + 5,
                    "true" if change.op == "r" else "false",
                    "sales",
                    table,
                    None if change.op == "r" else change.transaction_id or f"{change.lsn // 10}:{change.lsn}",
                    None if change.op == "r" else change.total_order,
                    None if change.op == "r" else change.total_order,
                    False,
                    orjson.dumps(key).decode() if change.op != "t" else None,
                    f"lakepulse.cdc.{table}",
                    0,
                    offset,
                    dt.datetime(2026, 11, 25, 12, 0, 0),
                    1,
                    dt.date(2026, 11, 25),
                    image if change.op == "d" else None,
                    image if change.op != "d" else None,
                )
            )
        df = self.spark.createDataFrame(rows, BRONZE_DDL)
        uri = for_spark(self.uri(table))
        df.write.format("delta").mode("append").partitionBy("_ingest_date").save(uri)
        return int(self.spark.sql(f"DESCRIBE HISTORY delta.`{uri}` LIMIT 1").first()["version"])

    def end_transaction(self, transaction_id: str, events: dict[str, int]) -> None:
        """The transaction topic's END event for ``transaction_id``: its event count per table."""
        collections = [{"data_collection": f"sales.{t}", "event_count": n} for t, n in events.items()]
        total = sum(events.values())
        row = ("END", transaction_id, total, orjson.dumps(collections).decode(), dt.date.today())
        df = self.spark.createDataFrame(
            [row],
            "tx_status STRING, tx_id STRING, tx_event_count BIGINT, tx_data_collections STRING,"
            " _ingest_date DATE",
        )
        uri = for_spark(self.uri("_transactions"))
        df.write.format("delta").mode("append").partitionBy("_ingest_date").save(uri)


CUSTOMER_KEY = ("customer_id",)
ORDER_KEY = ("order_id",)
ORDER_LINE_KEY = ("order_line_id",)


def customer(customer_id: int, name: str = "Tailspin", **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "customer_name": name,
        "bill_to_customer_id": customer_id,
        "customer_category_id": 1,
        "buying_group_id": None,
        "delivery_city_id": 1,
        "postal_city_id": 1,
        "credit_limit": "1000.00",
        "account_opened_date": days(dt.date(2020, 1, 2)),
        "standard_discount_percentage": "0.000",
        "is_on_credit_hold": False,
        "payment_days": 7,
        "phone_number": "(555) 010-0001",
        "email": f"c{customer_id}@example.com",
        "website_url": "http://example.com",
        "delivery_postal_code": "90210",
        "last_edited_when": micros(dt.datetime(2026, 1, 1, 8, 0, 0)),
    }
    return row | overrides


def order(order_id: int, customer_id: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_id": order_id,
        "customer_id": customer_id,
        "salesperson_person_id": 2,
        "order_date": days(dt.date(2026, 11, 1)),
        "expected_delivery_date": days(dt.date(2026, 11, 2)),
        "customer_purchase_order_number": None,
        "is_undersupply_backordered": False,
        "comments": None,
        "delivery_instructions": None,
        "internal_comments": None,
        "picking_completed_when": None,
        "last_edited_when": micros(dt.datetime(2026, 11, 1, 9, 30, 0)),
    }
    return row | overrides


def order_line(line_id: int, order_id: int, quantity: int = 3, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_line_id": line_id,
        "order_id": order_id,
        "stock_item_id": 5,
        "description": "USB rocket",
        "package_type_id": 7,
        "quantity": quantity,
        "unit_price": "13.00",
        "tax_rate": "15.000",
        "picked_quantity": 0,
        "picking_completed_when": None,
        "last_edited_when": micros(dt.datetime(2026, 11, 1, 9, 30, 0)),
    }
    return row | overrides
