"""The envelope has the shape of real Debezium output (the conformance samples, schemas disabled)."""

import json
from pathlib import Path

import orjson
import pytest

from lakepulse_cdc_emitter.envelope import (
    JsonCodec,
    SourceFactory,
    change_event,
    sequence,
    transaction_begin,
    transaction_end,
)

pytestmark = pytest.mark.unit

SAMPLES = Path("/work/shared/conformance/debezium")


def _sample(name):
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"conformance sample {name} not available")
    return json.loads(path.read_text())


def _event(op="c", snapshot="false"):
    source = SourceFactory("lakepulse", "wwi").source(
        schema="sales",
        table="orders",
        ts_us=1_790_710_562_903_499,
        snapshot=snapshot,
        tx_id=65249,
        lsn=314477488,
        sequence=sequence(306218576, 314477488),
    )
    transaction = {"id": "65249:314477536", "total_order": 1, "data_collection_order": 1}
    return change_event(None, {"id": 1}, source, op, transaction, 1_790_710_563_391_393)


def test_change_event_has_the_fields_of_debezium_2_7():
    sample = _sample("create.plain.json")
    event = orjson.loads(JsonCodec().encode_value(_event()))
    assert list(event) == list(sample)
    assert list(event["source"]) == list(sample["source"])
    assert event["source"]["connector"] == "postgresql" and event["source"]["xmin"] is None
    assert event["ts_ms"] == 1_790_710_563_391 and event["source"]["ts_ms"] == 1_790_710_562_903


def test_sequence_is_a_json_array_of_lsn_strings_encoded_as_a_string():
    sample = _sample("create.plain.json")["source"]["sequence"]
    ours = _event()["source"]["sequence"]
    assert isinstance(ours, str) and json.loads(ours) == ["306218576", "314477488"]
    assert all(isinstance(x, str) for x in json.loads(sample))
    assert json.loads(sequence(None, 5)) == [None, "5"]


def test_transaction_block_matches_the_enriched_sample():
    sample = _sample("transaction-enriched.plain.json")["transaction"]
    assert set(_event()["transaction"]) == set(sample)


def test_transaction_begin_and_end_match_the_samples():
    begin, end = _sample("transaction-begin.json"), _sample("transaction-end.json")
    ours_begin = transaction_begin("35352:3962948040", 1704269323180)
    ours_end = transaction_end("35352:3962948040", {"public.orders_tx": 5, "public.person": 6}, 1704269323180)
    assert list(ours_begin) == list(begin) and ours_begin["event_count"] is None
    assert list(ours_end) == list(end)
    assert ours_end["event_count"] == end["event_count"] == 11
    assert ours_end["data_collections"] == end["data_collections"]


def test_snapshot_read_event_shape():
    sample = _sample("read-snapshot-first.plain.json")
    event = _event(op="r", snapshot="first")
    assert set(sample) <= set(event)
    assert set(sample["source"]) <= set(event["source"])


def test_key_is_a_schemaless_json_object():
    assert JsonCodec().encode_key({"id": 1001}) == _sample_key()


def _sample_key():
    path = SAMPLES / "tombstone.key.json"
    if not path.exists():
        pytest.skip("tombstone.key.json not available")
    return orjson.dumps(json.loads(path.read_text()))
