"""Reprocess, optimize and vacuum commands against real Spark, Delta and Kafka (commands and progress).

Reprocessing unchanged bronze leaves silver byte-for-byte as it was (no commit); a damaged silver
table is repaired — only the keys changed since ``from_bronze_version``, or all of them — and the
repair is announced as a silver commit; every job answers ``running`` then a final state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lakepulse_common.commands import CommandListener, JobReporter
from lakepulse_common.control_events import (
    Command,
    CommandAction,
    ControlEvent,
    EventKind,
    Layer,
)
from lakepulse_common.kafka import (
    create_admin,
    create_consumer,
    create_producer,
    ensure_topics,
    platform_topics,
)
from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.storage import for_spark, local_path
from lakepulse_common.topics import TopicNames
from lakepulse_silver_processor import lake
from lakepulse_silver_processor.commands import SilverCommands
from lakepulse_silver_processor.processor import SilverProcessor
from lakepulse_silver_processor.reprocess import STAGING_DIR
from tests.services.silver_processor.bronze_rows import CUSTOMER_KEY, Bronze, delete, upsert
from tests.services.silver_processor.bronze_rows import customer as cust
from tests.support import random_name, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVICE = "silver-processor"


class Jobs:
    """Sends commands through Kafka, runs them as the service loop does, reads their progress back."""

    def __init__(self, settings: LakePulseSettings, processor: SilverProcessor) -> None:
        ensure_topics(create_admin(settings.kafka), platform_topics(settings.kafka))
        self.topics = TopicNames.from_settings(settings.kafka)
        self.producer = create_producer(settings.kafka, "silver-command-tests")
        self.listener = CommandListener(settings, SERVICE, group_id=random_name("cmd"))
        self.listener.start()
        reporter = JobReporter(self.producer, self.topics, SERVICE)
        self.commands = SilverCommands(processor, self.producer, self.topics, reporter, self.listener)
        self.reader = create_consumer(settings.kafka, "silver-command-tests", random_name("g"))
        self.reader.subscribe([self.topics.control])
        self.events: list[ControlEvent] = []

    def run(self, job_id: str, action: CommandAction, **params: Any) -> dict[str, Any]:
        """Run one command to its end; returns the final job_progress details."""
        command = Command(job_id=job_id, target_service=SERVICE, action=action, params=params)
        self.poll()
        earlier = len(self.progress(job_id))  # a re-delivered job's first run
        self.producer.produce(self.topics.commands, key=command.key, value=command.to_bytes())
        assert self.producer.flush(10) == 0
        wait_for(lambda: self.commands.run_pending() > 0, 60, f"{action} command to be taken")

        def final() -> dict[str, Any] | None:
            self.poll()
            ends = [d for d in self.progress(job_id)[earlier:] if d["state"] != "running"]
            return ends[-1] if ends else None

        details = wait_for(final, 60, f"the final state of job {job_id}")
        states = [d["state"] for d in self.progress(job_id)[earlier:]]
        assert states[0] == "running" and states[1:-1] == ["running"] * (len(states) - 2), states
        return details

    def poll(self) -> None:
        for message in self.reader.consume(500, timeout=0.5):
            if message.error() is None and message.value():
                self.events.append(ControlEvent.from_bytes(message.value()))

    def progress(self, job_id: str) -> list[dict[str, Any]]:
        return [
            e.details
            for e in self.events
            if e.kind is EventKind.JOB_PROGRESS and e.service == SERVICE and e.details.get("job_id") == job_id
        ]

    def commits(self, job_id: str) -> list[ControlEvent]:
        return [
            e
            for e in self.events
            if e.kind is EventKind.COMMIT and e.layer is Layer.SILVER and e.details.get("job_id") == job_id
        ]

    def close(self) -> None:
        self.listener.stop()
        self.reader.close()


@pytest.fixture
def jobs(lake_settings: LakePulseSettings, processor: SilverProcessor) -> Iterator[Jobs]:
    made = Jobs(lake_settings, processor)
    yield made
    made.close()


def _rows(spark: SparkSession, uri: str, drop: tuple[str, ...] = ()) -> list[tuple[Any, ...]]:
    df = lake.read(spark, uri)
    return sorted((tuple(r) for r in df.drop(*drop).collect()), key=repr)


@pytest.mark.timeout(1800)
def test_reprocess_leaves_unchanged_silver_identical_and_repairs_damage(
    spark: SparkSession,
    lake_settings: LakePulseSettings,
    processor: SilverProcessor,
    bronze: Bronze,
    jobs: Jobs,
) -> None:
    first = [upsert(100 + 10 * i, cust(i), CUSTOMER_KEY, op="c") for i in (1, 2, 3)]
    bronze.append("customers", first)
    bronze.append(
        "customers", [upsert(200, cust(1, "Wingtip"), CUSTOMER_KEY), delete(210, cust(3), CUSTOMER_KEY)]
    )
    bronze.append("customers", [upsert(300, cust(2, "Fabrikam", email=" Mixed@Case.COM "), CUSTOMER_KEY)])
    processor.apply("customers", 0)  # as the live service would: in two batches
    processor.apply("customers")
    current, history = processor.uri("customers"), processor.uri("customers_history")
    stable = ("_updated_at", "_bronze_version")  # when a row was written, not what it says
    before = {
        "rows": _rows(spark, current),
        "history": _rows(spark, history),
        "content": _rows(spark, current, stable),
    }
    version = lake.latest_version(spark, current)

    # 1. Unchanged input: nothing is written, not even an empty commit.
    done = jobs.run("same", CommandAction.REPROCESS, tables=["customers"])
    assert done["state"] == "succeeded" and "unchanged" in done["message"], done
    assert lake.latest_version(spark, current) == version
    assert _rows(spark, current) == before["rows"]
    assert _rows(spark, history) == before["history"]
    assert not (local_path(lake_settings.lake_root) / STAGING_DIR / "same").exists()  # staging removed

    # 2. Damage: customer 2 lost, customer 1 overwritten by hand.
    table = DeltaTable.forPath(spark, for_spark(current))
    table.delete("customer_id = 2")
    table.update("customer_id = 1", {"customer_name": "'tampered'"})
    # from bronze version 2: only customer 2 changed there, so only it is repaired.
    done = jobs.run("partial", CommandAction.REPROCESS, tables=["customers"], from_bronze_version=2)
    assert done["state"] == "succeeded" and "1 keys" in done["message"], done
    names = {r["customer_id"]: r["customer_name"] for r in lake.read(spark, current).collect()}
    assert names == {1: "tampered", 2: "Fabrikam"}
    # from scratch (every table, as a reprocess of "all" sends it): everything repaired.
    done = jobs.run("full", CommandAction.REPROCESS)
    assert done["state"] == "succeeded", done
    assert _rows(spark, current, stable) == before["content"]
    assert _rows(spark, history) == before["history"]
    jobs.poll()
    repaired = jobs.commits("partial") + jobs.commits("full")
    assert [(e.table, e.details["operation"]) for e in repaired] == [("customers", "reprocess")] * 2
    assert repaired[-1].delta_version == lake.latest_version(spark, current)
    assert repaired[0].rows is not None and repaired[0].rows.written == 1

    # 3. A re-delivered reprocess is a no-op.
    version = lake.latest_version(spark, current)
    assert jobs.run("full", CommandAction.REPROCESS)["state"] == "succeeded"
    assert lake.latest_version(spark, current) == version


@pytest.mark.timeout(1200)
def test_maintenance_and_failures_answer_their_final_state(
    spark: SparkSession, processor: SilverProcessor, bronze: Bronze, jobs: Jobs
) -> None:
    bronze.append("customers", [upsert(100, cust(1), CUSTOMER_KEY, op="c")])
    bronze.append("customers", [upsert(200, cust(2), CUSTOMER_KEY, op="c")])
    processor.apply("customers", 0)
    processor.apply("customers")
    current = processor.uri("customers")
    rows = _rows(spark, current)

    done = jobs.run("opt", CommandAction.OPTIMIZE, layer="silver", tables=["customers"])
    assert done["state"] == "succeeded", done
    operations = [r["operation"] for r in DeltaTable.forPath(spark, for_spark(current)).history().collect()]
    assert operations[0] == "OPTIMIZE"
    done = jobs.run("vac", CommandAction.VACUUM, layer="silver", tables=["customers"], retain_hours=168)
    assert done["state"] == "succeeded", done
    assert _rows(spark, current) == rows

    failing = {
        "unknown": (CommandAction.REPROCESS, {"tables": ["nope"]}),
        "not-built": (CommandAction.REPROCESS, {"tables": ["orders"]}),
        "bad-version": (CommandAction.REPROCESS, {"from_bronze_version": -3}),
        "short": (CommandAction.VACUUM, {"layer": "silver", "tables": ["customers"], "retain_hours": 1}),
        "other-layer": (CommandAction.OPTIMIZE, {"layer": "gold", "tables": ["fact_sales"]}),
        "replay": (CommandAction.REPLAY, {"topic": "x"}),
    }
    answers = {job: jobs.run(job, action, **params) for job, (action, params) in failing.items()}
    assert {job: d["state"] for job, d in answers.items()} == dict.fromkeys(failing, "failed")
    assert "silver.nope" in answers["unknown"]["message"]
    assert "silver.orders" in answers["not-built"]["message"]
    assert "below" in answers["short"]["message"]
    assert _rows(spark, current) == rows
