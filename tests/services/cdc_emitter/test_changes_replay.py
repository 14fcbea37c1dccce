"""Inserts, updates, deletes, a truncate and a schema change, replayed from Kafka, equal the tables."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import orjson
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from lakepulse_cdc_emitter import metrics
from lakepulse_cdc_emitter.partitioning import customer_partition
from lakepulse_common.control_events import EventKind

from .cdc_helpers import EmitterThread, TopicReader, control_events, query, replay, rows_as_dicts

pytestmark = [pytest.mark.integration]

SCHEMA = """
CREATE SCHEMA sales;
CREATE TABLE sales.orders (
    order_id int PRIMARY KEY, customer_id int NOT NULL, amount numeric(12,2), note text,
    ordered_at timestamptz, ship_date date, local_ts timestamp, pick_time time, is_paid boolean,
    payload jsonb, raw bytea, ref uuid, weight double precision, spot point
);
CREATE TABLE sales.order_lines (
    order_line_id int PRIMARY KEY, order_id int NOT NULL REFERENCES sales.orders, quantity int
);
CREATE TABLE sales.notes (id bigint PRIMARY KEY, body text);
ALTER TABLE sales.orders REPLICA IDENTITY FULL;
ALTER TABLE sales.order_lines REPLICA IDENTITY FULL;
ALTER TABLE sales.notes REPLICA IDENTITY FULL;
"""

# What Debezium emits for each column, computed by Postgres itself (independent of the emitter's code).
EXPECTED_ORDERS = """
SELECT order_id, customer_id, amount::text AS amount, note,
       to_char(ordered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ordered_at,
       (ship_date - date '1970-01-01') AS ship_date,
       (extract(epoch FROM local_ts) * 1000000)::bigint AS local_ts,
       (extract(epoch FROM pick_time) * 1000000)::bigint AS pick_time,
       is_paid, payload::text AS payload, encode(raw, 'base64') AS raw, ref::text AS ref, weight,
       spot::text AS spot, extra
FROM sales.orders
"""


def _write_workload(source, rng):
    for i in range(1, 121):
        query(
            source,
            "INSERT INTO sales.orders VALUES (%s, %s, %s, %s, now() - %s * interval '1 minute',"
            " current_date - %s, localtimestamp(6) - %s * interval '1 second', '13:45:10.123456', %s,"
            " %s, %s, gen_random_uuid(), %s, point(%s, 2))",
            (
                i,
                i % 9,
                f"{i}.{i % 100:02d}",
                f"order {i}",
                i,
                i % 30,
                i,
                i % 2 == 0,
                orjson.dumps({"i": i, "tags": ["a", "b"]}).decode(),
                bytes([i % 256, 0, 255]),
                i / 7,
                i,
            ),
        )
        with source.cursor() as cur:
            cur.execute("BEGIN")
            for line in range(3):
                cur.execute("INSERT INTO sales.order_lines VALUES (%s, %s, %s)", (i * 10 + line, i, line + 1))
            cur.execute("INSERT INTO sales.notes VALUES (%s, %s)", (i, "n"))
            cur.execute("COMMIT")
    for i in rng.sample(range(1, 121), 40):
        query(
            source,
            "UPDATE sales.orders SET amount = amount + 1, note = note || ' upd', is_paid = NOT is_paid"
            " WHERE order_id = %s",
            (i,),
        )
    for i in rng.sample(range(1, 121), 15):
        query(
            source,
            "DELETE FROM sales.order_lines WHERE order_id = %s; DELETE FROM sales.orders WHERE order_id = %s",
            (i, i),
        )
    query(source, "ALTER TABLE sales.orders ADD COLUMN extra text")
    query(source, "INSERT INTO sales.orders (order_id, customer_id, extra) VALUES (500, 4, 'new column')")
    query(
        source,
        "UPDATE sales.orders SET extra = 'later'"
        " WHERE order_id IN (SELECT order_id FROM sales.orders WHERE order_id < 30)",
    )
    query(source, "TRUNCATE sales.notes")
    query(source, "INSERT INTO sales.notes VALUES (1000, 'after truncate')")


def _histogram_count():
    return sum(
        s.value for s in metrics.COMMIT_TO_ACK_SECONDS.collect()[0].samples if s.name.endswith("_count")
    )


def _as_table(replayed, expected):
    """Rows written before ``ADD COLUMN`` lack the new field: a sink evolving its schema reads it as null."""
    columns = next(iter(expected.values())).keys()
    return {key: {c: row.get(c) for c in columns} for key, row in replayed.items()}


def test_replay_of_every_topic_reproduces_the_tables(cdc_settings, source):
    query(source, SCHEMA)
    query(source, "INSERT INTO sales.orders (order_id, customer_id, note) VALUES (0, 1, 'before the slot')")
    query(source, "INSERT INTO sales.order_lines VALUES (0, 0, 1)")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = TopicReader(cdc_settings)
    fallbacks = metrics.TYPE_FALLBACKS.labels("sales.orders", "spot")
    fallbacks_before = fallbacks._value.get()
    inserts_counter = metrics.EVENTS.labels("orders", "c")
    inserts_before = inserts_counter._value.get()
    acked_before = _histogram_count()
    try:
        with EmitterThread(cdc_settings, tracer=provider.get_tracer("test")):
            _write_workload(source, random.Random(4))
            expected_orders = rows_as_dicts(source, EXPECTED_ORDERS, "order_id")
            expected_lines = rows_as_dicts(source, "SELECT * FROM sales.order_lines", "order_line_id")
            expected_notes = rows_as_dicts(source, "SELECT * FROM sales.notes", "id")
            reader.poll_until(
                lambda _: (
                    _as_table(replay(reader.data("orders"), "order_id"), expected_orders) == expected_orders
                    and replay(reader.data("order_lines"), "order_line_id") == expected_lines
                    and replay(reader.data("notes"), "id") == expected_notes
                ),
                120,
                "replayed topics to equal the tables",
            )
    finally:
        reader.close()
    schema_events = [e for e in control_events(cdc_settings) if e.kind is EventKind.SCHEMA_CHANGE]

    # The new column appears from the first change that carries it, and is announced once.
    assert len(schema_events) == 1
    assert schema_events[0].table == "orders" and schema_events[0].details["added"] == ["extra"]
    assert fallbacks._value.get() > fallbacks_before, "the unmapped point type must count a warning"

    data = reader.data()
    orders_inserted = sum(1 for r in reader.data("orders") if r.value is not None and r.value["op"] == "c")
    assert inserts_counter._value.get() - inserts_before == orders_inserted
    assert _histogram_count() > acked_before, "commit→ack latency must be observed per transaction"
    # Every delete is followed by a tombstone with the same key in the same partition.
    for table in ("orders", "order_lines"):
        records = sorted(reader.data(table), key=lambda r: (r.partition, r.offset))
        deletes = [i for i, r in enumerate(records) if r.value is not None and r.value["op"] == "d"]
        assert deletes
        for i in deletes:
            tomb = records[i + 1]
            assert (
                tomb.value is None and tomb.key == records[i].key and tomb.partition == records[i].partition
            )

    # The snapshot reads parents before children: the order first, its line last.
    markers = {
        r.value["source"]["snapshot"]: r.table for r in data if r.value is not None and r.value["op"] == "r"
    }
    assert markers == {"first": "orders", "last": "order_lines"}

    # Orders and their lines share the customer's partition.
    order_customers = {}
    for record in reader.data("orders"):
        row = record.value and (record.value["after"] or record.value["before"])
        if row:
            assert record.partition == customer_partition(row["customer_id"], 3)
            order_customers[row["order_id"]] = row["customer_id"]
    for record in reader.data("order_lines"):
        row = record.value and (record.value["after"] or record.value["before"])
        if row:
            assert record.partition == customer_partition(order_customers[row["order_id"]], 3)

    # Transaction END counts equal the change events carrying that transaction id; each event is traced.
    per_tx = defaultdict(Counter)
    for record in data:
        if record.value is not None and record.value["transaction"] is not None:
            tx = record.value["transaction"]
            if (
                record.value["op"] != "t" or record.partition == 0
            ):  # a truncate is one event, copied per partition
                per_tx[tx["id"]][f"{record.value['source']['schema']}.{record.value['source']['table']}"] += 1
            assert record.headers["traceparent"].startswith(b"00-")
    ends = {r.value["id"]: r.value for r in reader.transactions() if r.value["status"] == "END"}
    begins = {r.value["id"] for r in reader.transactions() if r.value["status"] == "BEGIN"}
    assert set(ends) == set(per_tx) == begins
    for tx_id, end in ends.items():
        assert end["event_count"] == sum(per_tx[tx_id].values())
        assert {c["data_collection"]: c["event_count"] for c in end["data_collections"]} == dict(
            per_tx[tx_id]
        )
    assert len(exporter.get_finished_spans()) >= len(ends)
    truncates = [r for r in reader.data("notes") if r.value is not None and r.value["op"] == "t"]
    assert sorted(r.partition for r in truncates) == [0, 1, 2] and all(r.key is None for r in truncates)
