"""A pure parser for the pgoutput logical replication protocol, version 1.

Kept free of I/O so it can be unit-tested on hand-built byte strings. The hot path (Insert/Update/
Delete tuples) uses precompiled :mod:`struct` readers and returns plain lists of text values: the
type conversion happens later, per column, in :mod:`lakepulse_cdc_emitter.types`.

Message layout: https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from lakepulse_cdc_emitter.errors import PgOutputDecodeError

PG_EPOCH_OFFSET_US: Final = 946_684_800_000_000  # 2000-01-01 minus 1970-01-01, in microseconds

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_BEGIN = struct.Struct(">QqI")  # final lsn, commit timestamp, xid
_COMMIT = struct.Struct(">bQQq")  # flags, commit lsn, end lsn, commit timestamp
_ORIGIN = struct.Struct(">Q")
_TRUNCATE = struct.Struct(">ib")
_MESSAGE = struct.Struct(">bQ")
_COLUMN = struct.Struct(">Ii")  # type oid, type modifier


class Unchanged:
    """Marks a TOASTed column that the new tuple does not carry (pgoutput kind ``u``)."""

    _instance: Unchanged | None = None

    def __new__(cls) -> Unchanged:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = Unchanged()

TupleValue = str | None | Unchanged


@dataclass(frozen=True, slots=True)
class Begin:
    final_lsn: int
    commit_ts_us: int  # Unix epoch microseconds
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ts_us: int


@dataclass(frozen=True, slots=True)
class Origin:
    lsn: int
    name: str


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type_oid: int
    type_modifier: int
    is_identity_key: bool


@dataclass(frozen=True, slots=True)
class Relation:
    relid: int
    namespace: str
    name: str
    replica_identity: str  # d(efault), n(othing), f(ull), i(ndex)
    columns: tuple[Column, ...]

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}.{self.name}"


@dataclass(frozen=True, slots=True)
class TypeInfo:
    oid: int
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class Insert:
    relid: int
    new: list[TupleValue]


@dataclass(frozen=True, slots=True)
class Update:
    relid: int
    old: list[TupleValue] | None  # None unless the identity changed or REPLICA IDENTITY FULL
    old_is_key_only: bool
    new: list[TupleValue]


@dataclass(frozen=True, slots=True)
class Delete:
    relid: int
    old: list[TupleValue]
    old_is_key_only: bool


@dataclass(frozen=True, slots=True)
class Truncate:
    relids: tuple[int, ...]
    cascade: bool
    restart_identity: bool


@dataclass(frozen=True, slots=True)
class LogicalMessage:
    transactional: bool
    lsn: int
    prefix: str
    content: bytes


PgOutputMessage = (
    Begin | Commit | Origin | Relation | TypeInfo | Insert | Update | Delete | Truncate | LogicalMessage
)


def _string(buf: bytes, pos: int) -> tuple[str, int]:
    end = buf.index(0, pos)
    return buf[pos:end].decode(), end + 1


def _tuple(buf: bytes, pos: int) -> tuple[list[TupleValue], int]:
    ncols = _I16.unpack_from(buf, pos)[0]
    pos += 2
    values: list[TupleValue] = []
    append = values.append
    unpack_len = _I32.unpack_from
    for _ in range(ncols):
        kind = buf[pos]
        pos += 1
        if kind == 116:  # 't': text
            length = unpack_len(buf, pos)[0]
            pos += 4
            append(buf[pos : pos + length].decode())
            pos += length
        elif kind == 110:  # 'n': null
            append(None)
        elif kind == 117:  # 'u': unchanged TOAST value
            append(UNCHANGED)
        else:
            raise PgOutputDecodeError(f"unsupported tuple column kind {chr(kind)!r} at byte {pos - 1}")
    if pos > len(buf):
        raise PgOutputDecodeError(f"tuple runs past the end of the message ({pos} > {len(buf)} bytes)")
    return values, pos


def _relation(buf: bytes) -> Relation:
    relid = _U32.unpack_from(buf, 1)[0]
    namespace, pos = _string(buf, 5)
    name, pos = _string(buf, pos)
    identity = chr(buf[pos])
    ncols = _I16.unpack_from(buf, pos + 1)[0]
    pos += 3
    columns = []
    for _ in range(ncols):
        flags = buf[pos]
        column_name, pos = _string(buf, pos + 1)
        type_oid, type_modifier = _COLUMN.unpack_from(buf, pos)
        pos += 8
        columns.append(Column(column_name, type_oid, type_modifier, bool(flags & 1)))
    return Relation(relid, namespace or "pg_catalog", name, identity, tuple(columns))


def _update(buf: bytes) -> Update:
    relid = _U32.unpack_from(buf, 1)[0]
    marker = buf[5]
    old: list[TupleValue] | None = None
    key_only = False
    pos = 6
    if marker in (75, 79):  # 'K' key columns, 'O' full old tuple
        key_only = marker == 75
        old, pos = _tuple(buf, 6)
        marker = buf[pos]
        pos += 1
    if marker != 78:  # 'N'
        raise PgOutputDecodeError(f"update without a new tuple (marker {chr(marker)!r})")
    new, _ = _tuple(buf, pos)
    return Update(relid, old, key_only, new)


def _delete(buf: bytes) -> Delete:
    relid = _U32.unpack_from(buf, 1)[0]
    marker = buf[5]
    if marker not in (75, 79):
        raise PgOutputDecodeError(f"delete without an old tuple (marker {chr(marker)!r})")
    old, _ = _tuple(buf, 6)
    return Delete(relid, old, marker == 75)


def _truncate(buf: bytes) -> Truncate:
    count, options = _TRUNCATE.unpack_from(buf, 1)
    relids = struct.unpack_from(f">{count}I", buf, 6)
    return Truncate(tuple(relids), bool(options & 1), bool(options & 2))


def _message(buf: bytes) -> LogicalMessage:
    flags, lsn = _MESSAGE.unpack_from(buf, 1)
    prefix, pos = _string(buf, 10)
    length = _I32.unpack_from(buf, pos)[0]
    return LogicalMessage(bool(flags & 1), lsn, prefix, bytes(buf[pos + 4 : pos + 4 + length]))


def parse(buf: bytes) -> PgOutputMessage:
    """Decode one pgoutput message; raises :class:`PgOutputDecodeError` on anything unexpected."""
    if not buf:
        raise PgOutputDecodeError("empty pgoutput message")
    tag = buf[0]
    try:
        if tag == 73:  # 'I'
            if buf[5] != 78:
                raise PgOutputDecodeError(f"insert without a new tuple (marker {chr(buf[5])!r})")
            return Insert(_U32.unpack_from(buf, 1)[0], _tuple(buf, 6)[0])
        if tag == 85:  # 'U'
            return _update(buf)
        if tag == 68:  # 'D'
            return _delete(buf)
        if tag == 66:  # 'B'
            final_lsn, ts, xid = _BEGIN.unpack_from(buf, 1)
            return Begin(final_lsn, ts + PG_EPOCH_OFFSET_US, xid)
        if tag == 67:  # 'C'
            flags, commit_lsn, end_lsn, ts = _COMMIT.unpack_from(buf, 1)
            return Commit(flags, commit_lsn, end_lsn, ts + PG_EPOCH_OFFSET_US)
        if tag == 82:  # 'R'
            return _relation(buf)
        if tag == 89:  # 'Y'
            oid = _U32.unpack_from(buf, 1)[0]
            namespace, pos = _string(buf, 5)
            name, _ = _string(buf, pos)
            return TypeInfo(oid, namespace, name)
        if tag == 79:  # 'O'
            lsn = _ORIGIN.unpack_from(buf, 1)[0]
            return Origin(lsn, _string(buf, 9)[0])
        if tag == 84:  # 'T'
            return _truncate(buf)
        if tag == 77:  # 'M'
            return _message(buf)
    except PgOutputDecodeError:
        raise
    except (struct.error, IndexError, ValueError, UnicodeDecodeError) as exc:
        raise PgOutputDecodeError(f"malformed pgoutput message {chr(tag)!r}: {exc}") from exc
    raise PgOutputDecodeError(f"unknown pgoutput message type {chr(tag)!r}")


def format_lsn(lsn: int) -> str:
    """PostgreSQL's textual LSN, ``XXXXXXXX/XXXXXXXX``."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)
