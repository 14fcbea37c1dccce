"""Turns converted rows into keyed, partitioned Kafka records: shared by the snapshot and the stream."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from lakepulse_cdc_emitter import metrics
from lakepulse_cdc_emitter.delivery import Batch, EventSink, Headers
from lakepulse_cdc_emitter.envelope import Codec, SourceFactory, change_event
from lakepulse_cdc_emitter.partitioning import OrderCustomerCache, customer_partition
from lakepulse_cdc_emitter.relations import TableSchema
from lakepulse_common.topics import TopicNames

log = logging.getLogger(__name__)

UNASSIGNED_PARTITION = -1  # librdkafka's murmur2_random partitioner: Java-compatible for keyed records


class EventWriter:
    def __init__(
        self,
        sink: EventSink,
        codec: Codec,
        topics: TopicNames,
        sources: SourceFactory,
        customers: OrderCustomerCache,
        ensure_topic: Callable[[str], int],
    ) -> None:
        self.sink = sink
        self.codec = codec
        self.topics = topics
        self.sources = sources
        self.customers = customers
        self._ensure_topic = ensure_topic
        self._by_table: dict[str, tuple[str, int]] = {}
        self._encode_value = codec.encode_value
        self.value_bytes: dict[str, int] = {}  # per table, flushed to the metric by flush_metrics()
        self._encode_key = codec.encode_key

    def topic_of(self, schema: TableSchema) -> tuple[str, int]:
        """The table's topic and partition count (created on first use)."""
        known = self._by_table.get(schema.table)
        if known is None:
            topic = self.topics.cdc(schema.table)
            known = self._by_table[schema.table] = (topic, self._ensure_topic(topic))
        return known

    def customer_for(self, schema: TableSchema, values: list[Any] | tuple[Any, ...]) -> str | None:
        """The customer a row belongs to, from its raw text values (orders and order lines only)."""
        if schema.route == "orders":
            customer = values[schema.route_index]
            if customer is not None:
                self.customers.remember(values[schema.order_id_index], customer)
            return customer if customer is None else str(customer)
        if schema.route == "order_lines":
            order_id = values[schema.route_index]
            return None if order_id is None else self.customers.customer_of(order_id)
        return None

    def write_change(
        self,
        batch: Batch,
        schema: TableSchema,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        op: str,
        source: dict[str, Any],
        transaction: dict[str, Any] | None,
        headers: Headers,
        customer: str | None,
    ) -> int:
        """Produce one change event (plus a tombstone after a delete); returns the records written."""
        topic, partitions = self.topic_of(schema)
        now_us = time.time_ns() // 1000
        value = self._encode_value(
            {  # change_event(), inlined: this is the per-row hot path
                "before": before,
                "after": after,
                "source": source,
                "transaction": transaction,
                "op": op,
                "ts_ms": now_us // 1000,
                "ts_us": now_us,
                "ts_ns": now_us * 1000,
            }
        )
        self.value_bytes[schema.table] = self.value_bytes.get(schema.table, 0) + len(value)
        row = after if after is not None else before
        key = None
        if schema.key_columns and row is not None:
            key = self._encode_key({name: row[name] for name in schema.key_columns})
        partition = UNASSIGNED_PARTITION if customer is None else customer_partition(customer, partitions)
        if key is None and partition == UNASSIGNED_PARTITION:
            partition = 0  # keyless tables keep their order in one partition
        self.sink.produce(batch, topic, key, value, partition, headers)
        if op == "d" and key is not None:
            self.sink.produce(batch, topic, key, None, partition, headers)
            return 2
        return 1

    def flush_metrics(self) -> None:
        for table, size in self.value_bytes.items():
            metrics.BYTES.labels(table).inc(size)
        self.value_bytes.clear()

    def write_truncate(
        self,
        batch: Batch,
        schema: TableSchema,
        source: dict[str, Any],
        transaction: dict[str, Any] | None,
        headers: Headers,
    ) -> int:
        """A truncate goes to every partition, so it is ordered against the rows in each of them."""
        topic, partitions = self.topic_of(schema)
        value = self.codec.encode_value(
            change_event(None, None, source, "t", transaction, time.time_ns() // 1000)
        )
        for partition in range(partitions):
            self.sink.produce(batch, topic, None, value, partition, headers)
        return partitions
