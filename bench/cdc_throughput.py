"""cdc-emitter benchmark: sustained Postgres→Kafka events/s, commit→Kafka latency at a fixed rate, RSS.

Runs against the stack the LAKEPULSE_* settings point at (``lakepulse up``, or the test stack with
``LAKEPULSE_POSTGRES__PORT=25432 LAKEPULSE_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:29092``). It creates a
scratch database and topic prefix, starts the real emitter as a subprocess, and cleans up after itself.

0. Snapshot: ``--rows`` rows are inserted before the emitter's first start; it snapshots them (op r).
1. Throughput: with the emitter stopped, ``--rows`` more rows are inserted (``--tx-rows`` per
   transaction); a fresh emitter process streams that WAL backlog. The time from the first to the last
   event landing in Kafka (high watermarks, polled every 50 ms) gives the sustained events/s of the
   emitter alone (Postgres decoding + emitter + broker on the same cores).
2. Latency: a paced writer commits ``--rate`` rows/s for ``--seconds``; the data topic is created with
   ``message.timestamp.type=LogAppendTime``, so broker append time − source commit time
   (``source.ts_us``) is the commit→Kafka latency of every event.
3. RSS: the emitter process's peak resident set (VmHWM) over all phases.

    uv run python bench/cdc_throughput.py --json .lakepulse/bench/cdc.json
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg2
from confluent_kafka import TopicPartition
from psycopg2 import sql

from lakepulse_cdc_emitter.config import CdcEmitterSettings
from lakepulse_common.kafka import TopicSpec, create_admin, create_consumer, ensure_topics
from lakepulse_common.topics import TopicNames

TABLE_DDL = """
CREATE SCHEMA sales;
CREATE TABLE sales.orders (
    order_id bigint PRIMARY KEY, customer_id int NOT NULL, amount numeric(12,2), status text,
    note text, ordered_at timestamptz NOT NULL DEFAULT now(), ship_date date
);
ALTER TABLE sales.orders REPLICA IDENTITY FULL;
"""
INSERT = """
INSERT INTO sales.orders (order_id, customer_id, amount, status, note, ship_date)
SELECT g, g %% 5000, (g %% 100000) / 100.0, 'open', 'order ' || g, current_date - (g %% 365)::int
FROM generate_series(%s, %s) g
"""


def _env(settings: CdcEmitterSettings, database: str, prefix: str, slot: str) -> dict[str, str]:
    pg = settings.postgres
    return os.environ | {
        "LAKEPULSE_POSTGRES__HOST": pg.host,
        "LAKEPULSE_POSTGRES__PORT": str(pg.port),
        "LAKEPULSE_POSTGRES__USER": pg.user,
        "LAKEPULSE_POSTGRES__PASSWORD": pg.password.get_secret_value(),
        "LAKEPULSE_POSTGRES__DATABASE": database,
        "LAKEPULSE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "LAKEPULSE_KAFKA__TOPIC_PREFIX": prefix,
        "LAKEPULSE_CDC__SLOT_NAME": slot,
        "LAKEPULSE_CDC__PUBLICATION": slot,
        "LAKEPULSE_CDC__SCHEMAS": '["sales"]',
        "LAKEPULSE_CDC__ROUTING__ENABLED": "false",
        "LAKEPULSE_TELEMETRY__METRICS_PORT": "0",
        "LAKEPULSE_TELEMETRY__LOG_LEVEL": "WARNING",
    }


class Emitter:
    """The emitter subprocess, with its peak RSS sampled from /proc."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lakepulse_cdc_emitter"], env=env, stdout=self._log, stderr=self._log
        )
        self.peak_rss_kib = 0

    def sample(self) -> None:
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except FileNotFoundError:
            return
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                self.peak_rss_kib = max(self.peak_rss_kib, int(line.split()[1]))

    def stop(self) -> int:
        self.sample()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(120)
        self._log.close()
        return code


def _wait(condition: Any, timeout_s: float, what: str, tick: Any = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if tick:
            tick()
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def _slot_active(conn: Any, slot: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        row = cur.fetchone()
        return bool(row and row[0])


def _high_watermark(consumer: Any, topic: str, partitions: int) -> int:
    total = 0
    for p in range(partitions):
        total += consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
    return total


def _drain(
    consumer: Any, topic: str, partitions: int, events: int, emitter: Emitter, already: int = 0
) -> tuple[int, float]:
    """Events/s from the first to the last of ``events`` new records landing in the topic."""
    first_seen: float | None = None
    deadline = time.monotonic() + 600
    while True:
        now = time.monotonic()
        done = _high_watermark(consumer, topic, partitions) - already
        if done > 0 and first_seen is None:
            first_seen = now
        emitter.sample()
        if done >= events:
            elapsed = now - (first_seen or now)
            return round(events / max(elapsed, 1e-3)), round(elapsed, 2)
        if now > deadline:
            raise TimeoutError(f"only {done} of {events} events after 600 s")
        time.sleep(0.05)


def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = CdcEmitterSettings()
    suffix = secrets.token_hex(4)
    database, prefix, slot = f"bench_cdc_{suffix}", f"bench{suffix}", f"bench_cdc_{suffix}"
    topics = TopicNames(prefix)
    topic = topics.cdc("orders")
    partitions = settings.cdc.partitions
    admin = create_admin(settings.kafka)
    # Created ahead of the emitter (which keeps existing topics) so brokers stamp LogAppendTime.
    ensure_topics(
        admin,
        [
            TopicSpec(
                topic,
                partitions,
                settings.kafka.retention_ms,
                extra_config={"message.timestamp.type": "LogAppendTime"},
            )
        ],
    )
    root = psycopg2.connect(settings.postgres.dsn("postgres"))
    root.autocommit = True
    with root.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    source = psycopg2.connect(settings.postgres.dsn(database))
    source.autocommit = True
    log_path = Path(args.log)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = _env(settings, database, prefix, slot)
    consumer = create_consumer(settings.kafka, "bench-cdc", f"bench-{suffix}")
    result: dict[str, Any] = {"rows": args.rows, "tx_rows": args.tx_rows, "partitions": partitions}
    try:
        with source.cursor() as cur:
            cur.execute(TABLE_DDL)
        started = time.monotonic()
        with source.cursor() as cur:
            for first in range(1, args.rows + 1, args.tx_rows):
                cur.execute(INSERT, (first, min(first + args.tx_rows - 1, args.rows)))
        result["insert_s"] = round(time.monotonic() - started, 2)

        # Phase 0: the initial snapshot of those rows (op r), then stop.
        emitter = Emitter(env, log_path)
        rate, window = _drain(consumer, topic, partitions, args.rows, emitter)
        result["snapshot_events_per_s"], result["snapshot_window_s"] = rate, window
        _wait(lambda: _slot_active(source, slot), 60, "emitter streaming", emitter.sample)
        emitter.stop()
        peak = emitter.peak_rss_kib

        # Phase 1: a WAL backlog of as many rows, streamed by a fresh emitter process.
        with source.cursor() as cur:
            for first in range(args.rows + 1, 2 * args.rows + 1, args.tx_rows):
                cur.execute(INSERT, (first, min(first + args.tx_rows - 1, 2 * args.rows)))
        emitter = Emitter(env, log_path)
        rate, window = _drain(consumer, topic, partitions, args.rows, emitter, already=args.rows)
        result["throughput_events_per_s"], result["throughput_window_s"] = rate, window

        # Latency at a fixed rate, emitter running and caught up.
        base = 2 * args.rows + 1
        ends = [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)
        ]
        consumer.assign([TopicPartition(topic, p, ends[p]) for p in range(partitions)])
        latencies: list[float] = []
        stop = threading.Event()

        def consume() -> None:
            while not stop.is_set() or len(latencies) < args.rate * args.seconds:
                for message in consumer.consume(5000, timeout=0.2):
                    value = message.value()
                    if message.error() or value is None:
                        continue
                    event = orjson.loads(value)
                    latencies.append(message.timestamp()[1] - event["source"]["ts_us"] / 1000)
                if stop.is_set() and time.monotonic() > stop_deadline:
                    return

        stop_deadline = time.monotonic() + args.seconds + 60
        reader = threading.Thread(target=consume)
        reader.start()
        per_tx = max(1, args.rate // 100)  # 100 commits per second
        with source.cursor() as cur:
            tick = time.monotonic()
            for i in range(args.seconds * 100):
                first = base + i * per_tx
                cur.execute(INSERT, (first, first + per_tx - 1))
                tick += 0.01
                emitter.sample()
                pause = tick - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
        stop.set()
        reader.join()
        latencies.sort()
        result["latency_rate_events_per_s"] = per_tx * 100
        result["latency_events"] = len(latencies)
        result["latency_ms"] = {
            "p50": round(statistics.quantiles(latencies, n=100)[49], 1),
            "p95": round(statistics.quantiles(latencies, n=100)[94], 1),
            "p99": round(statistics.quantiles(latencies, n=100)[98], 1),
            "max": round(latencies[-1], 1),
        }
        exit_code = emitter.stop()
        result["emitter_exit_code"] = exit_code
        result["emitter_peak_rss_mib"] = round(max(peak, emitter.peak_rss_kib) / 1024, 1)
    finally:
        consumer.close()
        source.close()
        with root.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = %s"
                " AND active_pid IS NOT NULL",
                (slot,),
            )
            cur.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                (slot,),
            )
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        root.close()
        names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(f"{prefix}.")]
        if names:
            for future in admin.delete_topics(names, operation_timeout=30).values():
                future.result()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--tx-rows", type=int, default=1_000, help="rows per source transaction (throughput)")
    parser.add_argument("--rate", type=int, default=5_000, help="events/s for the latency phase")
    parser.add_argument("--seconds", type=int, default=20, help="duration of the latency phase")
    parser.add_argument("--log", default=".lakepulse/bench/cdc-emitter.log", help="emitter stdout/stderr")
    parser.add_argument("--json", dest="json_out", help="write the figures to this file")
    args = parser.parse_args()
    result = run(args)
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
    print(text)
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
