"""What the emitter knows about each captured table: columns, converters, key, topic, routing.

Built from pgoutput Relation messages (streaming) or from the catalog (snapshot), so a column added
by ``ALTER TABLE`` shows up from the first change that carries it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from lakepulse_cdc_emitter import metrics
from lakepulse_cdc_emitter.catalog import Catalog
from lakepulse_cdc_emitter.config import CustomerRouting
from lakepulse_cdc_emitter.errors import PgOutputDecodeError
from lakepulse_cdc_emitter.pgoutput import Relation, TupleValue
from lakepulse_cdc_emitter.types import Converter, as_text, converter_for

log = logging.getLogger(__name__)

Route = Literal["orders", "order_lines"] | None


@dataclass(frozen=True)
class SchemaDiff:
    table: str
    added: list[str]
    removed: list[str]
    retyped: list[str]
    columns: list[dict[str, Any]]


@dataclass(slots=True)
class TableSchema:
    relid: int
    schema: str
    table: str
    names: tuple[str, ...]
    type_oids: tuple[int, ...]
    converters: tuple[Converter, ...]
    key_columns: tuple[str, ...]
    replica_identity: str
    route: Route = None
    route_index: int = -1  # orders: customer column; order_lines: order id column
    order_id_index: int = -1  # orders: its order id column
    columns_signature: tuple[tuple[str, int], ...] = field(default=())
    qualified_name: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.qualified_name = f"{self.schema}.{self.table}"  # "data_collection" of transaction records

    def convert(self, values: list[TupleValue] | tuple[Any, ...]) -> dict[str, Any]:
        """Text values → a Debezium ``before``/``after`` object (UNCHANGED already resolved)."""
        try:
            return {
                name: None if value is None else conv(value)
                for name, conv, value in zip(self.names, self.converters, values, strict=True)
            }
        except (ValueError, TypeError, OverflowError, IndexError):
            return self._convert_with_fallback(values)

    def _convert_with_fallback(self, values: list[TupleValue] | tuple[Any, ...]) -> dict[str, Any]:
        if len(values) != len(self.names):
            raise PgOutputDecodeError(
                f"{self.qualified_name}: tuple has {len(values)} columns, relation has {len(self.names)}"
            )
        row: dict[str, Any] = {}
        for name, conv, value in zip(self.names, self.converters, values, strict=True):
            if value is None:
                row[name] = None
                continue
            try:
                row[name] = conv(value)
            except (ValueError, TypeError, OverflowError):
                metrics.TYPE_FALLBACKS.labels(self.qualified_name, name).inc()
                row[name] = str(value)
        return row

    def key_of(self, row: dict[str, Any]) -> dict[str, Any] | None:
        if not self.key_columns:
            return None
        return {name: row[name] for name in self.key_columns}


class RelationRegistry:
    def __init__(self, catalog: Catalog, routing: CustomerRouting) -> None:
        self._catalog = catalog
        self._routing = routing
        self._by_relid: dict[int, TableSchema] = {}
        self._type_cache: dict[int, Converter] = {}

    def get(self, relid: int) -> TableSchema:
        return self._by_relid[relid]

    def __contains__(self, relid: int) -> bool:
        return relid in self._by_relid

    def from_relation(self, relation: Relation) -> tuple[TableSchema, SchemaDiff | None]:
        """Register a Relation message; returns the new schema and how it differs from the last one."""
        columns = [(c.name, c.type_oid) for c in relation.columns]
        schema = self._build(
            relation.relid, relation.namespace, relation.name, columns, relation.replica_identity
        )
        previous = self._by_relid.get(relation.relid)
        self._by_relid[relation.relid] = schema
        if previous is None or previous.columns_signature == schema.columns_signature:
            return schema, None
        old, new = dict(previous.columns_signature), dict(schema.columns_signature)
        diff = SchemaDiff(
            table=schema.qualified_name,
            added=[c for c in new if c not in old],
            removed=[c for c in old if c not in new],
            retyped=[c for c in new if c in old and old[c] != new[c]],
            columns=[{"name": n, "type_oid": t} for n, t in schema.columns_signature],
        )
        log.info("schema change on %s: %s", schema.qualified_name, diff)
        return schema, diff

    def from_catalog(self, qualified: str, columns: list[tuple[str, int]]) -> TableSchema:
        """Schema for the snapshot, read from the catalog at the snapshot's point in time."""
        relid = self._catalog.relid_of(qualified)
        namespace, _, name = qualified.partition(".")
        rows = self._catalog.fetchall("SELECT relreplident FROM pg_class WHERE oid = %s", (relid,))
        schema = self._build(relid, namespace, name, columns, str(rows[0][0]))
        self._by_relid.setdefault(relid, schema)
        return schema

    def _build(
        self, relid: int, namespace: str, name: str, columns: list[tuple[str, int]], identity: str
    ) -> TableSchema:
        qualified = f"{namespace}.{name}"
        names = tuple(c[0] for c in columns)
        converters = tuple(self._converter(qualified, col, oid) for col, oid in columns)
        key = tuple(self._catalog.primary_key(relid))
        if identity != "f":
            log.warning("%s has REPLICA IDENTITY %r, not FULL: `before` will be partial", qualified, identity)
        schema = TableSchema(
            relid=relid,
            schema=namespace,
            table=name,
            names=names,
            type_oids=tuple(c[1] for c in columns),
            converters=converters,
            key_columns=key,
            replica_identity=identity,
            columns_signature=tuple(columns),
        )
        self._attach_route(schema)
        return schema

    def _attach_route(self, schema: TableSchema) -> None:
        routing = self._routing
        if not routing.enabled:
            return
        try:
            if schema.qualified_name == routing.orders_table:
                schema.route = "orders"
                schema.route_index = schema.names.index(routing.customer_column)
                schema.order_id_index = schema.names.index(routing.order_id_column)
            elif schema.qualified_name == routing.order_lines_table:
                schema.route = "order_lines"
                schema.route_index = schema.names.index(routing.order_id_column)
        except ValueError:
            log.warning("%s lacks the routing columns; partitioned by key instead", schema.qualified_name)
            schema.route = None

    def _converter(self, table: str, column: str, oid: int) -> Converter:
        conv = converter_for(oid) or self._type_cache.get(oid)
        if conv is not None:
            return conv
        info = self._catalog.type_info(oid)
        if info is not None and info[0] == "e":  # enum: Debezium's io.debezium.data.Enum is a string
            conv = as_text
        elif info is not None and info[0] == "d":  # domain: use its base type
            conv = converter_for(info[1]) or None
        if conv is not None:
            self._type_cache[oid] = conv
            return conv
        log.warning("%s.%s has unmapped type oid %s: emitted as text", table, column, oid)
        counter = metrics.TYPE_FALLBACKS.labels(table, column)

        def fallback(text: str) -> str:
            counter.inc()
            return text

        return fallback
