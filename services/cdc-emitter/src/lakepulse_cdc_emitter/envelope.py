"""Debezium's change-event envelope (JsonConverter, ``schemas.enable=false``) and its codec.

Field order follows Debezium 2.7 output (``before, after, source, transaction, op, ts_ms, ts_us,
ts_ns``); consumers must not rely on it, but it makes byte-level comparison with samples easy.
The codec is an interface so Avro with a schema registry can replace JSON without touching the
event builders.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

import orjson

from lakepulse_common import __version__

CONNECTOR: Final = "postgresql"
SOURCE_VERSION: Final = f"2.7.3.Final-lakepulse-{__version__}"  # Debezium envelope version emulated
UNAVAILABLE_VALUE: Final = "__debezium_unavailable_value"


class Codec(Protocol):
    """Serializes keys and values; a tombstone value stays ``None`` whatever the codec."""

    name: str

    def encode_key(self, key: dict[str, Any]) -> bytes: ...

    def encode_value(self, value: dict[str, Any]) -> bytes: ...


class JsonCodec:
    """JsonConverter with schemas disabled: the envelope is the top-level JSON object."""

    name = "json"

    def encode_key(self, key: dict[str, Any]) -> bytes:
        return orjson.dumps(key)

    def encode_value(self, value: dict[str, Any]) -> bytes:
        return orjson.dumps(value)


def sequence(last_commit_lsn: int | None, lsn: int) -> str:
    """``source.sequence``: a JSON array of two LSN strings, encoded as a string."""
    first = "null" if last_commit_lsn is None else f'"{last_commit_lsn}"'
    return f'[{first},"{lsn}"]'


class SourceFactory:
    """Builds ``source`` blocks; the constant part is computed once per emitter."""

    def __init__(self, server_name: str, database: str) -> None:
        self.server_name = server_name
        self.database = database

    def source(
        self,
        *,
        schema: str,
        table: str,
        ts_us: int,
        snapshot: str,
        tx_id: int | None,
        lsn: int,
        sequence: str,
    ) -> dict[str, Any]:
        return {
            "version": SOURCE_VERSION,
            "connector": CONNECTOR,
            "name": self.server_name,
            "ts_ms": ts_us // 1000,
            "snapshot": snapshot,
            "db": self.database,
            "sequence": sequence,
            "ts_us": ts_us,
            "ts_ns": ts_us * 1000,
            "schema": schema,
            "table": table,
            "txId": tx_id,
            "lsn": lsn,
            "xmin": None,
        }


def change_event(
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    source: dict[str, Any],
    op: str,
    transaction: dict[str, Any] | None,
    now_us: int,
) -> dict[str, Any]:
    return {
        "before": before,
        "after": after,
        "source": source,
        "transaction": transaction,
        "op": op,
        "ts_ms": now_us // 1000,
        "ts_us": now_us,
        "ts_ns": now_us * 1000,
    }


def transaction_id(xid: int, lsn: int) -> str:
    return f"{xid}:{lsn}"


def transaction_begin(tx_id: str, ts_ms: int) -> dict[str, Any]:
    return {"status": "BEGIN", "id": tx_id, "event_count": None, "data_collections": None, "ts_ms": ts_ms}


def transaction_end(tx_id: str, counts: dict[str, int], ts_ms: int) -> dict[str, Any]:
    return {
        "status": "END",
        "id": tx_id,
        "event_count": sum(counts.values()),
        "data_collections": [{"data_collection": name, "event_count": n} for name, n in counts.items()],
        "ts_ms": ts_ms,
    }
