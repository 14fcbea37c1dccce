"""Turns converted rows into keyed, partitioned Kafka records: shared by the snapshot and the stream."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

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
        self._partitions: dict[str, int] = {}

    def topic_of(self, schema: TableSchema) -> tuple[str, int]:
        topic = self.topics.cdc(schema.table)
        partitions = self._partitions.get(topic)
        if partitions is None:
            partitions = self._partitions[topic] = self._ensure_topic(topic)
        return topic, partitions

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
        value = self.codec.encode_value(change_event(before, after, source, op, transaction, time.time_ns() // 1000))
        key_row = schema.key_of(after if after is not None else before)  # type: ignore[arg-type]
        key = None if key_row is None else self.codec.encode_key(key_row)
        partition = UNASSIGNED_PARTITION if customer is None else customer_partition(customer, partitions)
        if key is None and partition == UNASSIGNED_PARTITION:
            partition = 0  # keyless tables keep their order in one partition
        self.sink.produce(batch, topic, key, value, partition, headers)
        if op == "d" and key is not None:
            self.sink.produce(batch, topic, key, None, partition, headers)
            return 2
        return 1

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
        value = self.codec.encode_value(change_event(None, None, source, "t", transaction, time.time_ns() // 1000))
        for partition in range(partitions):
            self.sink.produce(batch, topic, None, value, partition, headers)
        return partitions
