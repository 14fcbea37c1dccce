"""Connections to the source database, built only from :class:`LakePulseSettings`."""

from __future__ import annotations

import psycopg2
from psycopg2.extensions import connection as PgConnection
from sqlalchemy import Engine, create_engine

from lakepulse_common.settings import LakePulseSettings

APPLICATION_NAME = "lakepulse-oltp"


def connect(settings: LakePulseSettings, *, autocommit: bool = False) -> PgConnection:
    """A raw psycopg2 connection: COPY and the simulator's hot path need the driver directly."""
    conn = psycopg2.connect(settings.postgres.dsn(), application_name=APPLICATION_NAME)
    conn.autocommit = autocommit
    return conn


def engine(settings: LakePulseSettings) -> Engine:
    """A SQLAlchemy engine for migrations and ground-truth queries; dispose it when done."""
    return create_engine(
        settings.postgres.sqlalchemy_url(),
        connect_args={"application_name": APPLICATION_NAME},
        pool_pre_ping=True,
    )
