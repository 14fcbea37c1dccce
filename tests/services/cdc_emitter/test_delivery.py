"""The slot may only advance over batches whose every event Kafka acknowledged, in commit order.

The producer here is a stand-in that records produce calls and fires delivery callbacks on demand:
the thing under test is the sink's bookkeeping, not Kafka (the integration tests use the real one).
"""

import pytest

from lakepulse_cdc_emitter.delivery import EventSink
from lakepulse_cdc_emitter.errors import DeliveryError

pytestmark = pytest.mark.unit


class _Msg:
    def topic(self):
        return "t"

    def partition(self):
        return 0


class RecordingProducer:
    def __init__(self):
        self.callbacks = []

    def produce(self, topic, value, key, partition, on_delivery, headers):
        self.callbacks.append(on_delivery)

    def poll(self, timeout):
        return 0

    def flush(self, timeout):
        return 0

    def deliver(self, index, err=None):
        self.callbacks[index](err, _Msg())


def _one_event_batch(sink: EventSink, lsn: int, *, close: bool = True) -> None:
    batch = sink.open_batch(lsn, 0)
    sink.produce(batch, "t", b"k", b"v", -1, None)
    if close:
        sink.close_batch(batch)


def test_lsn_advances_only_over_fully_acknowledged_batches_in_order():
    producer = RecordingProducer()
    sink = EventSink(producer)
    first, second = sink.open_batch(100, 0), sink.open_batch(200, 0)
    sink.produce(first, "t", b"k", b"v", -1, None)
    sink.produce(second, "t", b"k", b"v", -1, None)
    sink.close_batch(first)
    sink.close_batch(second)
    producer.deliver(1)
    assert sink.acknowledged_lsn() is None  # the later batch is done, the earlier is not
    producer.deliver(0)
    assert sink.acknowledged_lsn() == 200
    assert sink.idle
    assert sink.acknowledged_lsn() == 200, "a second look returns the same LSN"


def test_flush_does_not_consume_the_acknowledged_lsn():
    """The shutdown path flushes, then sends its final feedback from ``acknowledged_lsn``."""
    producer = RecordingProducer()
    sink = EventSink(producer)
    _one_event_batch(sink, 300)
    producer.deliver(0)
    assert sink.flush(1.0) == 300
    assert sink.acknowledged_lsn() == 300


def test_an_open_batch_is_never_confirmed():
    producer = RecordingProducer()
    sink = EventSink(producer)
    _one_event_batch(sink, 100, close=False)
    producer.deliver(0)
    assert sink.acknowledged_lsn() is None and not sink.idle


def test_a_failed_delivery_stops_confirmation():
    producer = RecordingProducer()
    sink = EventSink(producer)
    _one_event_batch(sink, 100)
    producer.deliver(0, err="broker down")
    with pytest.raises(DeliveryError, match="broker down"):
        sink.acknowledged_lsn()
