"""Builders of pgoutput protocol messages, byte for byte as PostgreSQL 15 writes them (for unit tests)."""

from __future__ import annotations

import struct

from lakepulse_cdc_emitter.pgoutput import PG_EPOCH_OFFSET_US


def cstring(text: str) -> bytes:
    return text.encode() + b"\x00"


def tuple_data(values: list[object]) -> bytes:
    out = struct.pack(">h", len(values))
    for value in values:
        if value is None:
            out += b"n"
        elif value == "<unchanged>":
            out += b"u"
        else:
            data = str(value).encode()
            out += b"t" + struct.pack(">i", len(data)) + data
    return out


def begin(final_lsn: int, commit_unix_us: int, xid: int) -> bytes:
    return b"B" + struct.pack(">QqI", final_lsn, commit_unix_us - PG_EPOCH_OFFSET_US, xid)


def commit(commit_lsn: int, end_lsn: int, commit_unix_us: int) -> bytes:
    return b"C" + struct.pack(">bQQq", 0, commit_lsn, end_lsn, commit_unix_us - PG_EPOCH_OFFSET_US)


def relation(
    relid: int, namespace: str, name: str, columns: list[tuple[str, int, bool]], identity: str = "f"
) -> bytes:
    out = b"R" + struct.pack(">I", relid) + cstring(namespace) + cstring(name) + identity.encode()
    out += struct.pack(">h", len(columns))
    for column, oid, key in columns:
        out += bytes([1 if key else 0]) + cstring(column) + struct.pack(">Ii", oid, -1)
    return out


def insert(relid: int, values: list[object]) -> bytes:
    return b"I" + struct.pack(">I", relid) + b"N" + tuple_data(values)


def update(relid: int, new: list[object], old: list[object] | None = None, old_kind: bytes = b"O") -> bytes:
    out = b"U" + struct.pack(">I", relid)
    if old is not None:
        out += old_kind + tuple_data(old)
    return out + b"N" + tuple_data(new)


def delete(relid: int, old: list[object], old_kind: bytes = b"O") -> bytes:
    return b"D" + struct.pack(">I", relid) + old_kind + tuple_data(old)


def truncate(relids: list[int], options: int = 0) -> bytes:
    return b"T" + struct.pack(">ib", len(relids), options) + struct.pack(f">{len(relids)}I", *relids)


def type_message(oid: int, namespace: str, name: str) -> bytes:
    return b"Y" + struct.pack(">I", oid) + cstring(namespace) + cstring(name)


def origin(lsn: int, name: str) -> bytes:
    return b"O" + struct.pack(">Q", lsn) + cstring(name)


def message(lsn: int, prefix: str, content: bytes, transactional: bool = False) -> bytes:
    return (
        b"M"
        + struct.pack(">bQ", int(transactional), lsn)
        + cstring(prefix)
        + struct.pack(">i", len(content))
        + content
    )
