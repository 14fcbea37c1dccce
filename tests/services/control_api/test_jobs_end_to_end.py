"""A replay job through the REST API, carried out by the bronze writer's real command handling.

The control-api (real Postgres and Kafka) sends the command; the bronze writer's listener and
:class:`BronzeCommands` run in this process on a drained bronze stream (real Spark and Delta); the
job reaches ``succeeded`` from the writer's own ``job_progress`` events, and the lost rows are back.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from fastapi.testclient import TestClient
from pyspark.sql import SparkSession

from lakepulse_bronze_writer.commands import BronzeCommands
from lakepulse_common.commands import CommandListener, JobReporter
from lakepulse_common.kafka import create_producer
from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.storage import table_uri
from lakepulse_common.topics import TopicNames
from tests.services.bronze_writer.bronze_helpers import (
    bronze_positions,
    make_stream,
    produce,
    writer_settings,
)
from tests.services.bronze_writer.test_stream import change, record
from tests.services.control_api.conftest import AUTH
from tests.support import random_name, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(1200)
def test_a_replay_job_restores_lost_bronze_rows_and_succeeds(
    client: TestClient, spark: SparkSession, lake_settings: LakePulseSettings, tmp_path: Path
) -> None:
    settings = writer_settings(lake_settings, tmp_path / "checkpoints" / "bronze")
    topics = TopicNames.from_settings(settings.kafka)
    producer = create_producer(settings.kafka, "e2e-bronze")
    sent = produce(settings, producer, [record(topics, change(i, 100 + i), {"id": i}) for i in range(5)])
    stream = make_stream(spark, settings, producer)
    stream.drain(timeout_s=480)
    orders = table_uri(settings.lake_root, "bronze", "orders")
    DeltaTable.forPath(spark, orders).delete(f"_offset = {sent[1].offset}")  # a row lost

    listener = CommandListener(settings, "bronze-writer", group_id=random_name("cmd"))
    listener.start()
    reporter = JobReporter(producer, topics, "bronze-writer")
    commands = BronzeCommands(spark, settings, stream.announcer, stream.writer.lock, reporter, listener)
    try:
        body = {"topic": topics.cdc("orders"), "partitions": [0], "start_offset": 0, "end_offset": len(sent)}
        response = client.post("/api/v1/jobs/replay", json=body, headers=AUTH)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]

        def finished() -> dict[str, object]:
            commands.run_pending()  # the bronze writer's main loop does this every second
            job: dict[str, object] = client.get(f"/api/v1/jobs/{job_id}").json()
            return job if job["state"] in ("succeeded", "failed", "cancelled") else {}

        job = wait_for(finished, 600, "the replay job to finish", interval_s=1.0)
    finally:
        listener.stop()
    assert job["state"] == "succeeded", job
    assert job["progress"] == 1.0
    assert "orders=1" in str(job["message"])
    positions = Counter(
        (p.topic, p.partition, p.offset) for p in bronze_positions(spark, settings, ["orders"])
    )
    assert positions == Counter((p.topic, p.partition, p.offset) for p in sent)
