"""The publication and the logical replication slot: creating them, and reading the slot's stream."""

from __future__ import annotations

import graphlib
import logging
import time
from collections import Counter

import psycopg2
import psycopg2.extras
from psycopg2 import sql

from lakepulse_cdc_emitter.catalog import SESSION_OPTIONS, Catalog
from lakepulse_cdc_emitter.config import CdcSettings
from lakepulse_cdc_emitter.pgoutput import parse_lsn
from lakepulse_common.errors import ConfigurationError
from lakepulse_common.settings import PostgresSettings

log = logging.getLogger(__name__)


def ensure_publication(catalog: Catalog, cdc: CdcSettings) -> list[str]:
    """Create the publication when missing; returns its tables as ``schema.table``."""
    exists = catalog.fetchall("SELECT 1 FROM pg_publication WHERE pubname = %s", (cdc.publication,))
    if not exists:
        name = sql.Identifier(cdc.publication)
        if cdc.tables:
            targets = sql.SQL(", ").join(sql.Identifier(*t.split(".", 1)) for t in cdc.tables)
            catalog.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(name, targets))
        else:
            present = [
                r[0]
                for r in catalog.fetchall(
                    "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s) ORDER BY nspname",
                    (cdc.schemas,),
                )
            ]
            if not present:
                raise ConfigurationError(f"none of the schemas {cdc.schemas} exists in the source database")
            targets = sql.SQL(", ").join(sql.Identifier(s) for s in present)
            catalog.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLES IN SCHEMA {}").format(name, targets))
        log.info("created publication %s", cdc.publication)
    tables = [
        str(r[0])
        for r in catalog.fetchall(
            "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = %s ORDER BY 1",
            (cdc.publication,),
        )
    ]
    clashes = [name for name, n in Counter(t.split(".", 1)[1] for t in tables).items() if n > 1]
    if clashes:
        raise ConfigurationError(f"tables {clashes} exist in several captured schemas but share one topic")
    return tables


def snapshot_order(catalog: Catalog, tables: list[str]) -> list[str]:
    """Parents before children (foreign keys), so a consumer loading the snapshot in arrival order
    never sees a child row before its parent's table; alphabetical among equals and on cycles."""
    wanted = set(tables)
    edges = catalog.fetchall(
        "SELECT n1.nspname || '.' || c1.relname, n2.nspname || '.' || c2.relname FROM pg_constraint k"
        " JOIN pg_class c1 ON c1.oid = k.conrelid JOIN pg_namespace n1 ON n1.oid = c1.relnamespace"
        " JOIN pg_class c2 ON c2.oid = k.confrelid JOIN pg_namespace n2 ON n2.oid = c2.relnamespace"
        " WHERE k.contype = 'f' AND k.conrelid <> k.confrelid"
    )
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for name in sorted(tables):
        sorter.add(name)
    for child, parent in edges:
        if child in wanted and parent in wanted:
            sorter.add(child, parent)
    try:
        sorter.prepare()
    except graphlib.CycleError:
        return sorted(tables)
    ordered: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        ordered.extend(ready)
        sorter.done(*ready)
    return ordered


def slot_exists(catalog: Catalog, slot: str) -> bool:
    """Whether this database has the slot; a same-named slot of another database is an error
    (slot names are cluster-wide, and that slot is not ours to drop)."""
    rows = catalog.fetchall(
        "SELECT database = current_database(), plugin FROM pg_replication_slots WHERE slot_name = %s", (slot,)
    )
    if not rows:
        return False
    if not rows[0][0] or rows[0][1] != "pgoutput":
        raise ConfigurationError(f"replication slot {slot} belongs to another database or plugin")
    return True


def wait_slot_released(catalog: Catalog, slot: str, timeout_s: float = 60.0) -> None:
    """Wait until no walsender holds the slot: after a crash or a closed stream, the server needs a
    moment (at most ``wal_sender_timeout``) to notice the client is gone."""
    deadline = time.monotonic() + timeout_s
    while catalog.fetchall("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s AND active", (slot,)):
        if time.monotonic() > deadline:
            raise ConfigurationError(f"replication slot {slot} is still held by another connection")
        time.sleep(0.1)


def drop_slot(catalog: Catalog, slot: str) -> None:
    wait_slot_released(catalog, slot)
    catalog.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    log.warning("dropped replication slot %s", slot)


def open_replication(postgres: PostgresSettings) -> psycopg2.extras.LogicalReplicationConnection:
    return psycopg2.connect(
        postgres.dsn(),
        connection_factory=psycopg2.extras.LogicalReplicationConnection,
        options=SESSION_OPTIONS,
        application_name="lakepulse-cdc",
    )


def create_slot(
    cur: psycopg2.extras.ReplicationCursor, slot: str, export_snapshot: bool
) -> tuple[int, str | None]:
    """Create the pgoutput slot; returns (consistent point, exported snapshot name or None).

    The exported snapshot stays importable only until this connection runs its next command.
    """
    mode = "EXPORT_SNAPSHOT" if export_snapshot else "NOEXPORT_SNAPSHOT"
    cur.execute(f"CREATE_REPLICATION_SLOT {slot} LOGICAL pgoutput {mode}")  # slot name is pattern-validated
    row = cur.fetchone()
    if row is None:
        raise ConfigurationError(f"CREATE_REPLICATION_SLOT {slot} returned nothing")
    log.info("created replication slot %s at %s", slot, row[1])
    return parse_lsn(row[1]), row[2]


def start_stream(cur: psycopg2.extras.ReplicationCursor, cdc: CdcSettings) -> None:
    """Stream from the slot's confirmed position (start_lsn 0 = where the slot stands)."""
    cur.start_replication(
        slot_name=cdc.slot_name,
        decode=False,
        start_lsn=0,
        options={"proto_version": "1", "publication_names": cdc.publication},
    )
