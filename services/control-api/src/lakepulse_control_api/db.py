"""Engine, sessions and the Alembic upgrade the service runs at startup (before it serves a request)."""

from __future__ import annotations

import logging
from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from lakepulse_common.settings import PostgresSettings

log = logging.getLogger(__name__)

# Serialises concurrent migrations (two replicas starting together); an arbitrary fixed key.
_MIGRATION_LOCK_KEY = 0x1A4E_9C01


def create_db_engine(postgres: PostgresSettings) -> Engine:
    return create_engine(
        postgres.sqlalchemy_url(),
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args={"connect_timeout": 5, "application_name": "lakepulse-control-api"},
    )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def run_migrations(engine: Engine) -> None:
    """Bring the metadata schema to the newest revision; a no-op when it is already there."""
    config = Config()
    config.set_main_option("script_location", str(files("lakepulse_control_api") / "migrations"))
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            connection.commit()
    log.info("metadata schema is at the newest revision")


def database_is_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # readiness reports any failure as "not ready"; the cause is logged
        log.warning("postgres is not reachable", exc_info=True)
        return False
    return True
