"""The local Postgres is ready for logical decoding."""

import psycopg2
import pytest

from lakepulse_cli.stack import postgres
from tests.support import random_name

pytestmark = pytest.mark.integration


def test_wal_level_is_logical(stack):
    assert postgres.wal_level(stack) == "logical"


@pytest.mark.parametrize("plugin", ["pgoutput", "wal2json"])
def test_logical_replication_slot_can_be_created_and_dropped(fresh_database, plugin):
    slot = random_name("slot_")
    conn = psycopg2.connect(fresh_database.postgres.dsn())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT lsn FROM pg_create_logical_replication_slot(%s, %s)", (slot, plugin))
            assert cur.fetchone()[0] is not None
            cur.execute("SELECT plugin, slot_type FROM pg_replication_slots WHERE slot_name = %s", (slot,))
            assert cur.fetchone() == (plugin, "logical")
            cur.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            cur.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (slot,))
            assert cur.fetchone()[0] == 0
    finally:
        conn.close()


def test_the_configured_database_exists(stack):
    conn = psycopg2.connect(stack.postgres.dsn())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_database()")
            assert cur.fetchone()[0] == stack.postgres.database
    finally:
        conn.close()
