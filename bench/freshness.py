"""Freshness benchmark: PostgreSQL commit → visible in gold, at a fixed source rate, with stack memory.

Runs on the local stack with its services (``uv run lakepulse up --with-services``; ``--start-services``
starts them and takes them down again afterwards). The source is migrated and, when empty, seeded at
``--scale``. Once the pipeline has caught up with the source (every stage checked against its
progress marker, ``lakepulse_cli.drain``), the simulator drives ``--rate`` transactions/s for
``--duration`` s; then the pipeline drains the same way. Meanwhile:

* every silver and gold commit announced on ``<prefix>.control`` (and every ``<prefix>.gold.changes``
  notification) is recorded. Per gold commit, **commit lag** = the commit's own time (the control
  event's ``produced_at``) − the newest source commit time it covers. That source time is the gold
  event's ``source_commit_ts_ms`` when the gold builder sends it; until then it is derived: the gold
  change notification names the silver versions the build read, and silver's commit events carry the
  newest source commit time of each version (``method`` in the output says which was used).
* **visibility** = per source transaction, the time until the first gold commit that covers it. The
  source runs at a fixed rate, so transactions are taken as spread evenly over the workload window
  (one every ``VISIBILITY_STEP_MS``); each becomes visible at the first gold commit whose covered
  source time reaches it.
* RSS/PSS of every supervised program's process tree and of the whole stack (psutil, once a second).

    uv run python -m bench.freshness --rate 1000 --duration 120 --json .lakepulse/bench/freshness.json
"""

from __future__ import annotations

import argparse
import bisect
import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.memory import MemorySampler
from lakepulse_cli.drain import Drain, DrainState
from lakepulse_cli.pipeline import ControlWatcher
from lakepulse_cli.stack import Stack
from lakepulse_cli.stack.manager import INFRASTRUCTURE
from lakepulse_cli.stack.services import SERVICES, service_programs
from lakepulse_common.control_events import ControlEvent, EventKind, Layer
from lakepulse_common.errors import ControlEventError
from lakepulse_common.kafka import create_consumer
from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.topics import TopicNames
from lakepulse_gold_builder.notifications import GoldChange
from lakepulse_oltp.migrations import migrate
from lakepulse_oltp.seeding import is_seeded, seed
from lakepulse_oltp.simulator import simulate

VISIBILITY_STEP_MS = 10
PIPELINE_SERVICES = ("cdc-emitter", "bronze-writer", "silver-processor", "gold-builder")


def percentiles(values: Iterable[float], qs: Sequence[float] = (50, 95, 99)) -> dict[str, float | None]:
    """Nearest-rank percentiles (always an observed value) and the maximum; ``None`` without data."""
    ordered = sorted(values)
    figures: dict[str, float | None] = {}
    for q in qs:
        figures[f"p{q:g}"] = ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else None
    figures["max"] = ordered[-1] if ordered else None
    return figures


@dataclass(frozen=True)
class SilverCommit:
    table: str
    version: int
    source_ts_ms: int


@dataclass(frozen=True)
class GoldCommit:
    table: str
    version: int
    committed_ms: int
    source_ts_ms: int | None = None  # sent by the gold builder itself, when it does


@dataclass(frozen=True)
class FreshnessPoint:
    table: str
    version: int
    committed_ms: int
    covered_ms: int  # newest source commit time this gold commit makes visible
    lag_ms: int
    method: str  # "gold_event" or "silver_versions"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def freshness_points(
    gold: Iterable[GoldCommit],
    silver: Iterable[SilverCommit],
    silver_versions: dict[tuple[str, int], dict[str, int]],
) -> list[FreshnessPoint]:
    """Commit lag of every gold commit whose covered source time is known, in commit order.

    ``silver_versions`` maps a gold (table, version) to the silver versions its build read (from the
    change notification); the covered source time is then the newest source time of any silver commit
    up to those versions.
    """
    newest_by_version: dict[str, tuple[list[int], list[int]]] = {}
    for table in {c.table for c in silver}:
        commits = sorted((c for c in silver if c.table == table), key=lambda c: c.version)
        running, versions, newest = 0, [], []
        for silver_commit in commits:
            running = max(running, silver_commit.source_ts_ms)
            versions.append(silver_commit.version)
            newest.append(running)
        newest_by_version[table] = (versions, newest)

    def derived(pinned: dict[str, int]) -> int | None:
        covered = None
        for table, version in pinned.items():
            versions, newest = newest_by_version.get(table, ([], []))
            index = bisect.bisect_right(versions, version) - 1
            if index >= 0:
                covered = max(covered or 0, newest[index])
        return covered

    points = []
    for commit in sorted(gold, key=lambda c: c.committed_ms):
        covered, method = commit.source_ts_ms, "gold_event"
        if covered is None:
            covered, method = (
                derived(silver_versions.get((commit.table, commit.version), {})),
                "silver_versions",
            )
        if covered is not None:
            lag = commit.committed_ms - covered
            points.append(
                FreshnessPoint(commit.table, commit.version, commit.committed_ms, covered, lag, method)
            )
    return points


def visibility_latencies(
    points: Sequence[FreshnessPoint], start_ms: int, end_ms: int, step_ms: int = VISIBILITY_STEP_MS
) -> tuple[list[int], int]:
    """Latency of a source commit every ``step_ms`` in [start, end) to the first gold commit covering it.

    Returns the latencies and how many of those commits no gold commit covered by the end of the run.
    """
    ordered = sorted(points, key=lambda p: p.committed_ms)
    covered_so_far, running = [], 0
    for point in ordered:
        running = max(running, point.covered_ms)
        covered_so_far.append(running)  # never decreases: what gold showed stays visible
    latencies, invisible = [], 0
    for source_ms in range(start_ms, end_ms, step_ms):
        index = bisect.bisect_left(covered_so_far, source_ms)
        if index == len(ordered):
            invisible += 1
        else:
            latencies.append(ordered[index].committed_ms - source_ms)
    return latencies, invisible


class CommitRecorder(threading.Thread):
    """Reads the control and gold-change topics from the beginning and keeps every silver/gold commit."""

    def __init__(self, settings: LakePulseSettings) -> None:
        super().__init__(name="commit-recorder", daemon=True)
        topics = TopicNames.from_settings(settings.kafka)
        self._control, self._changes = topics.control, topics.gold_changes
        self._consumer = create_consumer(
            settings.kafka, "lakepulse-bench-freshness", f"bench-{time.time_ns()}"
        )
        self._consumer.subscribe([self._control, self._changes])
        self._stop_event = threading.Event()
        self.lock = threading.Lock()
        self.silver: dict[tuple[str, int], SilverCommit] = {}  # a re-announced version counts once
        self.gold: list[GoldCommit] = []
        self.silver_versions: dict[tuple[str, int], dict[str, int]] = {}
        self.error: Exception | None = None

    def _record(self, topic: str, value: bytes) -> None:
        if topic == self._changes:
            change = GoldChange.from_bytes(value)
            self.silver_versions[(change.table, change.delta_version)] = dict(change.silver_versions)
            return
        try:
            event = ControlEvent.from_bytes(value)
        except ControlEventError:
            return  # the control plane reports malformed events; they carry no commit to time
        if event.kind is not EventKind.COMMIT or event.table is None or event.delta_version is None:
            return
        if event.layer is Layer.SILVER and event.source_commit_ts_ms is not None:
            commit = SilverCommit(event.table, event.delta_version, event.source_commit_ts_ms)
            self.silver[(commit.table, commit.version)] = commit
        elif event.layer is Layer.GOLD:
            committed = _ms(event.produced_at)
            self.gold.append(
                GoldCommit(event.table, event.delta_version, committed, event.source_commit_ts_ms)
            )

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                for message in self._consumer.consume(500, 0.5):
                    topic, value = message.topic(), message.value()
                    if message.error() or topic is None or value is None:
                        continue
                    with self.lock:
                        self._record(topic, value)
        except Exception as exc:  # surfaced by the main thread: a broken recorder must fail the run
            self.error = exc
            raise
        finally:
            self._consumer.close()

    def snapshot(self) -> tuple[list[GoldCommit], list[SilverCommit], dict[tuple[str, int], dict[str, int]]]:
        with self.lock:
            return list(self.gold), list(self.silver.values()), dict(self.silver_versions)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


def _supervised_pids(stack: Stack) -> dict[str, int]:
    return {name: int(info["pid"]) for name, info in stack.supervisor.processes().items() if info.get("pid")}


def missing_services(settings: LakePulseSettings) -> list[str]:
    """The pipeline services not running; fails when Postgres or Kafka is not up and healthy."""
    status = Stack(settings).status()
    healthy = {c.name for c in status.components if c.name in INFRASTRUCTURE and c.healthy}
    if healthy != set(INFRASTRUCTURE):
        raise SystemExit("the local stack is not up and healthy: run `lakepulse up --with-services`")
    running = {c.name for c in status.components if c.state == "RUNNING"}
    return [service for service in PIPELINE_SERVICES if service not in running]


def start_services(settings: LakePulseSettings) -> None:
    Stack(settings, service_programs(settings, SERVICES)).up()


def stop_services(settings: LakePulseSettings) -> None:
    """Back to the infrastructure-only stack: supervisord drops (and stops) the service programs."""
    stack = Stack(settings)
    stack.supervisor.write_config(stack.programs())
    stack.supervisor.start()


def ensure_source(settings: LakePulseSettings, scale: float) -> int:
    """Migrate the source, and seed it when ``sales.orders`` is empty. Returns the rows seeded."""
    migrate(settings)
    if is_seeded(settings):
        return 0
    return int(seed(settings, scale, 42, progress=False).total_rows)


def wait_drained(
    settings: LakePulseSettings, watcher: ControlWatcher, recorder: CommitRecorder, timeout_s: float
) -> tuple[float, bool]:
    """Until every stage applied what the source committed before the call (``lakepulse_cli.drain``).

    Returns the wait and whether it drained; at the deadline the run is reported as it stands.
    """
    started = time.monotonic()
    drain = Drain(settings, watcher)
    drain.start()

    def recorder_alive(_: DrainState) -> None:
        if recorder.error is not None:
            raise RuntimeError(f"commit recorder failed: {recorder.error}")

    state = drain.wait(timeout_s, on_poll=recorder_alive)
    return round(time.monotonic() - started, 1), state.done


def summarise(points: list[FreshnessPoint], table: str, start_ms: int, end_ms: int) -> dict[str, Any]:
    """The figures of one run: commit lag and visibility of ``table``, and the freshness time series."""
    window = [p for p in points if p.committed_ms >= start_ms]
    chosen = [p for p in window if p.table == table]
    visible, invisible = visibility_latencies(chosen, start_ms, end_ms)
    methods = sorted({p.method for p in chosen})
    return {
        "table": table,
        "method": "+".join(methods) or "none",
        "gold_commits": len(chosen),
        "gold_commits_all_tables": len(window),
        "commit_lag_ms": percentiles(p.lag_ms for p in chosen),
        "visibility_ms": percentiles(visible),
        "invisible_at_end": invisible,
        "series_freshness": [
            [round((p.committed_ms - start_ms) / 1000, 3), p.lag_ms, p.table] for p in window
        ],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = LakePulseSettings()
    missing = missing_services(settings)
    if missing and not args.start_services:
        raise SystemExit(f"services not running: {missing}; run `lakepulse up --with-services`")
    seeded = ensure_source(settings, args.scale)  # before the services: the emitter needs the schema
    if missing:
        start_services(settings)
    started_services = bool(missing)
    stack = Stack(settings)
    sampler = MemorySampler(lambda: _supervised_pids(stack))
    recorder = CommitRecorder(settings)
    watcher = ControlWatcher(settings)
    try:
        sampler.start()
        recorder.start()
        watcher.start()
        warmup_s, caught_up = wait_drained(settings, watcher, recorder, args.warmup_timeout)
        if not caught_up:
            raise TimeoutError(f"gold.{args.table} did not catch up within {args.warmup_timeout:.0f}s")
        print(f"pipeline caught up after {warmup_s}s; workload {args.pattern} @ {args.rate:g} tx/s")
        workload_started = time.monotonic()
        start_ms = int(time.time() * 1000)
        result = simulate(settings, args.pattern, args.rate, args.duration)
        end_ms = start_ms + int(args.duration * 1000)
        drain_s, drained = wait_drained(settings, watcher, recorder, args.drain_timeout)
    finally:
        watcher.stop()
        recorder.stop()
        sampler.stop()
        if started_services and not args.keep_services:
            stop_services(settings)
    gold, silver, versions = recorder.snapshot()
    figures = summarise(freshness_points(gold, silver, versions), args.table, start_ms, end_ms)
    series = figures.pop("series_freshness")
    shift = sampler.started - workload_started  # memory samples on the workload's time axis
    memory = sampler.summary()
    return {
        "rate_requested_tx_per_s": args.rate,
        "pattern": args.pattern,
        "duration_s": args.duration,
        "achieved_tx_per_s": round(result.achieved_rate, 1),
        "transactions": result.transactions,
        "missed": result.missed,
        "rows_seeded": seeded,
        "warmup_s": warmup_s,
        "drain_s": drain_s,
        "drained": drained,
        **figures,
        "memory": {
            "per_service_peak": memory["per_process_peak"],
            "stack_peak": memory["total_peak"],
        },
        "started_services": started_services,
        "workload_start": datetime.fromtimestamp(start_ms / 1000, UTC).isoformat(),
        "series": {
            "freshness": series,  # [seconds since the workload started, commit lag ms, gold table]
            "memory": [[round(t + shift, 2), rss, pss] for t, rss, pss in sampler.series],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="source transactions/s")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of workload")
    parser.add_argument("--pattern", default="trickle", choices=["trickle", "burst", "bulk"])
    parser.add_argument("--table", default="fact_sales", help="gold table whose freshness is reported")
    parser.add_argument("--scale", type=float, default=0.1, help="seed scale when the source is empty")
    parser.add_argument("--warmup-timeout", type=float, default=1800.0)
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--start-services", action="store_true", help="start the services if not running")
    parser.add_argument("--keep-services", action="store_true", help="leave services it started running")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--plot", type=Path, help="also draw the freshness chart (PNG) here")
    args = parser.parse_args()

    figures = run(args)
    text = orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    if args.plot:
        from bench.plots import freshness_chart

        freshness_chart(figures, args.plot)
    shown = {key: value for key, value in figures.items() if key != "series"}
    print(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
