"""Prometheus metrics of the emitter (served on ``telemetry.metrics_port``, default 9401).

Counters are incremented once per source transaction with that transaction's totals, not once
per event, to keep the hot path free of label lookups.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("lakepulse_cdc_events", "Change events produced", ["table", "op"])
BYTES = Counter("lakepulse_cdc_bytes", "Bytes of event values produced", ["table"])
TRANSACTIONS = Counter("lakepulse_cdc_transactions", "Source transactions emitted")
SLOT_LAG_BYTES = Gauge(
    "lakepulse_cdc_slot_lag_bytes", "pg_current_wal_lsn() - confirmed_flush_lsn of the slot"
)
CONFIRMED_LSN = Gauge("lakepulse_cdc_confirmed_flush_lsn", "Last LSN confirmed to the slot (all acked)")
COMMIT_TO_ACK_SECONDS = Histogram(
    "lakepulse_cdc_commit_to_ack_seconds",
    "Source commit → every event of the transaction acknowledged by Kafka",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ERRORS = Counter("lakepulse_cdc_errors", "Failures that stopped or disturbed the emitter", ["kind"])
TYPE_FALLBACKS = Counter(
    "lakepulse_cdc_type_fallbacks",
    "Values emitted as PostgreSQL text because their type or value has no Debezium mapping",
    ["table", "column"],
)
SNAPSHOT_ROWS = Counter("lakepulse_cdc_snapshot_rows", "Rows read by initial snapshots", ["table"])
SCHEMA_CHANGES = Counter("lakepulse_cdc_schema_changes", "Relation changes seen in the stream", ["table"])
