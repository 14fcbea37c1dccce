"""The emitter process stopped mid-stream: ``kill -9`` then a restart loses nothing; SIGTERM confirms
everything Kafka acknowledged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest

from lakepulse_cdc_emitter.config import CdcEmitterSettings
from lakepulse_cdc_emitter.pgoutput import parse_lsn
from tests.support import wait_for

from .cdc_helpers import TopicReader, query

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _environment(settings: CdcEmitterSettings) -> dict[str, str]:
    pg, kafka, cdc = settings.postgres, settings.kafka, settings.cdc
    return os.environ | {
        "LAKEPULSE_STATE_DIR": str(settings.state_dir),
        "LAKEPULSE_POSTGRES__HOST": pg.host,
        "LAKEPULSE_POSTGRES__PORT": str(pg.port),
        "LAKEPULSE_POSTGRES__USER": pg.user,
        "LAKEPULSE_POSTGRES__PASSWORD": pg.password.get_secret_value(),
        "LAKEPULSE_POSTGRES__DATABASE": pg.database,
        "LAKEPULSE_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "LAKEPULSE_KAFKA__TOPIC_PREFIX": kafka.topic_prefix,
        "LAKEPULSE_CDC__SLOT_NAME": cdc.slot_name,
        "LAKEPULSE_CDC__PUBLICATION": cdc.publication,
        "LAKEPULSE_CDC__SCHEMAS": '["sales"]',
        "LAKEPULSE_CDC__FEEDBACK_INTERVAL_S": "0.2",
        "LAKEPULSE_TELEMETRY__METRICS_PORT": "0",
        "LAKEPULSE_TELEMETRY__LOG_FORMAT": "console",
    }


def _start(settings: CdcEmitterSettings, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "lakepulse_cdc_emitter"],
            env=_environment(settings),
            stdout=log,
            stderr=log,
        )


def _slot(source, settings):
    rows = query(
        source,
        "SELECT active, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
        (settings.cdc.slot_name,),
    )
    return rows[0] if rows else None


def _writer(dsn: str, stop: threading.Event, committed: list[int]) -> None:
    conn = psycopg2.connect(dsn)
    try:
        next_id = 1
        while not stop.is_set():
            ids = list(range(next_id, next_id + 5))
            with conn, conn.cursor() as cur:
                cur.executemany("INSERT INTO sales.events VALUES (%s, md5(%s::text))", [(i, i) for i in ids])
            committed.extend(ids)  # only after the commit returned
            next_id += 5
    finally:
        conn.close()


@dataclass
class _InsertLoad:
    """A thread committing 5-row insert transactions into ``sales.events`` until stopped."""

    dsn: str
    reader: TopicReader
    stop: threading.Event = field(default_factory=threading.Event)
    committed: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=_writer, args=(self.dsn, self.stop, self.committed))

    def finish(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


@contextmanager
def _insert_load(settings: CdcEmitterSettings, source) -> Iterator[_InsertLoad]:
    query(
        source,
        "CREATE SCHEMA sales; CREATE TABLE sales.events (id int PRIMARY KEY, payload text);"
        " ALTER TABLE sales.events REPLICA IDENTITY FULL",
    )
    load = _InsertLoad(settings.postgres.dsn(), TopicReader(settings))
    try:
        yield load
    finally:
        load.finish()
        load.reader.close()


def _reap(*processes: subprocess.Popen[bytes] | None) -> None:
    for process in processes:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()


def test_kill_9_mid_stream_then_restart_loses_nothing(cdc_settings, source, tmp_path):
    log_path = tmp_path / "emitter.log"
    first = second = None
    with _insert_load(cdc_settings, source) as load:
        reader, committed = load.reader, load.committed
        try:
            first = _start(cdc_settings, log_path)
            wait_for(lambda: (_slot(source, cdc_settings) or (False,))[0], 60, "the first emitter streaming")
            load.thread.start()
            reader.poll_until(lambda r: len(r) > 2000, 60, "events flowing before the kill")
            first.send_signal(signal.SIGKILL)
            assert first.wait(10) == -signal.SIGKILL
            killed_at = len(committed)
            confirmed_at_kill = parse_lsn(_slot(source, cdc_settings)[1])
            second = _start(cdc_settings, log_path)  # at once: it must wait for the dead walsender itself
            wait_for(lambda: len(committed) > killed_at + 1000, 60, "writes after the restart")
            load.finish()
            expected = set(committed)
            reader.poll_until(
                lambda _: expected <= {r.key["id"] for r in reader.data("events")},
                120,
                "every committed insert",
            )
            second.send_signal(signal.SIGTERM)
            assert second.wait(60) == 0, log_path.read_text()[-3000:]
        finally:
            _reap(first, second)

    copies = defaultdict(set)
    for record in reader.data("events"):
        copies[record.key["id"]].add((record.value["source"]["lsn"], record.value["source"]["txId"]))
    assert all(len(versions) == 1 for versions in copies.values()), "a re-sent event changed its lsn"
    assert sum(1 for r in reader.data("events")) >= len(copies)
    # the server's walsender notices the client's exit a moment after the process is gone
    wait_for(lambda: not _slot(source, cdc_settings)[0], 30, "the walsender to release the slot")
    _, confirmed = _slot(source, cdc_settings)
    # The restarted emitter confirmed past the crash point; confirmations never run ahead of Kafka's
    # acknowledgements (checked by the replay above: nothing committed is missing).
    assert confirmed_at_kill < parse_lsn(confirmed), "the restarted emitter must confirm past the crash point"


def test_sigterm_mid_stream_confirms_every_delivered_transaction(cdc_settings, source, tmp_path):
    """A stop while transactions stream in: flushed, and the slot confirms all that reached Kafka."""
    log_path = tmp_path / "emitter.log"
    emitter = None
    with _insert_load(cdc_settings, source) as load:
        reader = load.reader
        try:
            emitter = _start(cdc_settings, log_path)
            wait_for(lambda: (_slot(source, cdc_settings) or (False,))[0], 60, "the emitter streaming")
            load.thread.start()
            reader.poll_until(lambda r: len(r) > 3000, 60, "events flowing")
            emitter.send_signal(signal.SIGTERM)  # the writer keeps writing: the stop lands mid-stream
            assert emitter.wait(60) == 0, log_path.read_text()[-3000:]
            load.finish()
            reader.read_to_end()
        finally:
            _reap(emitter)

    ended = {r.value["id"] for r in reader.transactions() if r.value["status"] == "END"}
    changes = reader.data("events")
    delivered = [r.value["source"]["lsn"] for r in changes if r.value["transaction"]["id"] in ended]
    assert delivered, "transactions completed before the stop"
    wait_for(lambda: not _slot(source, cdc_settings)[0], 30, "the walsender to release the slot")
    confirmed = parse_lsn(_slot(source, cdc_settings)[1])
    # a transaction's commit (the LSN confirmed) lies after each of its changes
    assert confirmed > max(delivered), f"slot at {confirmed}, delivered changes up to {max(delivered)}"
    late = [r for r in changes if r.value["source"]["lsn"] > confirmed]
    assert len(late) <= 5, "only the transaction cut by the stop (5 inserts) may lie past the confirmation"
