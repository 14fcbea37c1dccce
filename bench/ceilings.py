"""What this machine can do at best, measured in the same run as the stage benchmarks.

Stage figures are reported as fractions of these ceilings, so a slow shared machine does not
read as a slow pipeline.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from lakepulse_common.kafka import TopicSpec, create_admin, create_producer, ensure_topics
from lakepulse_common.settings import LakePulseSettings


def parquet_write_rows_per_s(rows: int = 1_000_000) -> float:
    """pyarrow Parquet (snappy) write of an orders-like table."""
    table = pa.table(
        {
            "order_id": pa.array(range(rows), pa.int64()),
            "customer_id": pa.array([i % 5000 for i in range(rows)], pa.int32()),
            "quantity": pa.array([i % 17 + 1 for i in range(rows)], pa.int32()),
            "unit_price": pa.array([(i % 1000) / 10 for i in range(rows)], pa.float64()),
            "description": pa.array([f"item {i % 227}" for i in range(rows)], pa.string()),
        }
    )
    with tempfile.TemporaryDirectory() as directory:
        start = time.perf_counter()
        pq.write_table(table, os.path.join(directory, "t.parquet"), compression="snappy")
        elapsed = time.perf_counter() - start
    return rows / elapsed


def kafka_produce_rows_per_s(settings: LakePulseSettings, messages: int = 200_000) -> float:
    """One Python process producing ~0.8 KB JSON values with the project's producer settings."""
    topic = f"{settings.kafka.topic_prefix}.bench.ceiling.{int(time.time())}"
    ensure_topics(create_admin(settings.kafka), [TopicSpec(topic, 3, 3_600_000)])
    producer = create_producer(settings.kafka, "bench-ceiling")
    value = orjson.dumps({"after": {"description": "x" * 700, "quantity": 3}, "op": "c"})
    start = time.perf_counter()
    for i in range(messages):
        while True:
            try:
                producer.produce(topic, key=str(i).encode(), value=value)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(120)
    elapsed = time.perf_counter() - start
    create_admin(settings.kafka).delete_topics([topic])
    return messages / elapsed


def measure(settings: LakePulseSettings) -> dict[str, Any]:
    return {
        "parquet_write_rows_per_s": round(parquet_write_rows_per_s()),
        "kafka_produce_rows_per_s": round(kafka_produce_rows_per_s(settings)),
    }
