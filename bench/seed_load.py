"""Seed bulk-load benchmark: rows/s of ``lakepulse seed`` into a fresh database.

Usage: ``uv run python bench/seed_load.py --scale 1.0 --json OUT``. The database server comes from the
standard settings (``LAKEPULSE_POSTGRES__*``); a throwaway database is created on it, migrated, loaded
and dropped. Target: ≥ 1,000,000 transactional rows in ≤ 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from psycopg2 import sql
from rich.console import Console
from rich.table import Table

from lakepulse_common.settings import LakePulseSettings
from lakepulse_oltp.migrations import migrate
from lakepulse_oltp.seeding import seed

TARGET_ROWS = 1_000_000
TARGET_SECONDS = 60.0


def _admin(settings: LakePulseSettings) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(settings.postgres.dsn("postgres"))
    conn.autocommit = True
    return conn


@contextmanager
def scratch_database(settings: LakePulseSettings, prefix: str) -> Iterator[LakePulseSettings]:
    """A new empty database on the configured server, dropped afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    conn = _admin(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()
    try:
        yield settings.model_copy(
            update={"postgres": settings.postgres.model_copy(update={"database": name})}, deep=True
        )
    finally:
        conn = _admin(settings)
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        finally:
            conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    settings = LakePulseSettings()
    with scratch_database(settings, "lakepulse_bench_seed") as target:
        migrate(target)
        started = time.perf_counter()
        result = seed(target, args.scale, args.seed)
        wall_s = time.perf_counter() - started

    figures = {
        "scale": args.scale,
        "rows_total": result.total_rows,
        "rows_transactional": result.transactional_rows,
        "seconds": round(wall_s, 3),
        "rows_per_s": round(result.total_rows / wall_s, 1),
        "transactional_rows_per_s": round(result.transactional_rows / wall_s, 1),
        "rows_per_table": result.rows,
        "meets_target": result.transactional_rows >= TARGET_ROWS * args.scale and wall_s <= TARGET_SECONDS,
    }
    table = Table(title=f"seed load, scale {args.scale:g}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        if key != "rows_per_table":
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            table.add_row(key, f"{value:,}" if numeric else str(value))
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
