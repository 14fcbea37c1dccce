"""Ordinary (non-replication) queries against the source database: catalog facts, slot lag, state.

One autocommit connection, used from the emitter's main thread only. Every session of the emitter
(this one, the replication stream and the snapshot) runs with the same output settings, so values
arrive in one text format whichever path read them.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from lakepulse_common.settings import PostgresSettings

log = logging.getLogger(__name__)

SESSION_OPTIONS = "-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=iso_8601 -c extra_float_digits=3"


def connect(postgres: PostgresSettings, **kwargs: Any) -> psycopg2.extensions.connection:
    """A libpq connection with the emitter's session options (DSN never logged)."""
    conn: psycopg2.extensions.connection = psycopg2.connect(
        postgres.dsn(), options=SESSION_OPTIONS, application_name="lakepulse-cdc", **kwargs
    )
    return conn


class Catalog:
    def __init__(self, postgres: PostgresSettings) -> None:
        self._conn = connect(postgres)
        self._conn.autocommit = True

    def close(self) -> None:
        self._conn.close()

    def fetchall(self, query: str | sql.Composable, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def execute(self, query: str | sql.Composable, params: tuple[Any, ...] = ()) -> None:
        with self._conn.cursor() as cur:
            cur.execute(query, params)

    def primary_key(self, relid: int) -> list[str]:
        rows = self.fetchall(
            """SELECT a.attname FROM pg_index i
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
               WHERE i.indrelid = %s AND i.indisprimary
               ORDER BY array_position(i.indkey, a.attnum)""",
            (relid,),
        )
        return [r[0] for r in rows]

    def type_info(self, oid: int) -> tuple[str, int, str] | None:
        """(typtype, typbasetype, typcategory) of a type, to resolve enums and domains."""
        rows = self.fetchall("SELECT typtype, typbasetype, typcategory FROM pg_type WHERE oid = %s", (oid,))
        return (str(rows[0][0]), int(rows[0][1]), str(rows[0][2])) if rows else None

    def relid_of(self, qualified: str) -> int:
        rows = self.fetchall("SELECT %s::regclass::oid", (qualified,))
        return int(rows[0][0])

    def slot_lag_bytes(self, slot: str) -> int | None:
        rows = self.fetchall(
            "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM pg_replication_slots"
            " WHERE slot_name = %s",
            (slot,),
        )
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def emit_heartbeat_message(self, prefix: str) -> None:
        """Writes a tiny non-transactional WAL record so an idle database still gives the slot a
        position to advance to (pgoutput does not forward it: the ``messages`` option is off)."""
        self.execute("SELECT pg_logical_emit_message(false, %s, now()::text)", (prefix,))

    def lookup_one(self, table: str, column: str, where_column: str, value: Any) -> Any | None:
        schema, _, name = table.partition(".")
        query = sql.SQL("SELECT {col}::text FROM {tbl} WHERE {where} = %s").format(
            col=sql.Identifier(column), tbl=sql.Identifier(schema, name), where=sql.Identifier(where_column)
        )
        rows = self.fetchall(query, (value,))
        return rows[0][0] if rows else None
