"""End to end on a small scale: seed, snapshot and stream through every stage, simulate a mixed workload
with a schema change, then `lakepulse verify`'s reconciliation passes and freshness is recorded.

The four pipeline services run as real processes (their console scripts) against the test stack, with
a fresh database, a random topic prefix, their own replication slot and a temporary lake.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.sql_query import QUERIES as MART_QUERIES
from lakepulse_cli.drain import Drain, DrainState
from lakepulse_cli.main import app
from lakepulse_cli.pipeline import ControlWatcher
from lakepulse_cli.sql import run_query
from lakepulse_cli.verify import reconcile
from lakepulse_common.kafka import create_admin, ensure_topics, platform_topics
from lakepulse_common.settings import LakePulseSettings
from lakepulse_oltp.migrations import migrate
from lakepulse_oltp.seeding import seed
from lakepulse_oltp.simulator import simulate
from tests.support import random_name

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PIPELINE = ("cdc-emitter", "bronze-writer", "silver-processor", "gold-builder")


@dataclass
class Pipeline:
    settings: LakePulseSettings
    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]]

    def tail(self, service: str, lines: int = 40) -> str:
        path = self.logs / f"{service}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def assert_alive(self) -> None:
        for name, process in self.processes.items():
            assert process.poll() is None, f"{name} exited with {process.returncode}:\n{self.tail(name)}"


def _environment(settings: LakePulseSettings, state_dir: Path) -> dict[str, str]:
    slot = random_name("e2e_")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEPULSE_")}
    env |= {
        "LAKEPULSE_STATE_DIR": str(state_dir),
        "LAKEPULSE_POSTGRES__HOST": settings.postgres.host,
        "LAKEPULSE_POSTGRES__PORT": str(settings.postgres.port),
        "LAKEPULSE_POSTGRES__DATABASE": settings.postgres.database,
        "LAKEPULSE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "LAKEPULSE_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "LAKEPULSE_LAKE__ROOT": settings.lake_root,
        "LAKEPULSE_SPARK__JARS_DIR": str(settings.spark.jars_dir),
        "LAKEPULSE_SPARK__DRIVER_MEMORY": "768m",
        "LAKEPULSE_TELEMETRY__METRICS_PORT": "0",
        "LAKEPULSE_TELEMETRY__LOG_FORMAT": "console",
        "LAKEPULSE_HEARTBEAT_INTERVAL_S": "2",
        "LAKEPULSE_CDC__SLOT_NAME": slot,
        "LAKEPULSE_CDC__PUBLICATION": slot,
        "LAKEPULSE_BRONZE__TRIGGER_INTERVAL_S": "1",
    }
    return env


@pytest.fixture
def pipeline(fresh_database: LakePulseSettings, tmp_path: Path) -> Iterator[Pipeline]:
    settings = fresh_database.model_copy(
        update={"lake": fresh_database.lake.model_copy(update={"root": (tmp_path / "lake").as_uri()})},
        deep=True,
    )
    ensure_topics(create_admin(settings.kafka), platform_topics(settings.kafka))
    migrate(settings)
    seed(settings, scale=0.003, seed=7, progress=False)
    logs = tmp_path / "logs"
    logs.mkdir()
    env = _environment(settings, tmp_path / "state")
    bin_dir = Path(sys.executable).parent
    processes = {}
    for service in PIPELINE:
        with (logs / f"{service}.log").open("wb") as log:
            processes[service] = subprocess.Popen(
                [str(bin_dir / f"lakepulse-{service}")], env=env, stdout=log, stderr=subprocess.STDOUT
            )
    running = Pipeline(settings, env, logs, processes)
    try:
        yield running
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in processes.items():
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                print(f"{name} ignored SIGTERM for 90 s:\n{running.tail(name)}")


def _reconciled(pipeline: Pipeline, timeout_s: float) -> None:
    checks, position, _ = reconcile(pipeline.settings, timeout_s=timeout_s)
    failed = [c for c in checks if not c.ok]
    pipeline.assert_alive()
    assert not failed, (
        f"at LSN {position.lsn}: "
        + "; ".join(
            f"{c.layer}.{c.name}: {c.problem or ''} {c.expected_rows}≠{c.actual_rows} {c.mismatched_keys[:2]}"
            for c in failed
        )
        + "\n"
        + "\n".join(f"--- {s}\n{pipeline.tail(s, 15)}" for s in PIPELINE)
    )


def _drained(pipeline: Pipeline, drain: Drain, timeout_s: float) -> None:
    drain.start()

    def alive(_: DrainState) -> None:
        pipeline.assert_alive()

    state = drain.wait(timeout_s, on_poll=alive)
    assert state.done, state.describe()
    assert not state.paused, f"silver paused {state.paused}"


@pytest.mark.timeout(3000)
def test_seed_stream_workload_then_verify(pipeline: Pipeline, tmp_path: Path) -> None:
    watcher = ControlWatcher(pipeline.settings)
    watcher.start()
    try:
        drain = Drain(pipeline.settings, watcher)
        _drained(pipeline, drain, 1500)
        # Drained means caught up: the lake must match the source at once, not after more polling.
        _reconciled(pipeline, timeout_s=20)

        result = simulate(pipeline.settings, "trickle", rate=20, duration=12, schema_change=True, seed=11)
        kinds = {kind for kind, n in result.counts.items() if n}
        assert {"place_order", "change_customer", "schema_change"} <= kinds, result.counts  # c/u/d + DDL
        _drained(pipeline, drain, 600)
        _reconciled(pipeline, timeout_s=20)

        cli = CliRunner().invoke(app, ["verify", "--timeout", "30"], env=pipeline.env)
        assert cli.exit_code == 0, cli.output
        # The SQL benchmark's queries fit the marts the pipeline built (a renamed column fails here).
        answers = {name: run_query(pipeline.settings.lake_root, sql) for name, sql in MART_QUERIES.items()}
        assert answers["revenue_by_region_and_category"].table.num_rows > 0
        assert answers["top_customers"].table.num_rows > 0

        with watcher.lock:
            lags = [
                (p.committed_at.timestamp() * 1000 - p.source_commit_ts_ms) / 1000
                for p in watcher.view.of_layer("silver")
                if p.committed_at and p.source_commit_ts_ms
            ]
        assert lags, "silver commits carry no source commit time"
        freshness = {
            "silver_commit_lag_s": {"median": statistics.median(lags), "max": max(lags), "n": len(lags)}
        }
        (tmp_path / "freshness.json").write_text(json.dumps(freshness))
        print(f"freshness: {freshness}")
    finally:
        watcher.stop()
