"""PostgreSQL text values → Debezium JSON values, for one documented Debezium configuration.

The configuration emulated (see docs/cdc-emitter.md): ``decimal.handling.mode=string``,
``time.precision.mode=adaptive_time_microseconds``, ``binary.handling.mode=base64``,
``interval.handling.mode=string``. Values arrive in PostgreSQL's text output format because both
the replication session and the snapshot session run with ``DateStyle=ISO`` and ``TimeZone=UTC``.

A converter is chosen once per column (when a Relation message arrives), so the per-row cost is a
single function call. A value a converter cannot parse (``infinity`` dates, BC timestamps) and a
type with no converter are emitted as the PostgreSQL text, and counted as a warning: never a crash.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

Converter = Callable[[str], Any]

_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_EPOCH: Final = datetime(1970, 1, 1)
_ONE_US: Final = timedelta(microseconds=1)


def to_bool(text: str) -> bool:
    # pgoutput sends 't'/'f'; a ::text cast in the snapshot yields 'true'/'false'.
    return text[0] == "t"


def to_days(text: str) -> int:
    """io.debezium.time.Date: days since 1970-01-01."""
    return date.fromisoformat(text).toordinal() - _EPOCH_ORDINAL


def to_micro_timestamp(text: str) -> int:
    """io.debezium.time.MicroTimestamp: microseconds since the epoch, wall clock, no zone."""
    return (datetime.fromisoformat(text) - _EPOCH) // _ONE_US


def to_zoned_timestamp(text: str) -> str:
    """io.debezium.time.ZonedTimestamp: ISO-8601 in UTC with six fraction digits and ``Z``."""
    # Fast path: the sessions run with TimeZone=UTC, so values look like 2025-07-16 18:10:13.467+00.
    if text.endswith("+00") and len(text) >= 22 and text[4] == "-" and text[10] == " ":
        clock = text[11:-3]
        if len(clock) == 8:
            return f"{text[:10]}T{clock}.000000Z"
        if len(clock) > 9 and clock[8] == ".":
            return f"{text[:10]}T{clock[:8]}.{clock[9:]:0<6}Z"
    moment = datetime.fromisoformat(text).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_micro_time(text: str) -> int:
    """io.debezium.time.MicroTime: microseconds since midnight (``24:00:00`` is allowed)."""
    if text.startswith("24:00:00"):
        return 86_400_000_000
    value = time.fromisoformat(text)
    return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond


def to_zoned_time(text: str) -> str:
    """io.debezium.time.ZonedTime: ISO-8601 time normalised to UTC, e.g. ``10:15:30.000000Z``."""
    value = time.fromisoformat(text)
    offset = value.utcoffset() or timedelta(0)
    moment = datetime.combine(date(2000, 1, 1), value.replace(tzinfo=None)) - offset
    return moment.strftime("%H:%M:%S.%fZ")


def to_base64(text: str) -> str:
    """bytea (hex output format ``\\x…``) → base64, as JsonConverter writes Kafka Connect bytes."""
    return base64.b64encode(bytes.fromhex(text[2:])).decode()


def as_text(text: str) -> str:
    return text


# Type OIDs from pg_type.dat; stable across PostgreSQL versions.
_CONVERTERS: Final[dict[int, Converter]] = {
    16: to_bool,  # bool
    20: int,  # int8
    21: int,  # int2
    23: int,  # int4
    26: int,  # oid
    700: float,  # float4
    701: float,  # float8
    1700: as_text,  # numeric (decimal.handling.mode=string)
    790: as_text,  # money
    25: as_text,  # text
    1043: as_text,  # varchar
    1042: as_text,  # bpchar
    18: as_text,  # "char"
    19: as_text,  # name
    2950: as_text,  # uuid (io.debezium.data.Uuid)
    114: as_text,  # json (io.debezium.data.Json)
    3802: as_text,  # jsonb
    142: as_text,  # xml
    869: as_text,  # inet
    650: as_text,  # cidr
    829: as_text,  # macaddr
    1186: as_text,  # interval (interval.handling.mode=string would be ISO; text form documented)
    17: to_base64,  # bytea
    1082: to_days,  # date
    1114: to_micro_timestamp,  # timestamp
    1184: to_zoned_timestamp,  # timestamptz
    1083: to_micro_time,  # time
    1266: to_zoned_time,  # timetz
}

KNOWN_TYPE_OIDS: Final = frozenset(_CONVERTERS)


def converter_for(type_oid: int) -> Converter | None:
    """The converter of a built-in type, or None when the type is not mapped (caller decides)."""
    return _CONVERTERS.get(type_oid)
