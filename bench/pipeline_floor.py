"""The floor of a three-stage Delta medallion pipeline on Spark, end to end, at a given source rate.

``delta_floor`` times one operation at a time on an idle machine. End-to-end freshness is made of
three drivers each repeating its cheapest cycle back to back while sharing the cores, and a change
waits for a cycle of each. This runs exactly that, with no LakePulse code: three processes, each
with its own SparkSession from the project's factory and settings, as the stack's three Spark
services are:

* **bronze** — the source and the bronze writer in one: every cycle appends every change whose time
  has come (``--rate`` changes/s, one row each, stamped with its scheduled time) to a Delta table.
  No Postgres, no CDC, no Kafka: a change is in the driver the moment it happens.
* **silver** — on each new bronze version: reads the new versions' rows (change data feed), keeps the
  newest per key and MERGEs them into a keyed table with the change data feed on. Every change has a
  new key, so the MERGE matches nothing and rewrites no file: its cheapest form.
* **gold** — on each new silver version: reads its change feed once (materialized), appends the rows
  to a fact table, then replaces the batch's slice of four mart tables concurrently — the
  ``gold_write_chain`` floor with real rows.

A stage learns of an upstream commit from a line the upstream appends to a file after committing —
the cheapest control channel there is. Every change is one row and one transaction: LakePulse's
source transactions carry several rows across several tables, so its real work per transaction is
larger. Visibility is computed as ``bench.freshness`` computes it for the stack (a change every 10 ms
of the measured window; visible at the first gold commit covering its time), after ``--warmup``
seconds of the same workload.

    uv run python -m bench.pipeline_floor --rate 1000 --duration 120 --json OUT
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil

from bench.freshness import FreshnessPoint, percentiles, visibility_latencies
from bench.memory import MemorySampler, process_tree

ROLES = ("bronze", "silver", "gold")
GOLD_MARTS = 4
POLL_S = 0.01  # how often a stage looks for its upstream's next commit line
READY_TIMEOUT_S = 600.0
STOP_FILE = "stop"
START_FILE = "start"


@dataclass(frozen=True)
class Cycle:
    """One commit of a stage, as announced on its commit-line file."""

    version: int
    covered_ms: int  # newest source change time the commit contains
    committed_ms: int  # wall clock when the commit (and, for gold, every mart) was done
    cycle_s: float
    rows: int

    def line(self) -> bytes:
        return orjson.dumps(self.__dict__) + b"\n"


class CommitLines:
    """Tails a stage's commit-line file: only complete lines are returned, each once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def new(self) -> list[Cycle]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        self._offset += len(data)
        *complete, self._partial = (self._partial + data).split(b"\n")
        return [Cycle(**orjson.loads(line)) for line in complete if line]


def read_cycles(path: Path) -> list[Cycle]:
    return CommitLines(path).new()


def announce(path: Path, cycle: Cycle) -> None:
    """Append one commit line in a single write, so a reader never sees half of it."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, cycle.line())
    finally:
        os.close(fd)


# --- the three stages (each runs in its own process, with its own JVM) ------------------------------


@dataclass(frozen=True)
class Workload:
    start_ms: int
    end_ms: int
    rate: float

    def changes_until(self, now_ms: int) -> int:
        """How many changes have happened by ``now_ms`` (change ``i`` happens at start + i / rate)."""
        if now_ms < self.start_ms:
            return 0
        return int((min(now_ms, self.end_ms) - self.start_ms) * self.rate / 1000)

    def time_of(self, index: int) -> int:
        return self.start_ms + int(index * 1000 / self.rate)


class Stage:
    def __init__(self, workdir: Path, role: str) -> None:
        from lakepulse_common.settings import LakePulseSettings
        from lakepulse_common.spark import build_spark_session

        self.workdir = workdir
        self.role = role
        self.spark = build_spark_session(LakePulseSettings(), f"lakepulse-bench-pipeline-{role}")
        self.version = 0

    def uri(self, name: str) -> str:
        return (self.workdir / name).as_uri()

    def stopped(self) -> bool:
        return (self.workdir / STOP_FILE).exists()

    def create(self, name: str, schema: str, change_data_feed: bool) -> None:
        (
            self.spark.createDataFrame([], schema)
            .write.format("delta")
            .option("delta.enableChangeDataFeed", str(change_data_feed).lower())
            .option("delta.enableDeletionVectors", "false")
            .save(self.uri(name))
        )

    def upstream(self, role: str) -> Iterator[list[Cycle]]:
        """Yields each batch of new upstream commits as it appears, until the stop file does."""
        lines = CommitLines(self.workdir / f"{role}.commits")
        while not self.stopped():
            cycles = lines.new()
            if cycles:
                yield cycles
            else:
                time.sleep(POLL_S)

    def changes(self, name: str, first: int, last: int) -> Any:
        return (
            self.spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", first)
            .option("endingVersion", last)
            .load(self.uri(name))
        )

    def commit(self, covered_ms: int, began: float, rows: int) -> None:
        self.version += 1
        cycle = Cycle(self.version, covered_ms, int(time.time() * 1000), time.monotonic() - began, rows)
        announce(self.workdir / f"{self.role}.commits", cycle)


CHANGE_SCHEMA = "id LONG, key LONG, ts_ms LONG, payload STRING"


def run_bronze(stage: Stage, rate: float) -> None:
    stage.create("bronze", CHANGE_SCHEMA, change_data_feed=True)
    workload = wait_for_start(stage, rate)
    if workload is None:
        return
    done = 0
    while not stage.stopped():
        now_ms = int(time.time() * 1000)
        due = workload.changes_until(now_ms)
        if due == done:
            if now_ms >= workload.end_ms:
                return
            time.sleep(POLL_S)
            continue
        began = time.monotonic()
        frame = stage.spark.range(done, due).selectExpr(
            "id",
            "id AS key",
            f"{workload.start_ms} + CAST(id * 1000 / {rate} AS LONG) AS ts_ms",
            "concat('change-', id) AS payload",
        )
        frame.write.format("delta").mode("append").save(stage.uri("bronze"))
        stage.commit(workload.time_of(due - 1), began, due - done)
        done = due


def run_silver(stage: Stage) -> None:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    stage.create("silver", CHANGE_SCHEMA, change_data_feed=True)
    (stage.workdir / "silver.ready").touch()
    target = DeltaTable.forPath(stage.spark, stage.uri("silver"))
    done = 0
    for cycles in stage.upstream("bronze"):
        began = time.monotonic()
        newest = cycles[-1]
        rows = stage.changes("bronze", done + 1, newest.version)
        latest = (
            rows.groupBy("key")
            .agg(F.max_by(F.struct("id", "ts_ms", "payload"), "id").alias("row"))
            .select("key", "row.*")
        )
        (
            target.alias("t")
            .merge(latest.alias("s"), "t.key = s.key")
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )
        stage.commit(newest.covered_ms, began, sum(c.rows for c in cycles))
        done = newest.version


def run_gold(stage: Stage) -> None:
    from lakepulse_common.spark import materialize_on_disk, release_materialized

    stage.create("fact", CHANGE_SCHEMA, change_data_feed=False)
    marts = [f"mart_{k}" for k in range(GOLD_MARTS)]
    for mart in marts:
        stage.create(mart, "slice LONG, changes LONG, newest_ms LONG", change_data_feed=False)
    (stage.workdir / "gold.ready").touch()
    done = 0
    with ThreadPoolExecutor(GOLD_MARTS) as pool:
        for cycles in stage.upstream("silver"):
            began = time.monotonic()
            newest = cycles[-1]
            changed = materialize_on_disk(
                stage.changes("silver", done + 1, newest.version)
                .where("_change_type IN ('insert', 'update_postimage')")
                .select("id", "key", "ts_ms", "payload")
            )
            changed.write.format("delta").mode("append").save(stage.uri("fact"))
            slice_id = newest.version
            summary = changed.selectExpr(
                f"CAST({slice_id} AS LONG) AS slice", "count(*) AS changes", "max(ts_ms) AS newest_ms"
            )

            def replace(mart: str, frame: Any = summary, slice_id: int = slice_id) -> None:
                frame.write.format("delta").mode("overwrite").option(
                    "replaceWhere", f"slice = {slice_id}"
                ).save(stage.uri(mart))

            for future in [pool.submit(replace, mart) for mart in marts]:
                future.result()
            release_materialized(changed)
            stage.commit(newest.covered_ms, began, sum(c.rows for c in cycles))
            done = newest.version


def wait_for_start(stage: Stage, rate: float) -> Workload | None:
    (stage.workdir / "bronze.ready").touch()
    start_file = stage.workdir / START_FILE
    while not start_file.exists():
        if stage.stopped():
            return None
        time.sleep(POLL_S)
    window = orjson.loads(start_file.read_bytes())
    return Workload(window["start_ms"], window["end_ms"], rate)


def run_stage(role: str, workdir: Path, rate: float) -> None:
    signal.signal(signal.SIGTERM, lambda *_: (workdir / STOP_FILE).touch())
    stage = Stage(workdir, role)
    try:
        if role == "bronze":
            run_bronze(stage, rate)
        elif role == "silver":
            run_silver(stage)
        else:
            run_gold(stage)
    finally:
        stage.spark.stop()


# --- the driver ---------------------------------------------------------------------------------


def cycle_figures(cycles: list[Cycle], start_ms: int, end_ms: int) -> dict[str, Any]:
    """A stage's cycles that committed inside the measured window: durations and rows per cycle."""
    window = [c for c in cycles if start_ms <= c.committed_ms <= end_ms]
    durations = [c.cycle_s for c in window]
    return {
        "cycles": len(window),
        "cycle_s": {k: None if v is None else round(v, 3) for k, v in percentiles(durations).items()},
        "rows_per_cycle_p50": statistics.median([c.rows for c in window]) if window else None,
    }


def gold_visibility(gold: list[Cycle], start_ms: int, end_ms: int) -> dict[str, Any]:
    points = [
        FreshnessPoint(
            "pipeline_floor", c.version, c.committed_ms, c.covered_ms, c.committed_ms - c.covered_ms, "floor"
        )
        for c in gold
        if c.committed_ms >= start_ms
    ]
    visible, invisible = visibility_latencies(points, start_ms, end_ms)
    return {
        "visibility_ms": percentiles(visible),
        "commit_lag_ms": percentiles(p.lag_ms for p in points),
        "invisible_at_end": invisible,
    }


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its descendants."""
    total = 0.0
    for process in process_tree(pid):
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def wait_until(
    condition: Callable[[], bool], timeout_s: float, what: str, workers: dict[str, subprocess.Popen[bytes]]
) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        for role, worker in workers.items():
            if worker.poll() not in (None, 0):  # bronze ends on its own when the source does
                raise RuntimeError(f"the {role} stage exited ({worker.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@contextmanager
def stage_processes(workdir: Path, rate: float) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    workers = {
        role: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.pipeline_floor",
                "--stage",
                role,
                "--workdir",
                str(workdir),
                "--rate",
                f"{rate:g}",
            ]
        )
        for role in ROLES
    }
    try:
        yield workers
    finally:
        (workdir / STOP_FILE).touch()
        for worker in workers.values():
            try:
                worker.wait(timeout=120)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def measure(
    rate: float, duration: float, warmup: float, drain_timeout: float, workdir: Path
) -> dict[str, Any]:
    with stage_processes(workdir, rate) as workers:
        sampler = MemorySampler(lambda: {role: w.pid for role, w in workers.items()}, interval_s=1.0)
        sampler.start()
        ready = wait_until(
            lambda: all((workdir / f"{role}.ready").exists() for role in ROLES),
            READY_TIMEOUT_S,
            "the stages to start",
            workers,
        )
        if not ready:
            raise RuntimeError(f"the stages were not ready within {READY_TIMEOUT_S:g} s")
        start_ms = int(time.time() * 1000) + 500
        measured_ms = start_ms + int(warmup * 1000)
        end_ms = measured_ms + int(duration * 1000)
        (workdir / START_FILE).write_bytes(orjson.dumps({"start_ms": start_ms, "end_ms": end_ms}))
        wait_until(lambda: time.time() * 1000 >= measured_ms, warmup + 5, "the warm-up", workers)
        cpu_before = {role: tree_cpu_seconds(w.pid) for role, w in workers.items()}
        wait_until(lambda: time.time() * 1000 >= end_ms, duration + 5, "the workload", workers)
        cpu = {
            role: round((tree_cpu_seconds(w.pid) - cpu_before[role]) / duration, 2)
            for role, w in workers.items()
        }
        last_change_ms = Workload(start_ms, end_ms, rate).time_of(
            Workload(start_ms, end_ms, rate).changes_until(end_ms) - 1
        )

        def drained() -> bool:
            gold = read_cycles(workdir / "gold.commits")
            return bool(gold) and gold[-1].covered_ms >= last_change_ms

        drained_in_time = wait_until(drained, drain_timeout, "the drain", workers)
        sampler.stop()
    cycles = {role: read_cycles(workdir / f"{role}.commits") for role in ROLES}
    return {
        "rate": rate,
        "duration_s": duration,
        "warmup_s": warmup,
        "changes": Workload(start_ms, end_ms, rate).changes_until(end_ms),
        "drained": drained_in_time,
        **gold_visibility(cycles["gold"], measured_ms, end_ms),
        "stages": {role: cycle_figures(cycles[role], measured_ms, end_ms) for role in ROLES},
        "cpu_cores": cpu,
        "memory": sampler.summary(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="source changes/s")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of workload measured")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds of workload before it")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--stage", choices=ROLES, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage is not None:
        run_stage(args.stage, args.workdir, args.rate)
        return
    with tempfile.TemporaryDirectory(prefix="lakepulse-bench-pipeline-") as workdir:
        results = measure(args.rate, args.duration, args.warmup, args.drain_timeout, Path(workdir))
    visibility = results["visibility_ms"]
    print(
        f"pipeline floor at {args.rate:g} changes/s: visibility p50 {visibility['p50']} ms,"
        f" p95 {visibility['p95']} ms; drained: {results['drained']}"
    )
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
