"""Fixtures for the OLTP source tests: migrated and seeded databases on the session's test stack."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from psycopg2 import sql

from lakepulse_common.settings import LakePulseSettings
from lakepulse_oltp.migrations import migrate
from lakepulse_oltp.seeding import seed
from tests.conftest import drop_database
from tests.support import random_name

SMALL_SCALE = 0.01


@pytest.fixture
def migrated_database(fresh_database: LakePulseSettings) -> LakePulseSettings:
    migrate(fresh_database)
    return fresh_database


@pytest.fixture
def seeded_database(migrated_database: LakePulseSettings) -> LakePulseSettings:
    seed(migrated_database, SMALL_SCALE, 7, progress=False)
    return migrated_database


@pytest.fixture
def second_database(fresh_database: LakePulseSettings) -> Iterator[LakePulseSettings]:
    """Another empty database next to ``fresh_database`` (for comparing two loads)."""
    name = random_name("db_")
    conn = psycopg2.connect(fresh_database.postgres.dsn("postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()
    yield fresh_database.model_copy(
        update={"postgres": fresh_database.postgres.model_copy(update={"database": name})}, deep=True
    )
    drop_database(fresh_database, name)


def scalar(settings: LakePulseSettings, query: str) -> Any:
    conn = psycopg2.connect(settings.postgres.dsn())
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query)
            row = cur.fetchone()
            assert row is not None
            return row[0]
    finally:
        conn.close()


def rows(settings: LakePulseSettings, query: str) -> list[tuple[object, ...]]:
    conn = psycopg2.connect(settings.postgres.dsn())
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchall()
    finally:
        conn.close()
