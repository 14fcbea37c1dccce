"""The streaming path end to end on real Kafka, Spark and Delta: quarantine, duplicates, control events."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest
from confluent_kafka import Producer
from pyspark.sql import SparkSession

from lakepulse_bronze_writer.config import BronzeWriterSettings
from lakepulse_bronze_writer.envelope import (
    AUDIT_TABLE,
    HEARTBEATS_TABLE,
    QUARANTINE_TABLE,
    TRANSACTIONS_TABLE,
)
from lakepulse_common.topics import TopicNames
from tests.services.bronze_writer.bronze_helpers import (
    ControlReader,
    Record,
    bronze,
    make_stream,
    produce,
    writer_settings,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRACEPARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def change(
    row_id: int, lsn: int, op: str = "c", table: str = "orders", **overrides: object
) -> dict[str, object]:
    envelope: dict[str, object] = {
        "before": None,
        "after": {"id": row_id, "status": "new"},
        "source": {
            "connector": "postgresql",
            "db": "wwi",
            "schema": "public",
            "table": table,
            "txId": 500 + row_id,
            "lsn": lsn,
            "ts_ms": 1_700_000_000_000 + lsn,
            "snapshot": "false",
        },
        "transaction": None,
        "op": op,
        "ts_ms": 1_700_000_000_500 + lsn,
    }
    if op == "d":
        envelope["before"], envelope["after"] = envelope["after"], None
    return envelope | overrides


def record(
    topics: TopicNames, envelope: dict[str, object] | bytes | None, key: object, **kw: object
) -> Record:
    value = envelope if isinstance(envelope, bytes) or envelope is None else orjson.dumps(envelope)
    raw_key = None if key is None else key if isinstance(key, bytes) else orjson.dumps(key)
    return Record(kw.pop("topic", topics.cdc("orders")), value, raw_key, **kw)  # type: ignore[arg-type]


def test_malformed_messages_are_quarantined_and_valid_neighbours_kept(
    spark: SparkSession, bronze_settings: BronzeWriterSettings, producer: Producer
) -> None:
    topics = TopicNames.from_settings(bronze_settings.kafka)
    cases: list[tuple[Record, str, str | None]] = [  # record, table expected, quarantine reason
        (record(topics, change(1, 10), {"id": 1}, headers=[("traceparent", TRACEPARENT)]), "orders", None),
        (record(topics, b"{not json", {"id": 2}), QUARANTINE_TABLE, "not_json"),
        (record(topics, change(3, 30), {"id": 3}), "orders", None),
        (
            record(topics, {k: v for k, v in change(4, 40).items() if k != "op"}, {"id": 4}),
            QUARANTINE_TABLE,
            "missing_op",
        ),
        (record(topics, change(5, 50, op="x"), {"id": 5}), QUARANTINE_TABLE, "unknown_op"),
        (record(topics, change(6, 60), {"id": 999}), QUARANTINE_TABLE, "key_payload_mismatch"),
        (record(topics, change(7, 70, after=None), {"id": 7}), QUARANTINE_TABLE, "missing_after"),
        (record(topics, change(8, 80, source=None), {"id": 8}), QUARANTINE_TABLE, "missing_source"),
        (
            record(topics, change(9, 90, source={"lsn": "not-a-number"}), {"id": 9}),
            QUARANTINE_TABLE,
            "envelope_schema_mismatch",
        ),
        (
            record(topics, b'{"schema": {}, "payload": "{oops"}', {"id": 10}),
            QUARANTINE_TABLE,
            "payload_not_json",
        ),
        (record(topics, change(11, 110, op="d"), {"id": 11}), "orders", None),
        (record(topics, None, {"id": 11}), "orders", None),  # tombstone: recognised, not quarantined
        (record(topics, {"ts_ms": 1_700_000_000_000}, {"serverName": "x"}), HEARTBEATS_TABLE, None),
        (
            record(topics, b'{"status": "MAYBE"}', None, topic=topics.transaction),
            QUARANTINE_TABLE,
            "invalid_transaction_event",
        ),
        (
            record(topics, b'{"status": "BEGIN", "id": "571:1", "ts_ms": 1}', None, topic=topics.transaction),
            TRANSACTIONS_TABLE,
            None,
        ),
        (record(topics, b"[1, 2, 3]", None), QUARANTINE_TABLE, "not_json"),
        (record(topics, change(12, 120), b"plain-key"), QUARANTINE_TABLE, "key_not_json"),
        (record(topics, change(13, 130), {"schema": None, "payload": {"id": 13}}), "orders", None),
    ]
    positions = produce(bronze_settings, producer, [r for r, _, _ in cases])
    stream = make_stream(spark, bronze_settings, producer)
    stream.drain(timeout_s=480)

    quarantine = {
        (r["_topic"], r["_offset"]): r for r in bronze(spark, bronze_settings, QUARANTINE_TABLE).collect()
    }
    landed = {
        table: Counter((r["_topic"], r["_offset"]) for r in bronze(spark, bronze_settings, table).collect())
        for table in ("orders", HEARTBEATS_TABLE, TRANSACTIONS_TABLE)
    }
    for (rec, table, reason), pos in zip(cases, positions, strict=True):
        if reason is not None:
            row = quarantine.pop((pos.topic, pos.offset))
            assert row["_reason"] == reason, (rec, row["_reason"])
            assert row["_raw_value"] == rec.value and row["_partition"] == pos.partition
        else:
            assert landed[table][(pos.topic, pos.offset)] == 1, rec
    assert not quarantine, "quarantine holds rows that were not sent"
    orders = {r["_offset"]: r for r in bronze(spark, bronze_settings, "orders").collect()}
    assert orders[positions[0].offset]["_traceparent"] == TRACEPARENT.decode()
    assert orders[positions[11].offset]["op"] == "tombstone"
    assert orjson.loads(orders[positions[0].offset]["after"]) == {"id": 1, "status": "new"}
    expected_quarantined = sum(1 for _, _, reason in cases if reason)
    reasons = stream.metrics.registry.get_sample_value(
        "lakepulse_bronze_quarantined_total", {"reason": "not_json"}
    )
    assert reasons == 2
    audit = bronze(spark, bronze_settings, AUDIT_TABLE).collect()
    assert sum(r["quarantined"] for r in audit) == expected_quarantined
    assert sum(r["input_rows"] for r in audit) == len(cases)


@pytest.mark.timeout(1200)
def test_control_events_cover_every_version_in_order_and_duplicates_are_flagged(
    spark: SparkSession, lake_settings: BronzeWriterSettings, producer: Producer, tmp_path
) -> None:
    settings = writer_settings(
        lake_settings, tmp_path / "ck", max_offsets_per_trigger=4, compact_every_commits=3
    )
    topics = TopicNames.from_settings(settings.kafka)
    first = [record(topics, change(i, 100 + i), {"id": i}) for i in range(10)]
    first.append(record(topics, change(3, 103), {"id": 3}))  # same key + LSN again: a duplicate
    produce(settings, producer, first)
    control = ControlReader(settings)
    try:
        make_stream(spark, settings, producer).drain(timeout_s=480)
        replay = [record(topics, change(5, 105), {"id": 5}), record(topics, change(20, 200), {"id": 20})]
        produce(settings, producer, replay)
        make_stream(spark, settings, producer).drain(timeout_s=480)

        history = bronze(spark, settings, "orders")
        assert history.count() == 13
        flagged = {(r["_key"], r["source_lsn"]) for r in history.where("_is_duplicate").collect()}
        assert flagged == {('{"id":3}', 103), ('{"id":5}', 105)}

        from delta.tables import DeltaTable

        from lakepulse_common.storage import table_uri

        for table in ("orders", AUDIT_TABLE):
            latest = DeltaTable.forPath(spark, table_uri(settings.lake_root, "bronze", table)).history(1)
            newest = latest.collect()[0]["version"]
            versions = control.wait_for_versions(table, newest)
            assert versions == list(range(newest + 1)), f"{table}: {versions}"
        operations = {e.delta_version: e.details["operation"] for e in control.events if e.table == "orders"}
        assert "OPTIMIZE" in operations.values()  # compaction commits are announced too, no gap
        written = sum(e.rows.written for e in control.events if e.table == "orders" and e.rows)
        assert written == 13
        offsets = [o for e in control.events if e.table == "orders" for o in e.kafka_offsets]
        assert sum(o.end - o.start for o in offsets) == 13
    finally:
        control.close()
