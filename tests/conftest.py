"""Session-wide fixtures: ONE real local stack (Postgres, Kafka) per test session, Spark on demand.

The test stack has its own state dir and ports, so it never disturbs a developer's `make up` stack.
Set LAKEPULSE_TEST_KEEP_STACK=1 to leave it running after the session (faster reruns).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg2
import pytest
from psycopg2 import sql

from lakepulse_cli.stack import Stack
from lakepulse_common.settings import LakePulseSettings
from tests.support import random_name

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_STATE_DIR = REPO_ROOT / ".lakepulse" / "test"
SHARED_JARS = REPO_ROOT / ".lakepulse" / "jars"


def _test_settings() -> LakePulseSettings:
    env = {
        "LAKEPULSE_STATE_DIR": str(TEST_STATE_DIR),
        "LAKEPULSE_POSTGRES__PORT": os.environ.get("LAKEPULSE_TEST_PG_PORT", "25432"),
        "LAKEPULSE_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:"
        + os.environ.get("LAKEPULSE_TEST_KAFKA_PORT", "29092"),
        "LAKEPULSE_KAFKA__CONTROLLER_PORT": os.environ.get("LAKEPULSE_TEST_KAFKA_CONTROLLER_PORT", "29093"),
        "LAKEPULSE_SPARK__JARS_DIR": str(SHARED_JARS / "spark"),
        "LAKEPULSE_TELEMETRY__LOG_FORMAT": "console",
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        return LakePulseSettings()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _link_jars(state_dir: Path) -> None:
    """The test stack reuses the jars `make setup` fetched instead of fetching them again."""
    target = state_dir / "jars"
    if not target.exists() and SHARED_JARS.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        target.symlink_to(SHARED_JARS, target_is_directory=True)


@pytest.fixture(scope="session")
def stack() -> Iterator[LakePulseSettings]:
    """Start the test stack, or join one that another session runs.

    Every session holds a shared lock on ``.stack.users`` while it runs; the session that started
    the stack stops it at the end only when it can take that lock exclusively (nobody else uses it).
    """
    settings = _test_settings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    _link_jars(settings.state_dir)
    local_stack = Stack(settings)
    users = (settings.state_dir / ".stack.users").open("w")
    with (settings.state_dir / ".stack.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent sessions must not start two supervisords
        started_here = not local_stack.supervisor.is_running()
        local_stack.up()
        fcntl.flock(users, fcntl.LOCK_SH)
    yield settings
    try:
        if started_here and not os.environ.get("LAKEPULSE_TEST_KEEP_STACK"):
            with (settings.state_dir / ".stack.lock").open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return  # another session still uses the stack: leave it running
                local_stack.down()
    finally:
        users.close()


@pytest.fixture
def settings(stack: LakePulseSettings) -> LakePulseSettings:
    """The test stack's settings with a random topic prefix: this test's topics are its own."""
    return stack.model_copy(
        update={"kafka": stack.kafka.model_copy(update={"topic_prefix": random_name("t")})}, deep=True
    )


def _admin_connection(settings: LakePulseSettings) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(settings.postgres.dsn("postgres"))
    conn.autocommit = True
    return conn


def drop_database(settings: LakePulseSettings, name: str) -> None:
    """Drop a database with its replication slots (a slot pins WAL) and open connections."""
    conn = _admin_connection(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots"
                " WHERE database = %s AND active_pid IS NOT NULL",
                (name,),
            )
            cur.execute("SELECT slot_name FROM pg_replication_slots WHERE database = %s", (name,))
            for (slot,) in cur.fetchall():
                cur.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        conn.close()


@pytest.fixture
def fresh_database(settings: LakePulseSettings) -> Iterator[LakePulseSettings]:
    """Settings pointing at a new, empty database; dropped (with its slots) afterwards."""
    name = random_name("db_")
    conn = _admin_connection(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()
    yield settings.model_copy(
        update={"postgres": settings.postgres.model_copy(update={"database": name})}, deep=True
    )
    drop_database(settings, name)


@pytest.fixture(scope="session")
def spark(stack: LakePulseSettings) -> Iterator[SparkSession]:
    from lakepulse_common.spark import build_spark_session

    session = build_spark_session(stack, "lakepulse-tests")
    yield session
    session.stop()


@pytest.fixture
def lake_settings(settings: LakePulseSettings, tmp_path: Path) -> LakePulseSettings:
    """Settings whose lake root is a fresh temporary directory."""
    return settings.model_copy(
        update={"lake": settings.lake.model_copy(update={"root": (tmp_path / "lake").as_uri()})}, deep=True
    )
