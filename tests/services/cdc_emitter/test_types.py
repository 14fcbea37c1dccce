"""PostgreSQL text → Debezium values, checked against the values the conformance samples assert."""

import base64

import pytest

from lakepulse_cdc_emitter import metrics
from lakepulse_cdc_emitter.relations import TableSchema
from lakepulse_cdc_emitter.types import (
    as_text,
    converter_for,
    to_base64,
    to_bool,
    to_days,
    to_micro_time,
    to_micro_timestamp,
    to_zoned_time,
    to_zoned_timestamp,
)

pytestmark = pytest.mark.unit


def test_adaptive_time_microseconds_matches_the_debezium_samples():
    # timestamp-micro-date-time.schemas.json: MicroTimestamp, Date and MicroTime of 2022-10-14 23:55:31.989360
    assert to_micro_timestamp("2022-10-14 23:55:31.98936") == 1665791731989360
    assert to_days("2022-10-14") == 19279
    assert to_micro_time("23:55:31.98936") == 86131989360
    # decimal-precise.schemas.json: created_at 1767806283683652
    assert to_micro_timestamp("2026-01-07 17:18:03.683652") == 1767806283683652


def test_zoned_timestamp_is_iso_utc_with_six_digits():
    # timestamp-zoned.schemas.json: "2025-07-16T18:10:13.467000Z"
    assert to_zoned_timestamp("2025-07-16 18:10:13.467+00") == "2025-07-16T18:10:13.467000Z"
    assert to_zoned_timestamp("2025-07-16 20:10:13+02") == "2025-07-16T18:10:13.000000Z"
    assert to_zoned_time("10:15:30+02") == "08:15:30.000000Z"


def test_edge_values():
    assert to_micro_time("24:00:00") == 86_400_000_000
    assert to_days("1969-12-31") == -1
    assert to_micro_timestamp("1970-01-01 00:00:00") == 0


def test_scalars_and_strings():
    assert to_bool("t") is True and to_bool("f") is False
    assert to_bool("true") is True and to_bool("false") is False  # ::text cast in the snapshot
    assert converter_for(20)("9223372036854775807") == 9223372036854775807
    assert converter_for(701)("1.5") == 1.5
    assert converter_for(1700)("99.90") == "99.90"  # decimal.handling.mode=string keeps scale
    assert converter_for(3802)('{"a": 1}') == '{"a": 1}'  # io.debezium.data.Json is a string
    assert converter_for(2950) is as_text
    assert to_base64("\\x00ff10") == base64.b64encode(b"\x00\xff\x10").decode()


def test_unmapped_type_has_no_converter():
    assert converter_for(600) is None  # point


def _schema(converters):
    names = tuple(f"c{i}" for i in range(len(converters)))
    return TableSchema(1, "sales", "t", names, (0,) * len(names), tuple(converters), ("c0",), "f")


def test_unparseable_value_falls_back_to_text_and_counts_a_warning():
    schema = _schema([int, to_days])
    counter = metrics.TYPE_FALLBACKS.labels("sales.t", "c1")
    before = counter._value.get()
    assert schema.convert(["1", "infinity"]) == {"c0": 1, "c1": "infinity"}
    assert counter._value.get() == before + 1
    assert schema.convert(["2", None]) == {"c0": 2, "c1": None}
    assert schema.key_of({"c0": 2, "c1": None}) == {"c0": 2}
