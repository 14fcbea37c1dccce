import orjson
import pytest

from lakepulse_common.control_events import (
    SCHEMA_VERSION,
    Command,
    CommandAction,
    ControlEvent,
    EventKind,
    Layer,
    LsnRange,
    OffsetRange,
    RowCounts,
    TraceContext,
)
from lakepulse_common.errors import ControlEventError

pytestmark = pytest.mark.unit


def _commit() -> ControlEvent:
    return ControlEvent(
        kind=EventKind.COMMIT,
        service="bronze-writer",
        layer=Layer.BRONZE,
        table="orders",
        delta_version=7,
        rows=RowCounts(input=10, written=9, quarantined=1),
        source_lsn=LsnRange(min=100, max=200),
        kafka_offsets=[OffsetRange(topic="lakepulse.cdc.orders", partition=0, start=5, end=15)],
        trace=TraceContext(traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01"),
    )


def test_commit_event_round_trips_through_bytes():
    event = _commit()
    decoded = ControlEvent.from_bytes(event.to_bytes())
    assert decoded == event
    assert decoded.dedupe_key == ("bronze", "orders", 7)
    assert event.key == b"bronze.orders"


def test_unknown_fields_from_newer_producers_are_ignored():
    payload = orjson.loads(_commit().to_bytes()) | {"a_future_field": 1}
    assert ControlEvent.from_bytes(orjson.dumps(payload)).delta_version == 7


def test_newer_schema_version_is_refused():
    payload = orjson.loads(_commit().to_bytes()) | {"schema_version": SCHEMA_VERSION + 1}
    with pytest.raises(ControlEventError, match="schema_version"):
        ControlEvent.from_bytes(orjson.dumps(payload))


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"kind": "nope", "service": "x"}'])
def test_malformed_messages_raise_a_clear_error(raw):
    with pytest.raises(ControlEventError):
        ControlEvent.from_bytes(raw)


def test_command_round_trip_and_key():
    command = Command(
        job_id="j1", target_service="bronze-writer", action=CommandAction.REPLAY, params={"a": 1}
    )
    assert Command.from_bytes(command.to_bytes()) == command
    assert command.key == b"bronze-writer"
