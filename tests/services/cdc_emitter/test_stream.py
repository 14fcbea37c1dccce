"""The message → event logic on hand-built pgoutput messages, with a recording producer (no Kafka).

The thing under test is the emitter's translation (TOAST fill, tombstones, truncate fan-out,
transaction records, schema diffs, decode errors); Kafka itself is covered by the integration tests.
"""

from __future__ import annotations

import orjson
import pytest
from opentelemetry import trace

from lakepulse_cdc_emitter.config import CustomerRouting
from lakepulse_cdc_emitter.delivery import EventSink
from lakepulse_cdc_emitter.envelope import UNAVAILABLE_VALUE, JsonCodec, SourceFactory
from lakepulse_cdc_emitter.errors import PgOutputDecodeError
from lakepulse_cdc_emitter.events import EventWriter
from lakepulse_cdc_emitter.partitioning import OrderCustomerCache
from lakepulse_cdc_emitter.relations import RelationRegistry
from lakepulse_cdc_emitter.stream import ChangeStream
from lakepulse_common.topics import TopicNames

from . import pgoutput_bytes as wire

pytestmark = pytest.mark.unit

COLUMNS = [("id", 23, True), ("title", 25, False), ("body", 25, False)]
T0 = 1_790_710_562_903_499


class FakeCatalog:
    def primary_key(self, relid):
        return ["id"]

    def type_info(self, oid):
        return None


class RecordingProducer:
    def __init__(self):
        self.records = []

    def produce(self, topic, value, key, partition, on_delivery, headers):
        self.records.append(
            (topic, partition, key and orjson.loads(key), value and orjson.loads(value), on_delivery)
        )

    def poll(self, timeout):
        return 0


@pytest.fixture
def harness():
    producer = RecordingProducer()
    sink = EventSink(producer)
    writer = EventWriter(
        sink,
        JsonCodec(),
        TopicNames("lp"),
        SourceFactory("lp", "wwi"),
        OrderCustomerCache(10, lambda _: None),
        ensure_topic=lambda topic: 3,
    )
    diffs = []
    stream = ChangeStream(
        writer,
        RelationRegistry(FakeCatalog(), CustomerRouting(enabled=False)),
        trace.get_tracer("test"),
        on_schema_change=lambda diff, lsn: diffs.append((diff, lsn)),
    )
    return stream, producer, sink, diffs


def _feed(stream, *messages, lsn=1000):
    for i, message in enumerate(messages):
        stream.handle(message, lsn + i)


def test_toast_fill_placeholder_tombstone_and_transaction_records(harness):
    stream, producer, sink, _ = harness
    _feed(
        stream,
        wire.begin(5000, T0, 42),
        wire.relation(1, "sales", "docs", COLUMNS),
        wire.insert(1, ["1", "a", "big"]),
        wire.update(1, new=["1", "b", "<unchanged>"], old=["1", "a", "big"]),  # FULL identity
        wire.update(1, new=["1", "c", "<unchanged>"]),  # no old tuple
        wire.delete(1, ["1", "c", "big"]),
        wire.commit(5000, 5008, T0),
    )
    records = [(t, k, v) for t, _, k, v, _ in producer.records]
    data = [r for r in records if r[0] == "lp.cdc.docs"]
    assert [v and v["op"] for _, _, v in data] == ["c", "u", "u", "d", None]
    assert data[1][2]["after"]["body"] == "big" and data[1][2]["before"]["body"] == "big"
    assert data[2][2]["after"]["body"] == UNAVAILABLE_VALUE and data[2][2]["before"] is None
    assert data[4][1] == {"id": 1} and data[4][2] is None  # tombstone after the delete
    source = data[0][2]["source"]
    assert (source["txId"], source["lsn"], source["sequence"]) == (42, 1002, '["5000","1002"]')
    assert data[3][2]["transaction"] == {"id": "42:5000", "total_order": 4, "data_collection_order": 4}
    tx = [v for t, _, v in records if t == "lp.cdc.transaction"]
    assert [v["status"] for v in tx] == ["BEGIN", "END"]
    assert tx[1]["event_count"] == 4 and tx[1]["data_collections"] == [
        {"data_collection": "sales.docs", "event_count": 4}
    ]
    for *_, ack in producer.records:
        ack(None, None)
    assert sink.acknowledged_lsn() == 5008  # the commit's end LSN


def test_truncate_goes_to_every_partition_and_counts_once(harness):
    stream, producer, _, _ = harness
    _feed(
        stream,
        wire.begin(6000, T0, 43),
        wire.relation(1, "sales", "docs", COLUMNS),
        wire.truncate([1]),
        wire.commit(6000, 6008, T0),
    )
    truncates = [(p, k) for t, p, k, v, _ in producer.records if v and v.get("op") == "t"]
    assert truncates == [(0, None), (1, None), (2, None)]
    end = [v for t, _, _, v, _ in producer.records if t == "lp.cdc.transaction"][-1]
    assert end["event_count"] == 1


def test_transaction_without_captured_changes_emits_nothing_but_is_confirmable(harness):
    stream, producer, sink, _ = harness
    _feed(stream, wire.begin(7000, T0, 44), wire.commit(7000, 7008, T0))
    assert producer.records == []
    assert sink.acknowledged_lsn() == 7008


def test_new_column_is_reported_once(harness):
    stream, _, _, diffs = harness
    _feed(
        stream,
        wire.begin(8000, T0, 45),
        wire.relation(1, "sales", "docs", COLUMNS),
        wire.relation(1, "sales", "docs", COLUMNS),
        wire.relation(1, "sales", "docs", [*COLUMNS, ("extra", 23, False)]),
        wire.insert(1, ["1", "a", "b", "7"]),
        wire.commit(8000, 8008, T0),
    )
    assert len(diffs) == 1 and diffs[0][0].added == ["extra"] and diffs[0][1] == 8000


@pytest.mark.parametrize(
    "messages",
    [
        [wire.begin(1, T0, 1), wire.insert(99, ["1"])],  # change before its Relation
        [wire.begin(1, T0, 1), wire.begin(2, T0, 2)],  # nested BEGIN
        [wire.relation(1, "sales", "docs", COLUMNS), wire.insert(1, ["1", "a", "b"])],  # change outside a tx
        [
            wire.begin(1, T0, 1),
            wire.relation(1, "sales", "docs", COLUMNS),
            wire.insert(1, ["1", "a"]),
        ],  # width
    ],
)
def test_inconsistent_streams_stop_with_a_decode_error(harness, messages):
    stream, _, sink, _ = harness
    with pytest.raises(PgOutputDecodeError):
        _feed(stream, *messages)
    assert sink.acknowledged_lsn() is None
