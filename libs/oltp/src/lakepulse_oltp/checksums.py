"""Per-table checksums computed inside PostgreSQL, to prove two loads are identical.

Each row's text form is hashed, the hashes are concatenated in primary-key order and hashed again, so
the client never pulls the data and memory stays at 32 bytes per row.
"""

from __future__ import annotations

from lakepulse_common.settings import LakePulseSettings
from lakepulse_oltp.catalog import PRIMARY_KEYS, PUBLISHED_TABLES
from lakepulse_oltp.database import connect


def table_checksums(settings: LakePulseSettings) -> dict[str, str]:
    """``{table: md5}`` over every published table; an empty table hashes to ``md5('')``."""
    checksums: dict[str, str] = {}
    conn = connect(settings)
    try:
        with conn, conn.cursor() as cur:
            for schema, name in PUBLISHED_TABLES:
                order = ", ".join(f"t.{column}" for column in PRIMARY_KEYS[name])
                cur.execute(
                    f"SELECT md5(coalesce(string_agg(md5(t::text), '' ORDER BY {order}), '')) "
                    f"FROM {schema}.{name} t"
                )
                checksums[name] = cur.fetchone()[0]  # type: ignore[index]
    finally:
        conn.close()
    return checksums
