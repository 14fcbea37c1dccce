"""bronze-writer benchmark: drain a Kafka backlog into Delta bronze, tuned writer vs the seed's snippet.

Runs against the Kafka the LAKEPULSE_* settings point at (``lakepulse up``, or the test stack with
``LAKEPULSE_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:29092``). In a fresh topic prefix it produces ``--events``
synthetic Debezium envelopes (~0.8 KB WWI-shaped ``orders`` and ``order_lines`` changes, JSON keys and
``traceparent`` headers), then, in ONE SparkSession and the same run:

1. tuned: the real writer (:class:`BronzeStream`, default ``bronze`` settings) drains the backlog
   (``availableNow``); rows/s = events / wall time from query start to the last commit announced;
2. naive: the seed's snippet — ``readStream.format("kafka")…writeStream.format("delta")`` with default
   settings — drains the same topics into one raw table. Two changes are unavoidable: the seed's
   ``subscribe`` of ``lakepulse.cdc.*`` is literal (it would read nothing), so the pattern is given as
   ``subscribePattern``; and ``startingOffsets`` defaults to ``latest`` (it would skip the backlog),
   so it is ``earliest``;
3. steady: the tuned writer follows a live stream of ``--steady-rate`` events/s for ``--steady-seconds``
   (processing-time trigger); p50/p95 micro-batch durations exclude the first two batches.

Both first drain a ``--warmup-events`` backlog of their own (discarded), so neither pays the JVM's
warm-up (class loading, JIT) in the measured run.

The Spark driver's peak RSS (the JVM; local mode runs the executor inside it) is sampled throughout.
The machine's load average is recorded: on a shared machine it explains a lot.

    uv run python bench/bronze_drain.py --events 1000000 --json .lakepulse/bench/bronze.json
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import psutil
from opentelemetry import trace

from lakepulse_bronze_writer.config import BronzeWriterSettings
from lakepulse_bronze_writer.metrics import BronzeMetrics
from lakepulse_bronze_writer.stream import BronzeStream, kafka_source_options
from lakepulse_common.kafka import TopicSpec, create_admin, create_producer, ensure_topics, platform_topics
from lakepulse_common.spark import build_spark_session
from lakepulse_common.topics import TopicNames

TABLES = ("orders", "order_lines")


def envelope(n: int, table: str, lsn: int) -> tuple[bytes, bytes]:
    """A WWI-shaped Debezium change (~0.8 KB) and its key."""
    if table == "orders":
        after: dict[str, Any] = {
            "order_id": n,
            "customer_id": 800 + n % 663,
            "salesperson_person_id": 2 + n % 14,
            "picked_by_person_id": None,
            "contact_person_id": 1001 + n % 1000,
            "backorder_order_id": None,
            "order_date": 19_700 + n % 1000,
            "expected_delivery_date": 19_701 + n % 1000,
            "customer_purchase_order_number": str(10_000 + n % 90_000),
            "is_undersupply_backordered": False,
            "comments": None,
            "delivery_instructions": f"Shop {n % 300}, {n % 97} Main Street",
            "internal_comments": None,
            "picking_completed_when": 1_700_000_000_000_000 + n,
            "last_edited_by": 7,
            "last_edited_when": 1_700_000_000_000_000 + n,
        }
        key = {"order_id": n}
    else:
        after = {
            "order_line_id": n,
            "order_id": n // 3,
            "stock_item_id": 1 + n % 227,
            "description": f"USB food flash drive - item {n % 227} (Gray) 32GB, boxed; page {n % 97}",
            "supplier_reference": f"WWI-{n % 5000:05d}-{n % 7}",
            "package_type_id": 7,
            "quantity": 1 + n % 120,
            "unit_price": f"{13 + n % 50}.00",
            "tax_rate": "15.000",
            "picked_quantity": 1 + n % 120,
            "picking_completed_when": 1_700_000_000_000_000 + n,
            "last_edited_by": 4,
            "last_edited_when": 1_700_000_000_000_000 + n,
        }
        key = {"order_line_id": n}
    value = {
        "before": None,
        "after": after,
        "source": {
            "version": "lakepulse-0.1.0",
            "connector": "postgresql",
            "name": "lakepulse",
            "ts_ms": 1_700_000_000_000 + n,
            "snapshot": "false",
            "db": "wwi",
            "sequence": f'["{lsn - 8}","{lsn}"]',
            "schema": "sales",
            "table": table,
            "txId": 10_000 + n // 4,
            "lsn": lsn,
            "xmin": None,
        },
        "transaction": {
            "id": f"{10_000 + n // 4}:{lsn}",
            "total_order": n % 4 + 1,
            "data_collection_order": 1,
        },
        "op": "c",
        "ts_ms": 1_700_000_000_050 + n,
    }
    return orjson.dumps(value), orjson.dumps(key)


def produce_backlog(
    settings: BronzeWriterSettings, topics: TopicNames, events: int, partitions: int
) -> float:
    admin = create_admin(settings.kafka)
    specs = [TopicSpec(topics.cdc(t), partitions, settings.kafka.retention_ms) for t in TABLES]
    ensure_topics(admin, [*specs, *platform_topics(settings.kafka)])
    producer = create_producer(settings.kafka, "bench-bronze")
    total_bytes = 0
    for n in range(events):
        table = TABLES[0] if n % 4 == 0 else TABLES[1]
        value, key = envelope(n, table, 1_000_000 + 8 * n)
        total_bytes += len(value)
        headers: list[tuple[str, str | bytes | None]] = [
            ("traceparent", f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01".encode())
        ]
        while True:
            try:
                producer.produce(topics.cdc(table), value=value, key=key, headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
        if n % 10_000 == 0:
            producer.poll(0)
    if producer.flush(300):
        raise RuntimeError("backlog not fully produced")
    return total_bytes / max(events, 1)


class RssSampler(threading.Thread):
    """Peak RSS of the Spark driver JVM (a child of this process) and of this Python process."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_jvm = 0
        self.peak_python = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self._stop_event.wait(0.5):
            self.peak_python = max(self.peak_python, me.memory_info().rss)
            for child in me.children(recursive=True):
                try:
                    if "java" in child.name():
                        self.peak_jvm = max(self.peak_jvm, child.memory_info().rss)
                except psutil.NoSuchProcess:
                    continue

    def stop(self) -> None:
        self._stop_event.set()
        self.join(2)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_naive(
    spark: Any, settings: BronzeWriterSettings, topics: TopicNames, events: int, work: Path
) -> float:
    """The seed's snippet with default settings; stopped once every event has been committed."""
    started = time.monotonic()
    reader = spark.readStream.format("kafka")
    for key, value in kafka_source_options(settings.kafka).items():
        reader = reader.option(key, value)
    # The snippet's only necessary change: a streaming Kafka source starts at "latest" by default and
    # would never see the backlog, so the drain starts at "earliest" like the tuned writer.
    stream = (
        reader.option("subscribePattern", topics.cdc_pattern).option("startingOffsets", "earliest").load()
    )
    query = (
        stream.writeStream.format("delta")
        .outputMode("append")
        .option("checkpointLocation", str(work / "naive-checkpoint"))
        .start(str(work / "naive" / "raw_events"))
    )
    while True:
        done = sum(p["numInputRows"] for p in query.recentProgress)
        if done >= events or query.exception() is not None:
            break
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    query.stop()
    if query.exception() is not None:
        raise RuntimeError(f"naive query failed: {query.exception()}")
    return elapsed


def run_steady(
    stream: BronzeStream, settings: BronzeWriterSettings, topics: TopicNames, rate: int, seconds: float
) -> dict[str, Any]:
    producer = create_producer(settings.kafka, "bench-bronze-steady")
    before = len(stream.writer.batch_durations)
    stream.start()
    deadline = time.monotonic() + seconds
    n = 10_000_000
    while time.monotonic() < deadline:
        tick = time.monotonic()
        for _ in range(max(1, rate // 10)):
            table = TABLES[n % 2]
            value, key = envelope(n, table, 100_000_000 + 8 * n)
            producer.produce(topics.cdc(table), value=value, key=key)
            n += 1
        producer.poll(0)
        time.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
    producer.flush(30)
    time.sleep(3 * settings.bronze.trigger_interval_s + 2)  # let the last events' batch finish
    stream.stop()
    durations = list(stream.writer.batch_durations)[before + 2 :]
    return {
        "rate_events_per_s": rate,
        "seconds": seconds,
        "batches": len(durations),
        "batch_p50_s": percentile(durations, 0.5),
        "batch_p95_s": percentile(durations, 0.95),
        "batch_durations_s": [round(d, 3) for d in durations],
    }


def scenario(base: BronzeWriterSettings) -> tuple[BronzeWriterSettings, TopicNames, Path]:
    """Settings for a run in its own topic prefix, lake and checkpoint directory."""
    prefix = f"bench{secrets.token_hex(4)}"
    work = base.state_dir / "bench" / f"bronze-{prefix}"
    settings = base.model_copy(deep=True)
    settings.kafka.topic_prefix = prefix
    settings.lake.root = (work / "lake").as_uri()
    settings.bronze.checkpoint_dir = work / "checkpoints" / "bronze"
    return settings, TopicNames.from_settings(settings.kafka), work


def drop_scenario(settings: BronzeWriterSettings, work: Path) -> None:
    admin = create_admin(settings.kafka)
    prefix = settings.kafka.topic_prefix
    own = [t for t in admin.list_topics(timeout=30).topics if t.startswith(f"{prefix}.")]
    if own:
        admin.delete_topics(own, operation_timeout=30)
    shutil.rmtree(work, ignore_errors=True)


def warm_up(spark: Any, base: BronzeWriterSettings, events: int, partitions: int) -> None:
    """Both writers drain a small backlog of their own once, so the measured runs start warm."""
    settings, topics, work = scenario(base)
    produce_backlog(settings, topics, events, partitions)
    stream = BronzeStream(
        spark,
        settings,
        create_producer(settings.kafka, "bench-warmup"),
        BronzeMetrics(),
        trace.get_tracer("b"),
    )
    stream.drain()
    run_naive(spark, settings, topics, events, work)
    drop_scenario(settings, work)
    print(f"warm-up: {events:,} events drained by both writers")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--steady-rate", type=int, default=2_000)
    parser.add_argument("--steady-seconds", type=float, default=60.0)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument(
        "--warmup-events",
        type=int,
        default=20_000,
        help="drained by both writers first (own topics, discarded) so neither pays the JVM's warm-up",
    )
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()

    base = BronzeWriterSettings()
    settings, topics, work = scenario(base)
    load_before = os.getloadavg()

    produce_started = time.monotonic()
    avg_bytes = produce_backlog(settings, topics, args.events, args.partitions)
    produce_s = time.monotonic() - produce_started
    print(f"produced {args.events:,} events ({avg_bytes:.0f} B avg) in {produce_s:.1f}s")

    sampler = RssSampler()
    sampler.start()
    spark = build_spark_session(settings, "lakepulse-bench-bronze")
    if args.warmup_events:
        warm_up(spark, base, args.warmup_events, args.partitions)
    stream = BronzeStream(
        spark,
        settings,
        create_producer(settings.kafka, "bench-bronze-control"),
        BronzeMetrics(),
        trace.get_tracer("bench"),
    )
    started = time.monotonic()
    stream.drain()
    tuned_s = time.monotonic() - started
    drain_batches = list(stream.writer.batch_durations)
    written = sum(spark.read.format("delta").load(f"{settings.lake_root}/bronze/{t}").count() for t in TABLES)
    print(f"tuned: {args.events / tuned_s:,.0f} rows/s ({tuned_s:.1f}s, {len(drain_batches)} batches)")
    if written != args.events:
        raise RuntimeError(f"tuned writer wrote {written} rows, expected {args.events}")

    naive_s = None
    if not args.skip_naive:
        naive_s = run_naive(spark, settings, topics, args.events, work)
        print(f"naive: {args.events / naive_s:,.0f} rows/s ({naive_s:.1f}s)")

    steady = run_steady(stream, settings, topics, args.steady_rate, args.steady_seconds)
    print(f"steady: p95 batch {steady['batch_p95_s']}s over {steady['batches']} batches")
    sampler.stop()
    result = {
        "events": args.events,
        "event_bytes_avg": round(avg_bytes),
        "partitions_per_topic": args.partitions,
        "produce_s": round(produce_s, 2),
        "tuned": {
            "seconds": round(tuned_s, 2),
            "rows_per_s": round(args.events / tuned_s),
            "batches": len(drain_batches),
            "batch_p50_s": percentile(drain_batches, 0.5),
            "batch_p95_s": percentile(drain_batches, 0.95),
            "max_offsets_per_trigger": settings.bronze.max_offsets_per_trigger,
        },
        "naive": None
        if naive_s is None
        else {"seconds": round(naive_s, 2), "rows_per_s": round(args.events / naive_s)},
        "speedup_vs_naive": None if naive_s is None else round(naive_s / tuned_s, 2),
        "steady": steady,
        "driver_rss_peak_mb": round(sampler.peak_jvm / 2**20),
        "python_rss_peak_mb": round(sampler.peak_python / 2**20),
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 1) for x in load_before],
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    spark.stop()
    drop_scenario(settings, work)


if __name__ == "__main__":
    main()
