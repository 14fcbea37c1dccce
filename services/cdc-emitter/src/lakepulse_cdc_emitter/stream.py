"""Decoded pgoutput messages → Debezium change events, transaction metadata and schema changes.

One :class:`ChangeStream` follows the replication stream's transactions. It is the hot path: per
row it does one parse, one conversion, one dict build, one ``orjson.dumps`` and one ``produce``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from opentelemetry import trace

from lakepulse_cdc_emitter import metrics
from lakepulse_cdc_emitter.delivery import Batch, Headers, trace_headers
from lakepulse_cdc_emitter.envelope import (
    CONNECTOR,
    SOURCE_VERSION,
    UNAVAILABLE_VALUE,
    transaction_begin,
    transaction_end,
    transaction_id,
)
from lakepulse_cdc_emitter.errors import PgOutputDecodeError
from lakepulse_cdc_emitter.events import EventWriter
from lakepulse_cdc_emitter.pgoutput import (
    UNCHANGED,
    Begin,
    Commit,
    Delete,
    Insert,
    LogicalMessage,
    Origin,
    Relation,
    Truncate,
    TupleValue,
    TypeInfo,
    Update,
    parse,
)
from lakepulse_cdc_emitter.relations import RelationRegistry, SchemaDiff, TableSchema

log = logging.getLogger(__name__)


class _Transaction:
    __slots__ = (
        "batch",
        "begin_sent",
        "commit_ts_us",
        "counts",
        "final_lsn",
        "headers",
        "id",
        "span",
        "total",
        "xid",
    )

    def __init__(self, begin: Begin, batch: Batch, span: trace.Span, headers: Headers) -> None:
        self.xid = begin.xid
        self.final_lsn = begin.final_lsn
        self.commit_ts_us = begin.commit_ts_us
        self.id = transaction_id(begin.xid, begin.final_lsn)
        self.batch = batch
        self.span = span
        self.headers = headers
        self.begin_sent = False
        self.total = 0
        self.counts: dict[str, int] = {}  # data collection → events, in first-seen order


class ChangeStream:
    def __init__(
        self,
        writer: EventWriter,
        registry: RelationRegistry,
        tracer: trace.Tracer,
        on_schema_change: Callable[[SchemaDiff, int], None],
    ) -> None:
        self._writer = writer
        self._registry = registry
        self._tracer = tracer
        self._on_schema_change = on_schema_change
        self._tx: _Transaction | None = None
        self._op_counts: dict[tuple[str, str], int] = {}
        self._server_name = writer.sources.server_name
        self._database = writer.sources.database

    @property
    def in_transaction(self) -> bool:
        return self._tx is not None

    def handle(self, payload: bytes, lsn: int) -> None:
        msg = parse(payload)
        kind = type(msg)
        if kind is Insert:
            self._insert(msg, lsn)  # type: ignore[arg-type]
        elif kind is Update:
            self._update(msg, lsn)  # type: ignore[arg-type]
        elif kind is Delete:
            self._delete(msg, lsn)  # type: ignore[arg-type]
        elif kind is Begin:
            self._begin(msg)  # type: ignore[arg-type]
        elif kind is Commit:
            self._commit(msg)  # type: ignore[arg-type]
        elif kind is Relation:
            self._relation(msg, lsn)  # type: ignore[arg-type]
        elif kind is Truncate:
            self._truncate(msg, lsn)  # type: ignore[arg-type]
        elif kind in (TypeInfo, Origin, LogicalMessage):
            return  # type details come from the catalog; origins and messages carry no row change
        else:  # pragma: no cover - parse() only returns the kinds above
            raise PgOutputDecodeError(f"unhandled message {msg!r}")

    # transactions -----------------------------------------------------------------------------

    def _begin(self, begin: Begin) -> None:
        if self._tx is not None:
            raise PgOutputDecodeError(f"BEGIN of xid {begin.xid} inside xid {self._tx.xid}")
        span = self._tracer.start_span(
            "cdc.transaction",
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "db.system": "postgresql",
                "lakepulse.cdc.xid": begin.xid,
                "lakepulse.cdc.lsn": begin.final_lsn,
            },
        )
        with trace.use_span(span, end_on_exit=False):
            headers = trace_headers()
        batch = self._writer.sink.open_batch(0, begin.commit_ts_us)
        self._tx = _Transaction(begin, batch, span, headers)

    def _commit(self, commit: Commit) -> None:
        tx = self._require_tx()
        tx.batch.lsn = commit.end_lsn
        if tx.begin_sent:
            ts_ms = commit.commit_ts_us // 1000
            self._write_transaction_record(tx, transaction_end(tx.id, tx.counts, ts_ms))
            metrics.TRANSACTIONS.inc()
            for (table, op), n in self._op_counts.items():
                metrics.EVENTS.labels(table, op).inc(n)
            self._op_counts.clear()
            self._writer.flush_metrics()
        self._writer.sink.close_batch(tx.batch)
        tx.span.set_attribute("lakepulse.cdc.events", tx.total)
        tx.span.end()
        self._tx = None

    def _require_tx(self) -> _Transaction:
        if self._tx is None:
            raise PgOutputDecodeError("change outside a transaction")
        return self._tx

    def _write_transaction_record(self, tx: _Transaction, record: dict[str, Any]) -> None:
        writer = self._writer
        key = writer.codec.encode_key({"id": tx.id})
        value = writer.codec.encode_value(record)
        writer.sink.produce(tx.batch, writer.topics.transaction, key, value, 0, tx.headers)

    # rows -------------------------------------------------------------------------------------

    def _schema(self, relid: int) -> TableSchema:
        try:
            return self._registry.get(relid)
        except KeyError:
            raise PgOutputDecodeError(f"change for relation {relid} before its Relation message") from None

    def _emit(
        self,
        schema: TableSchema,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        op: str,
        lsn: int,
        customer: str | None,
    ) -> None:
        tx = self._require_tx()
        if not tx.begin_sent:
            tx.begin_sent = True
            self._write_transaction_record(tx, transaction_begin(tx.id, tx.commit_ts_us // 1000))
        collection = schema.qualified_name
        order = tx.counts.get(collection, 0) + 1
        tx.counts[collection] = order
        tx.total += 1
        source = {  # SourceFactory.source(), inlined: this is the per-row hot path
            "version": SOURCE_VERSION,
            "connector": CONNECTOR,
            "name": self._server_name,
            "ts_ms": tx.commit_ts_us // 1000,
            "snapshot": "false",
            "db": self._database,
            "sequence": f'["{tx.final_lsn}","{lsn}"]',
            "ts_us": tx.commit_ts_us,
            "ts_ns": tx.commit_ts_us * 1000,
            "schema": schema.schema,
            "table": schema.table,
            "txId": tx.xid,
            "lsn": lsn,
            "xmin": None,
        }
        transaction = {"id": tx.id, "total_order": tx.total, "data_collection_order": order}
        if op == "t":
            self._writer.write_truncate(tx.batch, schema, source, transaction, tx.headers)
        else:
            self._writer.write_change(
                tx.batch, schema, before, after, op, source, transaction, tx.headers, customer
            )
        counter_key = (schema.table, op)
        self._op_counts[counter_key] = self._op_counts.get(counter_key, 0) + 1

    def _insert(self, msg: Insert, lsn: int) -> None:
        schema = self._schema(msg.relid)
        customer = self._writer.customer_for(schema, msg.new)
        self._emit(schema, None, schema.convert(msg.new), "c", lsn, customer)

    def _update(self, msg: Update, lsn: int) -> None:
        schema = self._schema(msg.relid)
        new = msg.new
        unavailable: list[str] = []
        if UNCHANGED in new:
            new, unavailable = _fill_unchanged(schema, new, msg.old if not msg.old_is_key_only else None)
        after = schema.convert(new)
        for name in unavailable:
            after[name] = UNAVAILABLE_VALUE
        before = None
        if msg.old is not None:
            before = _convert_old(schema, msg.old)
        customer = self._writer.customer_for(schema, new)
        self._emit(schema, before, after, "u", lsn, customer)

    def _delete(self, msg: Delete, lsn: int) -> None:
        schema = self._schema(msg.relid)
        customer = self._writer.customer_for(schema, msg.old)
        self._emit(schema, _convert_old(schema, msg.old), None, "d", lsn, customer)

    def _truncate(self, msg: Truncate, lsn: int) -> None:
        for relid in msg.relids:
            self._emit(self._schema(relid), None, None, "t", lsn, None)

    def _relation(self, relation: Relation, lsn: int) -> None:
        schema, diff = self._registry.from_relation(relation)
        self._writer.topic_of(schema)  # create the topic before the first row needs it
        if diff is not None:
            metrics.SCHEMA_CHANGES.labels(schema.table).inc()
            self._on_schema_change(diff, self._tx.final_lsn if self._tx is not None else lsn)


def _fill_unchanged(
    schema: TableSchema, new: list[TupleValue], old: list[TupleValue] | None
) -> tuple[list[TupleValue], list[str]]:
    """Unchanged TOAST values come from the full old tuple; without one they become the placeholder."""
    filled: list[TupleValue] = []
    unavailable: list[str] = []
    for index, value in enumerate(new):
        if value is UNCHANGED:
            previous = old[index] if old is not None and index < len(old) else UNCHANGED
            if previous is UNCHANGED:
                unavailable.append(schema.names[index])
                previous = None
            filled.append(previous)
        else:
            filled.append(value)
    return filled, unavailable


def _convert_old(schema: TableSchema, old: list[TupleValue]) -> dict[str, Any]:
    if UNCHANGED not in old:
        return schema.convert(old)
    values, unavailable = _fill_unchanged(schema, old, None)
    row = schema.convert(values)
    for name in unavailable:
        row[name] = UNAVAILABLE_VALUE
    return row
