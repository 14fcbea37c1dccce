"""The initial (or requested) snapshot: every published table, read at the slot's consistent point.

The slot is created with ``EXPORT_SNAPSHOT``; this module imports that snapshot into a REPEATABLE READ
transaction, so the rows read are exactly those committed before the slot's consistent point and
streaming from the slot continues with no gap and no overlap. Tables are read through a server-side
cursor ``snapshot_chunk_rows`` at a time, so memory stays bounded whatever the table size. Values are
selected as ``::text`` so they go through the same converters as the stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from opentelemetry import trace
from psycopg2 import extensions, sql

from lakepulse_cdc_emitter import metrics
from lakepulse_cdc_emitter.catalog import connect
from lakepulse_cdc_emitter.config import CdcEmitterSettings
from lakepulse_cdc_emitter.delivery import trace_headers
from lakepulse_cdc_emitter.envelope import sequence
from lakepulse_cdc_emitter.errors import SnapshotInterrupted
from lakepulse_cdc_emitter.events import EventWriter
from lakepulse_cdc_emitter.relations import RelationRegistry, TableSchema

log = logging.getLogger(__name__)

_CUSTOMER_ALIAS = "__lakepulse_customer"


def _columns(cur: extensions.cursor, table: str) -> list[tuple[str, int]]:
    cur.execute(
        "SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = %s::regclass"
        " AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (table,),
    )
    return [(str(name), int(oid)) for name, oid in cur.fetchall()]


def _select(schema: TableSchema, settings: CdcEmitterSettings) -> sql.Composed:
    columns = [sql.SQL("t.{}::text").format(sql.Identifier(name)) for name in schema.names]
    routing = settings.cdc.routing
    if schema.route == "order_lines":
        # The order's customer, read in the same snapshot: no per-row cache miss, no race.
        orders_schema, _, orders_table = routing.orders_table.partition(".")
        columns.append(
            sql.SQL("(SELECT o.{cust}::text FROM {orders} o WHERE o.{oid} = t.{oid}) AS {alias}").format(
                cust=sql.Identifier(routing.customer_column),
                orders=sql.Identifier(orders_schema, orders_table),
                oid=sql.Identifier(routing.order_id_column),
                alias=sql.Identifier(_CUSTOMER_ALIAS),
            )
        )
    return sql.SQL("SELECT {} FROM {} t").format(
        sql.SQL(", ").join(columns), sql.Identifier(schema.schema, schema.table)
    )


class SnapshotReader:
    def __init__(
        self,
        settings: CdcEmitterSettings,
        writer: EventWriter,
        registry: RelationRegistry,
        tracer: trace.Tracer,
        stop_requested: Callable[[], bool],
    ) -> None:
        self._stop_requested = stop_requested
        self._settings = settings
        self._writer = writer
        self._registry = registry
        self._tracer = tracer

    def run(self, snapshot_name: str, consistent_lsn: int, tables: list[str]) -> int:
        """Emit every row of ``tables`` as op ``r``; returns the row count. Caller flushes the sink."""
        conn = connect(self._settings.postgres)
        try:
            conn.set_session(isolation_level=extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION SNAPSHOT %s", (snapshot_name,))
                cur.execute("SELECT txid_snapshot_xmin(txid_current_snapshot())")
                row = cur.fetchone()
                tx_id = int(row[0]) if row else None
                schemas = [self._registry.from_catalog(t, _columns(cur, t)) for t in tables]
            return self._emit_all(conn, schemas, tx_id, consistent_lsn)
        finally:
            conn.rollback()
            conn.close()

    def _rows(self, conn: Any, schema: TableSchema) -> Iterator[tuple[Any, ...]]:
        with conn.cursor(name=f"lakepulse_snapshot_{schema.relid}") as cur:
            cur.itersize = self._settings.cdc.snapshot_chunk_rows
            cur.execute(_select(schema, self._settings))
            while True:
                chunk = cur.fetchmany(self._settings.cdc.snapshot_chunk_rows)
                if not chunk:
                    return
                if self._stop_requested():
                    raise SnapshotInterrupted(f"snapshot of {schema.qualified_name} interrupted by shutdown")
                yield from chunk

    def _emit_all(self, conn: Any, schemas: list[TableSchema], tx_id: int | None, lsn: int) -> int:
        writer = self._writer
        sink = writer.sink
        seq = sequence(None, lsn)
        started_us = time.time_ns() // 1000
        batch = sink.open_batch(lsn, 0)
        pending: tuple[TableSchema, tuple[Any, ...]] | None = None
        count = 0
        with self._tracer.start_as_current_span("cdc.snapshot", attributes={"lakepulse.cdc.lsn": lsn}):
            headers = trace_headers()

            def emit(item: tuple[TableSchema, tuple[Any, ...]], marker: str) -> None:
                schema, values = item
                width = len(schema.names)
                if schema.route == "order_lines" and len(values) > width:
                    customer = values[width]
                    values = values[:width]
                else:
                    customer = writer.customer_for(schema, values)
                source = writer.sources.source(
                    schema=schema.schema,
                    table=schema.table,
                    ts_us=started_us,
                    snapshot=marker,
                    tx_id=tx_id,
                    lsn=lsn,
                    sequence=seq,
                )
                after = schema.convert(values)
                writer.write_change(batch, schema, None, after, "r", source, None, headers, customer)

            for schema in schemas:
                log.info("snapshot of %s started", schema.qualified_name)
                table_rows = 0
                for values in self._rows(conn, schema):
                    if pending is not None:
                        emit(pending, "first" if count == 1 else "true")
                    pending = (schema, values)
                    count += 1
                    table_rows += 1
                metrics.SNAPSHOT_ROWS.labels(schema.table).inc(table_rows)
                metrics.EVENTS.labels(schema.table, "r").inc(table_rows)
                log.info("snapshot of %s read %d rows", schema.qualified_name, table_rows)
            if pending is not None:
                emit(pending, "last")
        sink.close_batch(batch)
        writer.flush_metrics()
        return count
