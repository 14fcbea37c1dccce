"""Replay, optimize and vacuum commands on real Kafka, Spark and Delta, through the commands topic.

A replay over intact bronze writes nothing; after rows were lost it restores exactly those rows (each
Kafka position once) and announces the commit; a re-delivered command is a no-op; offsets the stream
has not reached are left to the stream. Every job answers ``running`` then a final state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lakepulse_bronze_writer.commands import BronzeCommands
from lakepulse_bronze_writer.config import BronzeWriterSettings
from lakepulse_bronze_writer.delta_io import latest_version
from lakepulse_bronze_writer.envelope import QUARANTINE_TABLE
from lakepulse_bronze_writer.replay import (
    ReplayRequest,
    clip_to_stream,
    replay_app_id,
    split_ranges,
    stream_positions,
)
from lakepulse_bronze_writer.stream import BronzeStream
from lakepulse_common.commands import CommandListener, CommandRejectedError, JobReporter
from lakepulse_common.control_events import Command, CommandAction, ControlEvent, EventKind
from lakepulse_common.kafka import create_admin, create_consumer, ensure_topics, platform_topics
from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.storage import table_uri
from lakepulse_common.topics import TopicNames
from tests.services.bronze_writer.bronze_helpers import (
    ControlReader,
    bronze,
    bronze_positions,
    make_stream,
    produce,
)
from tests.services.bronze_writer.test_stream import change, record
from tests.support import random_name, wait_for

SERVICE = "bronze-writer"


class ControlTopic:
    """Every event on the control topic, from the beginning (a fresh group)."""

    def __init__(self, settings: LakePulseSettings) -> None:
        self.consumer = create_consumer(settings.kafka, "replay-tests", random_name("g"))
        self.consumer.subscribe([TopicNames.from_settings(settings.kafka).control])
        self.events: list[ControlEvent] = []

    def poll(self) -> list[ControlEvent]:
        for message in self.consumer.consume(500, timeout=0.5):
            if message.error() is None and message.value():
                self.events.append(ControlEvent.from_bytes(message.value()))
        return self.events

    def job(self, job_id: str) -> list[ControlEvent]:
        return [
            e for e in self.events if e.kind is EventKind.JOB_PROGRESS and e.details.get("job_id") == job_id
        ]

    def final_state(self, job_id: str, timeout_s: float = 60.0) -> ControlEvent:
        def final() -> ControlEvent | None:
            self.poll()
            done = [e for e in self.job(job_id) if e.details["state"] != "running"]
            return done[-1] if done else None

        event = wait_for(final, timeout_s, f"a final job_progress event of job {job_id}")
        states = [e.details["state"] for e in self.job(job_id)]
        # "running" first, except for a job cancelled before it started (only "cancelled").
        assert states[0] == "running" or states == ["cancelled"], states
        assert states.count(event.details["state"]) == 1, states
        assert {e.service for e in self.job(job_id)} == {SERVICE}
        return event


class Harness:
    """The bronze writer's command path as ``main.run`` wires it, on a drained stream."""

    def __init__(self, spark: SparkSession, settings: BronzeWriterSettings, producer: Producer) -> None:
        ensure_topics(create_admin(settings.kafka), platform_topics(settings.kafka))
        self.topics = TopicNames.from_settings(settings.kafka)
        self.producer = producer
        self.listener = CommandListener(settings, SERVICE, group_id=random_name("cmd"))
        self.listener.start()
        self.spark, self.settings = spark, settings

    def commands_for(self, stream: BronzeStream) -> BronzeCommands:
        reporter = JobReporter(self.producer, self.topics, SERVICE)
        return BronzeCommands(
            self.spark, self.settings, stream.announcer, stream.writer.lock, reporter, self.listener
        )

    def send(self, command: Command) -> None:
        self.producer.produce(self.topics.commands, key=command.key, value=command.to_bytes())
        assert self.producer.flush(10) == 0

    def run(self, commands: BronzeCommands, command: Command) -> None:
        """Deliver a command through Kafka and run it as the service's main loop would."""
        self.send(command)
        wait_for(lambda: commands.run_pending() > 0, 60, f"command {command.action} to be taken")


@pytest.fixture
def harness(
    spark: SparkSession, bronze_settings: BronzeWriterSettings, producer: Producer
) -> Iterator[Harness]:
    made = Harness(spark, bronze_settings, producer)
    yield made
    made.listener.stop()


def _replay(job_id: str, topic: str, start: int, end: int) -> Command:
    params = {"topic": topic, "partitions": [0], "start_offset": start, "end_offset": end}
    return Command(job_id=job_id, target_service=SERVICE, action=CommandAction.REPLAY, params=params)


def _positions(spark: SparkSession, settings: BronzeWriterSettings) -> Counter[tuple[str, int, int]]:
    found = bronze_positions(spark, settings, ["orders", QUARANTINE_TABLE])
    return Counter((p.topic, p.partition, p.offset) for p in found)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_replay_restores_only_lost_rows_and_is_idempotent(
    spark: SparkSession, bronze_settings: BronzeWriterSettings, producer: Producer, harness: Harness
) -> None:
    topics, settings = harness.topics, bronze_settings
    settings.bronze.replay_chunk_records = 3  # 7 records: three steps, each read and appended alone
    topic = topics.cdc("orders")
    records = [record(topics, change(i, 100 + i), {"id": i}) for i in range(6)]
    records.append(record(topics, b"{not json", {"id": 99}))  # lands in _quarantine
    sent = produce(settings, producer, records)
    stream = make_stream(spark, settings, producer)
    stream.drain(timeout_s=480)
    commands = harness.commands_for(stream)
    control = ControlTopic(settings)
    orders_uri = table_uri(settings.lake_root, "bronze", "orders")
    all_positions = Counter((p.topic, p.partition, p.offset) for p in sent)
    assert _positions(spark, settings) == all_positions

    # 1. Nothing lost: the replay reads the range and writes nothing.
    version = latest_version(spark, orders_uri)
    harness.run(commands, _replay("job-intact", topic, 0, len(sent)))
    done = control.final_state("job-intact")
    assert done.details["state"] == "succeeded", done.details
    assert "restored: nothing" in done.details["message"]
    assert latest_version(spark, orders_uri) == version
    assert _positions(spark, settings) == all_positions

    # 2. Rows lost (two data rows and the quarantined one): exactly those come back, and are announced.
    lost = [sent[2].offset, sent[3].offset]
    DeltaTable.forPath(spark, orders_uri).delete(f"_offset IN ({lost[0]}, {lost[1]})")
    quarantine_uri = table_uri(settings.lake_root, "bronze", QUARANTINE_TABLE)
    DeltaTable.forPath(spark, quarantine_uri).delete("true")
    announced = ControlReader(settings)
    try:
        harness.run(commands, _replay("job-restore", topic, 0, len(sent)))
        done = control.final_state("job-restore")
        assert done.details["state"] == "succeeded", done.details
        assert "orders=2" in done.details["message"] and f"{QUARANTINE_TABLE}=1" in done.details["message"]
        assert _positions(spark, settings) == all_positions  # every position exactly once
        restored = bronze(spark, settings, "orders").where(f"_offset IN ({lost[0]}, {lost[1]})").collect()
        assert sorted(r["source_lsn"] for r in restored) == [102, 103]
        assert all(r["_batch_id"] is None and not r["_is_duplicate"] for r in restored)
        newest = latest_version(spark, orders_uri)
        announced.wait_for_versions("orders", newest)
        # Offsets 2 and 3 fall in two different steps: two commits, one restored row each.
        replayed = [
            e
            for e in announced.events
            if e.table == "orders" and e.details.get("replay_job_id") == "job-restore"
        ]
        assert newest in {e.delta_version for e in replayed}
        assert sum(e.rows.written for e in replayed if e.rows) == 2 and len(replayed) == 2

        # 3. The same command delivered again: a no-op (nothing missing, and the txn id is spent).
        harness.run(commands, _replay("job-restore", topic, 0, len(sent)))
        wait_for(
            lambda: len([e for e in control.poll() if e.details.get("job_id") == "job-restore"]) >= 5,
            60,
            "the re-delivered job's progress",
        )
        assert control.job("job-restore")[-1].details["state"] == "succeeded"
        assert latest_version(spark, orders_uri) == newest
        assert _positions(spark, settings) == all_positions
    finally:
        announced.close()

    # 4. Offsets the stream has not reached yet are left to it: no duplicate once it catches up.
    later = produce(settings, producer, [record(topics, change(i, 100 + i), {"id": i}) for i in (6, 7)])
    harness.run(commands, _replay("job-ahead", topic, 0, later[-1].offset + 1))
    done = control.final_state("job-ahead")
    assert done.details["state"] == "succeeded" and "left to it" in done.details["message"]
    make_stream(spark, settings, producer).drain(timeout_s=480)
    assert _positions(spark, settings) == all_positions + Counter(
        (p.topic, p.partition, p.offset) for p in later
    )


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_maintenance_commands_and_failures_answer_their_final_state(
    spark: SparkSession, bronze_settings: BronzeWriterSettings, producer: Producer, harness: Harness
) -> None:
    topics, settings = harness.topics, bronze_settings
    # One record per micro-batch: three small files for OPTIMIZE to compact.
    settings.bronze = settings.bronze.model_copy(update={"max_offsets_per_trigger": 1})
    produce(settings, producer, [record(topics, change(i, 100 + i), {"id": i}) for i in range(3)])
    stream = make_stream(spark, settings, producer)
    stream.drain(timeout_s=480)
    commands = harness.commands_for(stream)
    control = ControlTopic(settings)
    orders_uri = table_uri(settings.lake_root, "bronze", "orders")
    rows_before = sorted(map(tuple, bronze(spark, settings, "orders").drop("_ingested_at").collect()))

    def command(job_id: str, action: CommandAction, **params: object) -> Command:
        return Command(job_id=job_id, target_service=SERVICE, action=action, params=params)

    harness.run(commands, command("opt", CommandAction.OPTIMIZE, layer="bronze", tables=["orders"]))
    assert control.final_state("opt").details["state"] == "succeeded"
    operations = [r["operation"] for r in DeltaTable.forPath(spark, orders_uri).history().collect()]
    assert operations[0] == "OPTIMIZE"
    harness.run(
        commands,
        command("vac", CommandAction.VACUUM, layer="bronze", tables=["orders"], retain_hours=168),
    )
    assert control.final_state("vac").details["state"] == "succeeded"
    assert sorted(map(tuple, bronze(spark, settings, "orders").drop("_ingested_at").collect())) == rows_before

    failures = {
        "no-table": command("no-table", CommandAction.OPTIMIZE, layer="bronze", tables=["nope"]),
        "short": command("short", CommandAction.VACUUM, layer="bronze", tables=["orders"], retain_hours=1),
        "not-cdc": Command(
            job_id="not-cdc",
            target_service=SERVICE,
            action=CommandAction.REPLAY,
            params={"topic": topics.control, "partitions": [0], "start_offset": 0, "end_offset": 1},
        ),
        "backfill": command("backfill", CommandAction.BACKFILL, start_date="2026-01-01"),
    }
    for failing in failures.values():
        harness.run(commands, failing)
    messages = {job: control.final_state(job).details for job in failures}
    assert {job: d["state"] for job, d in messages.items()} == dict.fromkeys(failures, "failed")
    assert "bronze.nope" in messages["no-table"]["message"]
    assert "below" in messages["short"]["message"]
    assert "not a CDC topic" in messages["not-cdc"]["message"]

    # A cancel that arrives before the job started: skipped and answered "cancelled".
    harness.send(command("late", CommandAction.OPTIMIZE, layer="bronze", tables=["orders"]))
    harness.send(
        Command(job_id="late", target_service=SERVICE, action=CommandAction.CANCEL, params={"job_id": "late"})
    )
    wait_for(lambda: harness.listener.is_cancelled("late"), 60, "the cancel to be read")
    wait_for(lambda: commands.run_pending() > 0, 60, "the cancelled command to be taken")
    assert control.final_state("late").details["state"] == "cancelled"


@pytest.mark.unit
def test_replay_parameters_are_validated() -> None:
    topics = TopicNames("p")
    request = ReplayRequest.from_params(
        {"topic": "p.cdc.orders", "partitions": [1, 0, 1], "start_timestamp_ms": 5, "end_timestamp_ms": 9},
        topics,
    )
    assert (request.table, request.partitions, request.start_offset) == ("orders", (0, 1), None)
    bad = [
        {"topic": "p.cdc.transaction", "partitions": [0], "start_offset": 0, "end_offset": 1},
        {"topic": "p.cdc.orders", "partitions": [], "start_offset": 0, "end_offset": 1},
        {"topic": "p.cdc.orders", "partitions": [0], "start_offset": 0},
        {"topic": "p.cdc.orders", "partitions": [0], "start_offset": -1, "end_offset": 1},
        {
            "topic": "p.cdc.orders",
            "partitions": [0],
            "start_offset": 0,
            "end_offset": 1,
            "start_timestamp_ms": 1,
            "end_timestamp_ms": 2,
        },
    ]
    for params in bad:
        with pytest.raises(CommandRejectedError):
            ReplayRequest.from_params(params, topics)


@pytest.mark.unit
def test_replay_stops_at_the_streams_committed_position(tmp_path) -> None:  # type: ignore[no-untyped-def]
    checkpoint = tmp_path / "stream"
    (checkpoint / "offsets").mkdir(parents=True)
    (checkpoint / "commits").mkdir()
    meta = '{"batchWatermarkMs":0}'
    (checkpoint / "offsets" / "0").write_text(f'v1\n{meta}\n{{"p.cdc.orders":{{"0":4,"1":2}}}}\n')
    (checkpoint / "offsets" / "1").write_text(f'v1\n{meta}\n{{"p.cdc.orders":{{"0":9,"1":3}}}}\n')
    (checkpoint / "commits" / "0").write_text("v1\n{}\n")  # batch 1 planned, not committed
    positions = stream_positions(checkpoint)
    assert positions == {("p.cdc.orders", 0): 4, ("p.cdc.orders", 1): 2}
    assert clip_to_stream({0: (1, 8), 1: (2, 5), 2: (0, 3)}, "p.cdc.orders", positions) == {0: (1, 4)}
    assert stream_positions(tmp_path / "missing") == {}


@pytest.mark.unit
def test_long_replays_are_split_into_deterministic_steps() -> None:
    ranges = {1: (10, 15), 0: (0, 4)}
    assert split_ranges(ranges, 3) == [{0: (0, 3)}, {0: (3, 4), 1: (10, 12)}, {1: (12, 15)}]
    assert split_ranges(ranges, 100) == [{0: (0, 4), 1: (10, 15)}]
    assert split_ranges({0: (5, 5)}, 3) == []
    steps = split_ranges(ranges, 3)
    assert sum(end - start for step in steps for start, end in step.values()) == 9
    # The same step of the same job has the same transaction id; a different range does not.
    assert replay_app_id("job", steps[0]) == replay_app_id("job", {0: (0, 3)})
    assert replay_app_id("job", steps[0]) != replay_app_id("job", {0: (0, 4)})
    assert replay_app_id("job", steps[0]) != replay_app_id("other", steps[0])
