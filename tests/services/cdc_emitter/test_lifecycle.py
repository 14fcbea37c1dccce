"""Heartbeats keep an idle slot moving; a re-snapshot can be requested while the emitter runs."""

from __future__ import annotations

import pytest

from lakepulse_cdc_emitter.pgoutput import parse_lsn
from lakepulse_cdc_emitter.state import request_snapshot
from lakepulse_common.control_events import EventKind
from tests.support import wait_for

from .cdc_helpers import EmitterThread, TopicReader, control_events, query

pytestmark = [pytest.mark.integration]


def _confirmed(source, settings) -> int:
    rows = query(
        source,
        "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
        (settings.cdc.slot_name,),
    )
    return parse_lsn(rows[0][0])


def test_idle_publication_does_not_pin_wal(cdc_settings, source):
    query(
        source,
        "CREATE SCHEMA sales; CREATE TABLE sales.quiet (id int PRIMARY KEY);"
        " CREATE SCHEMA other; CREATE TABLE other.busy (id int PRIMARY KEY, pad text);",
    )
    with EmitterThread(cdc_settings):
        query(source, "INSERT INTO other.busy SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g")
        target = parse_lsn(query(source, "SELECT pg_current_wal_lsn()::text")[0][0])
        wait_for(
            lambda: _confirmed(source, cdc_settings) >= target, 30, "the slot to pass the unpublished writes"
        )
    heartbeats = [e for e in control_events(cdc_settings) if e.kind is EventKind.HEARTBEAT]
    assert heartbeats and heartbeats[0].service == "cdc-emitter"


def test_requested_snapshot_re_reads_every_table_then_streams_on(cdc_settings, source):
    query(
        source,
        "CREATE SCHEMA sales; CREATE TABLE sales.items (id int PRIMARY KEY, label text);"
        " ALTER TABLE sales.items REPLICA IDENTITY FULL;"
        " INSERT INTO sales.items SELECT g, 'v' || g FROM generate_series(1, 100) g",
    )
    reader = TopicReader(cdc_settings)

    def reads(_records):
        return sum(1 for r in reader.data("items") if r.value is not None and r.value["op"] == "r")

    try:
        with EmitterThread(cdc_settings) as running:
            reader.poll_until(lambda r: reads(r) == 100, 60, "the initial snapshot")
            query(source, "INSERT INTO sales.items VALUES (101, 'streamed')")
            request_snapshot(cdc_settings)
            reader.poll_until(lambda r: reads(r) == 201, 60, "the requested snapshot")
            running.wait_streaming()
            query(source, "INSERT INTO sales.items VALUES (102, 'after the re-snapshot')")
            reader.poll_until(
                lambda _: any(
                    x.value and x.value["op"] == "c" and x.key == {"id": 102} for x in reader.data("items")
                ),
                60,
                "streaming to resume on the new slot",
            )
    finally:
        reader.close()
    assert query(
        source,
        "SELECT status FROM lakepulse_cdc.emitter_state WHERE slot_name = %s",
        (cdc_settings.cdc.slot_name,),
    ) == [("done",)]


def test_a_snapshot_that_never_finished_is_redone_on_restart(cdc_settings, source):
    query(
        source,
        "CREATE SCHEMA sales; CREATE TABLE sales.items (id int PRIMARY KEY, label text);"
        " INSERT INTO sales.items SELECT g, 'v' || g FROM generate_series(1, 50) g",
    )
    reader = TopicReader(cdc_settings)

    def reads():
        return [r for r in reader.data("items") if r.value is not None and r.value["op"] == "r"]

    try:
        with EmitterThread(cdc_settings):
            reader.poll_until(lambda _: len(reads()) == 50, 60, "the first snapshot")
        # What a crash between slot creation and the last acknowledgement leaves behind.
        query(
            source,
            "UPDATE lakepulse_cdc.emitter_state SET status = 'running' WHERE slot_name = %s",
            (cdc_settings.cdc.slot_name,),
        )
        query(source, "INSERT INTO sales.items VALUES (51, 'while stopped')")
        with EmitterThread(cdc_settings):
            reader.poll_until(lambda _: len(reads()) == 50 + 51, 60, "the snapshot redone")
    finally:
        reader.close()
    second = reads()[50:]
    assert sorted(r.key["id"] for r in second) == list(range(1, 52))
    assert second[0].value["source"]["lsn"] > reads()[0].value["source"]["lsn"], "a new slot, a new point"
