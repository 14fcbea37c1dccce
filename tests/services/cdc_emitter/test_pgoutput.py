"""The pgoutput parser on hand-built protocol messages: every message kind, TOAST markers, bad input."""

import pytest

from lakepulse_cdc_emitter.errors import PgOutputDecodeError
from lakepulse_cdc_emitter.pgoutput import (
    UNCHANGED,
    Begin,
    Column,
    Commit,
    Delete,
    Insert,
    LogicalMessage,
    Origin,
    Relation,
    Truncate,
    TypeInfo,
    Update,
    format_lsn,
    parse,
    parse_lsn,
)

from . import pgoutput_bytes as wire

pytestmark = pytest.mark.unit

COMMIT_US = 1_790_710_562_903_499


def test_begin_and_commit_carry_lsns_xid_and_unix_time():
    assert parse(wire.begin(314477488, COMMIT_US, 65249)) == Begin(314477488, COMMIT_US, 65249)
    assert parse(wire.commit(314477488, 314477536, COMMIT_US)) == Commit(0, 314477488, 314477536, COMMIT_US)


def test_relation_lists_columns_with_types_and_identity_flags():
    msg = parse(wire.relation(16384, "sales", "orders", [("order_id", 23, True), ("note", 25, False)]))
    assert msg == Relation(
        16384,
        "sales",
        "orders",
        "f",
        (Column("order_id", 23, -1, True), Column("note", 25, -1, False)),
    )
    assert msg.qualified_name == "sales.orders"


def test_insert_decodes_text_null_and_utf8():
    msg = parse(wire.insert(7, ["1", None, "Zürich ☃", ""]))
    assert msg == Insert(7, ["1", None, "Zürich ☃", ""])


def test_update_with_full_old_tuple_and_unchanged_toast():
    msg = parse(wire.update(7, new=["1", "<unchanged>"], old=["1", "big"]))
    assert isinstance(msg, Update)
    assert msg.old == ["1", "big"] and not msg.old_is_key_only
    assert msg.new[0] == "1" and msg.new[1] is UNCHANGED


def test_update_without_old_tuple_and_with_key_only_old_tuple():
    assert parse(wire.update(7, new=["2", "x"])) == Update(7, None, False, ["2", "x"])
    keyed = parse(wire.update(7, new=["2", "x"], old=["1", None], old_kind=b"K"))
    assert isinstance(keyed, Update) and keyed.old_is_key_only and keyed.old == ["1", None]


def test_delete_full_and_key_only():
    assert parse(wire.delete(7, ["1", "a"])) == Delete(7, ["1", "a"], False)
    assert parse(wire.delete(7, ["1", None], b"K")) == Delete(7, ["1", None], True)


def test_truncate_type_origin_and_message():
    assert parse(wire.truncate([10, 11], options=3)) == Truncate((10, 11), True, True)
    assert parse(wire.type_message(90000, "public", "mood")) == TypeInfo(90000, "public", "mood")
    assert parse(wire.origin(123, "upstream")) == Origin(123, "upstream")
    assert parse(wire.message(55, "lakepulse", b"hi")) == LogicalMessage(False, 55, "lakepulse", b"hi")


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"", "empty"),
        (b"Z\x00\x00", "unknown pgoutput message type"),
        (wire.insert(7, ["1"])[:-1], "past the end"),
        (wire.begin(1, COMMIT_US, 5)[:-2], "malformed"),
        (b"I\x00\x00\x00\x07X" + wire.tuple_data(["1"]), "insert without a new tuple"),
        (b"I\x00\x00\x00\x07N\x00\x01b\x00\x00\x00\x01x", "unsupported tuple column kind"),
        (b"D\x00\x00\x00\x07N" + wire.tuple_data(["1"]), "delete without an old tuple"),
    ],
)
def test_bad_input_raises_decode_error(payload, fragment):
    with pytest.raises(PgOutputDecodeError, match=fragment):
        parse(payload)


def test_lsn_text_round_trip():
    assert format_lsn(0x1_2345_6789) == "1/23456789"
    assert parse_lsn("1/23456789") == 0x1_2345_6789
    assert parse_lsn(format_lsn(314477488)) == 314477488
