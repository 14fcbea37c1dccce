"""Initial snapshot plus streaming while writers keep committing: no gap, no overlap."""

from __future__ import annotations

import threading
from collections import defaultdict

import psycopg2
import pytest

from tests.support import wait_for

from .cdc_helpers import EmitterThread, TopicReader, query, replay, snapshot_status

pytestmark = [pytest.mark.integration]

SEED_ROWS = 20_000


def _writer(dsn: str, stop: threading.Event, committed: list[int]) -> None:
    conn = psycopg2.connect(dsn)
    try:
        next_id = SEED_ROWS + 1
        while not stop.is_set():
            with conn, conn.cursor() as cur:  # one transaction: an insert and an update of an old row
                cur.execute("INSERT INTO sales.counters VALUES (%s, 0, 'new')", (next_id,))
                cur.execute("UPDATE sales.counters SET n = n + 1 WHERE id = %s", (next_id % SEED_ROWS + 1,))
            committed.append(next_id)
            next_id += 1
    finally:
        conn.close()


def test_snapshot_then_stream_under_concurrent_writes(cdc_settings, source):
    query(
        source,
        "CREATE SCHEMA sales;"
        " CREATE TABLE sales.counters (id int PRIMARY KEY, n int NOT NULL, note text);"
        " ALTER TABLE sales.counters REPLICA IDENTITY FULL;"
        f" INSERT INTO sales.counters SELECT g, 0, 'seed' FROM generate_series(1, {SEED_ROWS}) g",
    )
    stop, committed = threading.Event(), []
    writer = threading.Thread(target=_writer, args=(cdc_settings.postgres.dsn(), stop, committed))
    writer.start()
    reader = TopicReader(cdc_settings)
    try:
        wait_for(lambda: len(committed) > 50, 30, "writes before the slot exists")
        with EmitterThread(cdc_settings):
            assert snapshot_status(source, cdc_settings) == "done"
            after_snapshot = len(committed)
            wait_for(lambda: len(committed) > after_snapshot + 300, 60, "writes after the snapshot")
            stop.set()
            writer.join()
            expected = {row[0]: row[1] for row in query(source, "SELECT id, n FROM sales.counters")}
            reader.poll_until(
                lambda _: {k: v["n"] for k, v in replay(reader.data("counters"), "id").items()} == expected,
                120,
                "the replayed topic to equal the table",
            )
    finally:
        stop.set()
        writer.join()
        reader.close()

    events_by_id = defaultdict(list)
    for record in reader.data("counters"):
        if record.value is not None:
            row = record.value["after"] or record.value["before"]
            events_by_id[row["id"]].append(record.value)
    snapshot_ids = {i for i, events in events_by_id.items() if any(e["op"] == "r" for e in events)}
    created_ids = {i for i, events in events_by_id.items() if any(e["op"] == "c" for e in events)}
    assert snapshot_ids and created_ids, "both the snapshot and the stream must have contributed rows"
    assert not snapshot_ids & created_ids, (
        "a row was both in the snapshot and streamed as an insert (overlap)"
    )
    assert all(
        sum(e["op"] == "r" for e in events) == 1 for i, events in events_by_id.items() if i in snapshot_ids
    )
    assert set(range(1, SEED_ROWS + 1)) <= snapshot_ids
    assert set(committed) <= snapshot_ids | created_ids, "a committed insert is missing (gap)"
    seen = [
        (e["source"]["lsn"], e["after"]["id"])
        for events in events_by_id.values()
        for e in events
        if e["op"] != "r"
    ]
    assert len(seen) == len(set(seen)), "a streamed change was emitted twice in a clean run"
    markers = [
        r.value["source"]["snapshot"] for r in reader.data("counters") if r.value and r.value["op"] == "r"
    ]
    assert markers.count("first") == 1 and markers.count("last") == 1
