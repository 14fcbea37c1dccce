"""``simulate``: drive real transactions against the source at a requested rate and pattern.

The calling thread is the dispatcher: it releases tickets (operation kind + a per-ticket seed) at the
pattern's times into a queue; worker threads, each with its own autocommit connection, turn a ticket
into one atomic round trip (single-row operations as prepared statements, see ``prepared``). The
schedule is absolute — ticket *k* is due ``k / rate`` seconds after the start — so a stall (a
checkpoint, a busy machine) is caught up afterwards instead of lowering the rate of the whole run.
psycopg2 releases the GIL while a statement is on the server, so threads are enough on the client.
SIGINT/SIGTERM (or ``shutdown.request()``) stop the dispatcher; workers finish the transaction in hand
and exit, so nothing is half-applied. Tickets not started within a second of the run's end are dropped
and reported as ``missed`` — the achieved rate then honestly falls short. Deadlocks and serialization
failures are retried (the statement was rolled back as a whole); any other database error stops the
run loudly.
"""

from __future__ import annotations

import itertools
import logging
import math
import queue
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psycopg2
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from lakepulse_common.runtime import Shutdown
from lakepulse_common.settings import LakePulseSettings
from lakepulse_oltp.database import connect
from lakepulse_oltp.errors import InvalidWorkloadError, OltpError
from lakepulse_oltp.migrations import require_head
from lakepulse_oltp.simulator.operations import SCHEMA_CHANGE_SQL, Operation, WorkloadContext
from lakepulse_oltp.simulator.patterns import (
    SCHEMA_CHANGE,
    Pattern,
    operation_mix,
    peak_rate,
    release_offsets,
)
from lakepulse_oltp.simulator.prepared import GENERIC_PLANS, PreparedStatements, plain_query

log = logging.getLogger(__name__)

MAX_RATE = 10_000.0
MAX_DURATION_S = 24 * 3600.0
PROFILE_BUCKET_S = 0.25
MIN_SLEEP_S = 0.002
LATE_TICKET_GRACE_S = 1.0  # a ticket still queued this long after the run's end is dropped as missed
RETRYABLE = (
    psycopg2.errors.DeadlockDetected,
    psycopg2.errors.SerializationFailure,
    psycopg2.errors.LockNotAvailable,
)


class SimulationError(OltpError):
    """A transaction failed for a reason other than a retryable conflict; the run was stopped."""


@dataclass
class SimulationResult:
    pattern: str
    requested_rate: float
    duration_s: float
    workers: int
    counts: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    retries: int = 0
    missed: int = 0
    interrupted: bool = False
    profile: list[int] = field(default_factory=list)  # completions per PROFILE_BUCKET_S

    @property
    def transactions(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind != SCHEMA_CHANGE)

    @property
    def achieved_rate(self) -> float:
        return self.transactions / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def rate_deviation(self) -> float:
        """Relative deviation of the achieved from the requested rate (0.05 = 5 %)."""
        return abs(self.achieved_rate - self.requested_rate) / self.requested_rate


def validate_simulation_arguments(
    pattern: str, rate: float, duration_s: float, workers: int | None, bulk_rows: int
) -> Pattern:
    try:
        chosen = Pattern(pattern)
    except ValueError:
        raise InvalidWorkloadError(
            f"pattern must be one of {', '.join(p.value for p in Pattern)}, got {pattern!r}"
        ) from None
    if not (math.isfinite(rate) and 0 < rate <= MAX_RATE):
        raise InvalidWorkloadError(f"rate must be in (0, {MAX_RATE:g}] transactions/s, got {rate}")
    if not (math.isfinite(duration_s) and 0 < duration_s <= MAX_DURATION_S):
        raise InvalidWorkloadError(f"duration must be in (0, {MAX_DURATION_S:g}] seconds, got {duration_s}")
    if workers is not None and not 1 <= workers <= 64:
        raise InvalidWorkloadError(f"workers must be between 1 and 64, got {workers}")
    if not 10 <= bulk_rows <= 100_000:
        raise InvalidWorkloadError(f"bulk rows must be between 10 and 100000, got {bulk_rows}")
    return chosen


def default_workers(pattern: Pattern, rate: float) -> int:
    """Enough connections that commit latency does not cap the rate; a few more cost nothing."""
    if pattern is Pattern.BULK:
        return 2
    return max(4, min(32, math.ceil(peak_rate(pattern, rate) / 100)))


class _Run:
    """State shared between the dispatcher and the workers of one simulation."""

    def __init__(self, settings: LakePulseSettings, ctx: WorkloadContext, pattern: Pattern, deadline: float):
        self.settings, self.ctx, self.pattern, self.deadline = settings, ctx, pattern, deadline
        self.operations = operation_mix(pattern, schema_changed=True)  # every kind a ticket can name
        # Bulk transactions are few and large: planning them for their actual arguments is worth it.
        self.prepare = pattern is not Pattern.BULK
        self.tickets: queue.Queue[tuple[str, int] | None] = queue.Queue()  # None: stop
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.completions: list[float] = []
        self.retries = 0
        self.missed = 0
        self.error: BaseException | None = None
        self.failed = threading.Event()

    def worker(self) -> None:
        conn = connect(self.settings, autocommit=True)
        try:
            with conn.cursor() as cur:
                render = plain_query
                if self.prepare:
                    cur.execute(GENERIC_PLANS)
                    render = PreparedStatements(cur).query
                while True:
                    ticket = self.tickets.get()
                    if ticket is None or self.failed.is_set():
                        return
                    if time.monotonic() > self.deadline:
                        with self.lock:
                            self.missed += 1
                        continue
                    kind, ticket_seed = ticket
                    transaction = self.operations[kind][0](random.Random(ticket_seed), self.ctx)  # noqa: S311
                    self._execute(cur, kind, render(transaction), transaction.params)
        except BaseException as exc:  # recorded and re-raised by the dispatcher
            self.error = exc
            self.failed.set()
        finally:
            conn.close()

    def _execute(
        self, cur: psycopg2.extensions.cursor, kind: str, query: str, params: dict[str, Any]
    ) -> None:
        try:
            cur.execute(query, params)  # the common case: no conflict, no retry machinery
        except RETRYABLE:
            for attempt in Retrying(
                retry=retry_if_exception_type(RETRYABLE),
                stop=stop_after_attempt(5),
                wait=wait_random_exponential(multiplier=0.01, max=0.2),
                reraise=True,
            ):
                with attempt:
                    with self.lock:
                        self.retries += 1
                    cur.execute(query, params)
        with self.lock:
            self.counts[kind] += 1
            self.completions.append(time.monotonic())


def _chooser(mix: dict[str, tuple[Operation, int]]) -> tuple[list[str], list[int]]:
    return list(mix), list(itertools.accumulate(weight for _, weight in mix.values()))


def _maxima(settings: LakePulseSettings) -> tuple[int, int, int, int]:
    conn = connect(settings)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "SELECT (SELECT max(customer_id) FROM sales.customers),"
                " (SELECT max(stock_item_id) FROM warehouse.stock_items),"
                " (SELECT max(city_id) FROM application.cities),"
                " (SELECT coalesce(max(order_id), 1) FROM sales.orders)"
            )
            row = cur.fetchone()
    finally:
        conn.close()
    if row is None or None in row:
        raise OltpError("the source holds no customers, stock items or cities: run `lakepulse seed` first")
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def _apply_schema_change(settings: LakePulseSettings) -> None:
    conn = connect(settings, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SET lock_timeout = '10s'")
            cur.execute(SCHEMA_CHANGE_SQL)
    finally:
        conn.close()


def simulate(
    settings: LakePulseSettings,
    pattern: str = "trickle",
    rate: float = 100.0,
    duration: float = 10.0,
    *,
    schema_change: bool = False,
    seed: int = 42,
    workers: int | None = None,
    bulk_rows: int = 2000,
    burst_period_s: float = 2.0,
    shutdown: Shutdown | None = None,
) -> SimulationResult:
    """Run the workload for ``duration`` seconds; returns counts per operation kind and the achieved rate."""
    chosen = validate_simulation_arguments(pattern, rate, duration, workers, bulk_rows)
    require_head(settings)
    n_workers = workers or default_workers(chosen, rate)
    ctx = WorkloadContext.build(seed, _maxima(settings), bulk_rows)
    own_shutdown = shutdown is None
    stop = shutdown or Shutdown()
    previous = None
    if own_shutdown and threading.current_thread() is threading.main_thread():
        previous = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
        stop.install()
    rng = random.Random(f"{seed}/simulate")  # noqa: S311 - workload data
    start = time.monotonic()
    run = _Run(settings, ctx, chosen, deadline=start + duration + LATE_TICKET_GRACE_S)
    threads = [
        threading.Thread(target=run.worker, name=f"simulate-{i}", daemon=True) for i in range(n_workers)
    ]
    for thread in threads:
        thread.start()
    result = SimulationResult(chosen.value, rate, duration, n_workers)
    schema_change_at = duration / 3 if schema_change else math.inf
    choosers = {changed: _chooser(operation_mix(chosen, changed)) for changed in (False, True)}
    try:
        for offset in release_offsets(chosen, rate, duration, burst_period_s):
            if offset >= schema_change_at and not ctx.schema_changed.is_set():
                _apply_schema_change(settings)
                run.counts[SCHEMA_CHANGE] += 1
                ctx.schema_changed.set()
                log.info("schema change applied: sales.customers.loyalty_tier")
            delay = start + offset - time.monotonic()
            # Sleeping at least MIN_SLEEP_S releases tickets in small batches instead of waking per ticket.
            if delay > 0 and stop.wait(max(delay, MIN_SLEEP_S)):
                break
            if stop.requested or run.failed.is_set():
                break
            kinds, cumulative = choosers[ctx.schema_changed.is_set()]
            kind = rng.choices(kinds, cum_weights=cumulative)[0]
            run.tickets.put((kind, rng.getrandbits(63)))
    finally:
        for _ in threads:
            run.tickets.put(None)
        for thread in threads:
            thread.join()
        if previous is not None:
            signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])
    if run.error is not None:
        raise SimulationError(f"simulation stopped: {run.error}") from run.error
    result.interrupted = stop.requested
    end = time.monotonic()
    last = max(run.completions, default=start)
    result.elapsed_s = (end - start) if result.interrupted else max(duration, last - start)
    result.counts = dict(sorted(run.counts.items()))
    result.retries, result.missed = run.retries, run.missed
    buckets = math.ceil(result.elapsed_s / PROFILE_BUCKET_S)
    result.profile = [0] * buckets
    for completed in run.completions:
        result.profile[min(buckets - 1, int((completed - start) / PROFILE_BUCKET_S))] += 1
    return result
