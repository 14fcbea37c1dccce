"""PostgreSQL 15 for the local stack: a private cluster with ``wal_level=logical``.

The server refuses to run as root, so a root caller runs it as the ``postgres`` system user; that
user must be able to reach the data directory. When the project's state dir is not reachable by it
(e.g. a checkout under ``/root``), the cluster lives under ``/var/lib/lakepulse/<hash>/`` instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg2
from psycopg2 import sql

from lakepulse_common.errors import StackError
from lakepulse_common.settings import LakePulseSettings

log = logging.getLogger(__name__)

SYSTEM_USER = "postgres"
APT_PACKAGES = ("postgresql-15", "postgresql-15-wal2json")


def running_as_root() -> bool:
    return os.geteuid() == 0


def run_as_user() -> str | None:
    """The OS user the server runs as: ``postgres`` under root, the caller otherwise."""
    return SYSTEM_USER if running_as_root() else None


def _as_server_user(args: list[str]) -> list[str]:
    user = run_as_user()
    return ["runuser", "-u", user, "--", *args] if user else args


def _reachable_by_server_user(path: Path) -> bool:
    if not running_as_root():
        return True
    probe = path if path.exists() else path.parent
    while not probe.exists():
        probe = probe.parent
    return subprocess.run(_as_server_user(["test", "-x", str(probe)]), check=False).returncode == 0


def data_dir(settings: LakePulseSettings) -> Path:
    configured = settings.postgres.data_dir
    assert configured is not None  # resolved by the settings validator
    if _reachable_by_server_user(configured):
        return configured
    digest = hashlib.sha1(str(settings.state_dir).encode(), usedforsecurity=False).hexdigest()[:12]
    return Path("/var/lib/lakepulse") / digest / "postgres"


def ensure_binaries(settings: LakePulseSettings) -> None:
    """The server and the wal2json plugin; apt-get installs them when missing (as root)."""
    lib_dir = settings.postgres.bin_dir.parent / "lib"
    if (settings.postgres.bin_dir / "postgres").exists() and (lib_dir / "wal2json.so").exists():
        return
    if not running_as_root() or shutil.which("apt-get") is None:
        raise StackError(
            f"PostgreSQL 15 not found in {settings.postgres.bin_dir}: install {' '.join(APT_PACKAGES)}"
        )
    log.info("installing %s with apt-get", " ".join(APT_PACKAGES))
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *APT_PACKAGES], check=True, env=env)


def ensure_cluster(settings: LakePulseSettings) -> Path:
    """``initdb`` once; the superuser is the configured LakePulse user with its password."""
    ensure_binaries(settings)
    directory = data_dir(settings)
    if (directory / "PG_VERSION").exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    user = run_as_user()
    if user:
        pw = pwd.getpwnam(user)
        os.chown(directory, pw.pw_uid, pw.pw_gid)
    directory.chmod(0o700)
    with tempfile.NamedTemporaryFile("w", dir=directory.parent, prefix=".pgpw", delete=False) as handle:
        handle.write(settings.postgres.password.get_secret_value())
        password_file = Path(handle.name)
    try:
        if user:
            pw = pwd.getpwnam(user)
            os.chown(password_file, pw.pw_uid, pw.pw_gid)
        initdb = [
            str(settings.postgres.bin_dir / "initdb"),
            "-D", str(directory),
            "-U", settings.postgres.user,
            f"--pwfile={password_file}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ]  # fmt: skip
        result = subprocess.run(_as_server_user(initdb), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(f"initdb failed: {result.stderr.strip()}")
    finally:
        password_file.unlink(missing_ok=True)
    log.info("initialised PostgreSQL cluster in %s", directory)
    return directory


def server_command(settings: LakePulseSettings, directory: Path) -> list[str]:
    pg = settings.postgres
    options = {
        "port": str(pg.port),
        "listen_addresses": pg.host,
        "unix_socket_directories": "",
        "wal_level": "logical",
        "max_replication_slots": "16",
        "max_wal_senders": "16",
        "max_slot_wal_keep_size": "8GB",
        "shared_buffers": pg.shared_buffers,
        "max_connections": "200",
        "fsync": "on",
        "synchronous_commit": "on",
        "logging_collector": "off",
        "log_min_messages": "warning",
        "wal_sender_timeout": "60s",
    }
    args = [str(pg.bin_dir / "postgres"), "-D", str(directory)]
    for key, value in options.items():
        args += ["-c", f"{key}={value}"]
    return args


def is_healthy(settings: LakePulseSettings, timeout_s: int = 2) -> bool:
    try:
        conn = psycopg2.connect(settings.postgres.dsn("postgres"), connect_timeout=timeout_s)
    except psycopg2.Error:
        return False
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    except psycopg2.Error:
        return False
    finally:
        conn.close()
    return True


def ensure_database(settings: LakePulseSettings, database: str | None = None) -> None:
    name = database or settings.postgres.database
    conn = psycopg2.connect(settings.postgres.dsn("postgres"))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                log.info("created database %s", name)
    finally:
        conn.close()


def wal_level(settings: LakePulseSettings) -> str:
    conn = psycopg2.connect(settings.postgres.dsn("postgres"))
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW wal_level")
            row = cur.fetchone()
    finally:
        conn.close()
    return str(row[0]) if row else ""
