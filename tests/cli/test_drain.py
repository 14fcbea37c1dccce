"""The drain wait walks the stages in order against real Postgres, Kafka and Delta tables.

Each stage's progress marker is produced here by hand, the way the stage itself records it: the
slot advanced, a bronze commit event covering the Kafka offsets, silver's Delta transaction version,
gold's build-state row. The wait must not pass a stage before its marker is there.
"""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pyarrow as pa
import pyarrow.compute
import pytest
from confluent_kafka.admin import NewTopic
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from lakepulse_cli.drain import Drain, DrainState, latest_data_version, transaction_version
from lakepulse_cli.pipeline import ControlWatcher
from lakepulse_common.control_events import ControlEvent, EventKind, Layer, OffsetRange
from lakepulse_common.kafka import create_admin, create_producer, ensure_topics, platform_topics
from lakepulse_common.progress import (
    GOLD_BUILD_STATE_TABLE,
    SILVER_HELD_TABLE,
    TRANSACTION_INCOMPLETE_RULE,
    silver_app_id,
)
from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.storage import local_path, table_uri
from lakepulse_common.topics import TopicNames
from tests.support import random_name, wait_for

pytestmark = pytest.mark.integration


def _path(settings: LakePulseSettings, layer: str, table: str) -> str:
    return str(local_path(table_uri(settings.lake_root, layer, table)))


def test_latest_data_version_skips_file_rewrites_and_missing_tables(tmp_path: Path) -> None:
    rows = pa.table({"id": [1, 2]})
    write_deltalake(tmp_path, rows)
    write_deltalake(
        tmp_path,
        rows,
        mode="append",
        commit_properties=CommitProperties(app_transactions=[Transaction("lakepulse-silver:x", 7)]),
    )
    DeltaTable(tmp_path).optimize.compact()
    assert DeltaTable(tmp_path).version() == 2
    assert latest_data_version(tmp_path.as_uri()) == 1
    assert transaction_version(tmp_path.as_uri(), "lakepulse-silver:x") == 7
    assert transaction_version(tmp_path.as_uri(), "lakepulse-silver:y") == -1
    assert latest_data_version((tmp_path / "absent").as_uri()) is None
    assert transaction_version((tmp_path / "absent").as_uri(), "a") == -1


def test_describe_names_the_stage_and_what_it_waits_for() -> None:
    assert DrainState("done").describe() == "caught up with the source"
    state = DrainState("silver", [f"t{i} 0/1" for i in range(6)])
    assert state.describe() == "waiting for silver: t0 0/1, t1 0/1, t2 0/1, t3 0/1 …"


def test_each_stage_waits_for_its_own_marker(fresh_database: LakePulseSettings, tmp_path: Path) -> None:
    settings = fresh_database.model_copy(
        update={"lake": fresh_database.lake.model_copy(update={"root": (tmp_path / "lake").as_uri()})},
        deep=True,
    )
    topics = TopicNames.from_settings(settings.kafka)
    admin = create_admin(settings.kafka)
    ensure_topics(admin, platform_topics(settings.kafka))
    for future in admin.create_topics([NewTopic(topics.cdc("orders"), 1, 1)]).values():
        future.result()
    producer = create_producer(settings.kafka, "test-drain")

    def publish(event: ControlEvent) -> None:
        producer.produce(topics.control, key=event.key, value=event.to_bytes())
        assert producer.flush(10) == 0

    slot = random_name("slot_")
    conn = psycopg2.connect(settings.postgres.dsn())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
        cur.execute("CREATE TABLE moved (id int); INSERT INTO moved VALUES (1)")  # WAL past the slot
    for value in (b"a", b"b", b"c"):
        producer.produce(topics.cdc("orders"), value=value)
    assert producer.flush(10) == 0

    watcher = ControlWatcher(settings)
    watcher.start()
    try:
        drain = Drain(settings, watcher)
        drain.start()
        assert drain.poll().waiting_for == ["a heartbeat from cdc-emitter"]

        publish(ControlEvent(kind=EventKind.HEARTBEAT, service="cdc-emitter", details={"slot": slot}))
        wait_for(lambda: drain.poll().waiting_for[0].startswith("slot "), 30, "the slot to be checked")
        with conn.cursor() as cur:
            cur.execute("SELECT pg_replication_slot_advance(%s, pg_current_wal_lsn())", (slot,))
        assert drain.poll() == DrainState("bronze", [f"{topics.cdc('orders')}[0] 0/3"])

        def bronze_commit(end: int) -> ControlEvent:
            offsets = OffsetRange(topic=topics.cdc("orders"), partition=0, start=0, end=end)
            return ControlEvent(
                kind=EventKind.COMMIT,
                service="bronze-writer",
                layer=Layer.BRONZE,
                table="orders",
                delta_version=end,
                kafka_offsets=[offsets],
            )

        publish(bronze_commit(2))
        wait_for(lambda: drain.poll().waiting_for == [f"{topics.cdc('orders')}[0] 2/3"], 30, "2 of 3")
        write_deltalake(_path(settings, "bronze", "orders"), pa.table({"id": [1]}))
        write_deltalake(_path(settings, "bronze", "orders"), pa.table({"id": [2]}), mode="append")
        write_deltalake(_path(settings, "bronze", "customers"), pa.table({"id": [1]}))
        publish(
            ControlEvent(
                kind=EventKind.TABLE_STATUS,
                service="silver-processor",
                layer=Layer.SILVER,
                table="customers",
                details={"status": "paused"},
            )
        )
        publish(bronze_commit(3))
        expected = DrainState("silver", ["orders -1/1"], paused=["customers"])
        wait_for(lambda: drain.poll() == expected, 30, "bronze caught up, silver checked but customers")

        silver = _path(settings, "silver", "orders")
        applied = CommitProperties(app_transactions=[Transaction(silver_app_id("orders"), 1)])
        write_deltalake(silver, pa.table({"id": [1, 2]}), commit_properties=applied)
        # Transaction alignment: a change held until its source transaction is complete is not in silver.
        held = _path(settings, "silver", SILVER_HELD_TABLE)
        rules = pa.table(
            {
                "table": ["orders", "orders", "customers"],
                "rule": [TRANSACTION_INCOMPLETE_RULE, "order_customer_exists", TRANSACTION_INCOMPLETE_RULE],
            }
        )
        write_deltalake(held, rules)
        expected = DrainState(
            "silver", ["orders: 1 changes of incomplete transactions held"], paused=["customers"]
        )
        assert drain.poll() == expected
        write_deltalake(
            held, rules.filter(pa.compute.field("rule") != TRANSACTION_INCOMPLETE_RULE), mode="overwrite"
        )
        assert drain.poll() == DrainState("gold", ["the first gold build"], paused=["customers"])

        state = pa.table({"silver_table": ["orders"], "silver_version": pa.array([0], pa.int64())})
        write_deltalake(_path(settings, "gold", GOLD_BUILD_STATE_TABLE), state)
        assert drain.poll() == DrainState("done", paused=["customers"])
    finally:
        watcher.stop()
        conn.close()
