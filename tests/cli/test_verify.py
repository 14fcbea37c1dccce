"""``lakepulse verify``'s source position: moved by writes, not by the emitter's WAL heartbeat."""

import psycopg2

from lakepulse_cli.verify import source_position
from lakepulse_common.settings import LakePulseSettings


def test_source_position_moves_with_writes_only(fresh_database: LakePulseSettings) -> None:
    conn = psycopg2.connect(fresh_database.postgres.dsn())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE probe (id int)")
        before = source_position(fresh_database)
        with conn.cursor() as cur:  # what the CDC emitter sends when idle
            cur.execute("SELECT pg_logical_emit_message(false, 'lakepulse-heartbeat:test', now()::text)")
        heartbeat = source_position(fresh_database)
        assert heartbeat.lsn != before.lsn  # the WAL moved ...
        assert heartbeat.writes_since(before) == 0  # ... but no data did
        with conn.cursor() as cur:
            cur.execute("INSERT INTO probe VALUES (1)")
        assert source_position(fresh_database).writes_since(before) == 1
    finally:
        conn.close()
