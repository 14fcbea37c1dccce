"""Where the emitter remembers whether its slot's snapshot finished, and where a re-snapshot is asked for.

A small table ``<state_schema>.emitter_state`` in the source database (outside the publication, so it
produces no events). The slot alone cannot say whether the snapshot that started with it was fully
delivered: a crash mid-snapshot leaves a slot with no complete snapshot behind it. So the status is
``running`` while a snapshot is delivered, ``done`` once Kafka acknowledged all of it, and
``requested`` when the control plane asks for a new one (:func:`request_snapshot`).
"""

from __future__ import annotations

import logging
from typing import Literal

from psycopg2 import sql

from lakepulse_cdc_emitter.catalog import Catalog
from lakepulse_cdc_emitter.config import CdcEmitterSettings

log = logging.getLogger(__name__)

Status = Literal["running", "done", "requested"]


class SnapshotState:
    def __init__(self, catalog: Catalog, state_schema: str, slot: str) -> None:
        self._catalog = catalog
        self._slot = slot
        self._table = sql.Identifier(state_schema, "emitter_state")
        self._schema = sql.Identifier(state_schema)

    def ensure(self) -> None:
        self._catalog.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self._schema))
        self._catalog.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (slot_name text PRIMARY KEY, status text NOT NULL,"
                " snapshot_lsn pg_lsn, updated_at timestamptz NOT NULL DEFAULT now())"
            ).format(self._table)
        )

    def status(self) -> Status | None:
        rows = self._catalog.fetchall(
            sql.SQL("SELECT status FROM {} WHERE slot_name = %s").format(self._table), (self._slot,)
        )
        return rows[0][0] if rows else None

    def set(self, status: Status, snapshot_lsn: str | None = None) -> None:
        self._catalog.execute(
            sql.SQL(
                "INSERT INTO {} (slot_name, status, snapshot_lsn) VALUES (%s, %s, %s::pg_lsn)"
                " ON CONFLICT (slot_name) DO UPDATE SET status = EXCLUDED.status,"
                " snapshot_lsn = COALESCE(EXCLUDED.snapshot_lsn, {}.snapshot_lsn), updated_at = now()"
            ).format(self._table, sql.Identifier("emitter_state")),
            (self._slot, status, snapshot_lsn),
        )

    def finish_snapshot(self, snapshot_lsn: str) -> None:
        """``running`` → ``done``; a request that arrived during the snapshot stays pending."""
        self._catalog.execute(
            sql.SQL(
                "UPDATE {} SET status = 'done', snapshot_lsn = %s::pg_lsn, updated_at = now()"
                " WHERE slot_name = %s AND status = 'running'"
            ).format(self._table),
            (snapshot_lsn, self._slot),
        )


def request_snapshot(settings: CdcEmitterSettings) -> None:
    """Ask the emitter for a fresh snapshot of every published table (control-plane entry point).

    A running emitter notices within ``cdc.status_interval_s``: it flushes what it produced, drops its
    slot, creates a new one with an exported snapshot, emits every row as op ``r`` and resumes
    streaming from the new slot. A stopped emitter does the same when it starts.
    """
    catalog = Catalog(settings.postgres)
    try:
        state = SnapshotState(catalog, settings.cdc.state_schema, settings.cdc.slot_name)
        state.ensure()
        state.set("requested")
        log.info("snapshot requested for slot %s", settings.cdc.slot_name)
    finally:
        catalog.close()
