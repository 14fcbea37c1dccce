"""Workload-simulator benchmark: achieved vs requested transactions/s on a seeded database.

Usage: ``uv run python bench/simulate_rate.py --rate 500 --rate 2000 --duration 10 --json OUT``.
A throwaway database on the configured server is migrated and seeded (``--scale``, default 0.1),
then each rate runs the chosen pattern (default ``trickle``) ``--repeat`` times; the database is
dropped at the end. Each run records the 1-minute load average before it started, because on a
shared machine the load decides whether a miss is the simulator's or the neighbours'.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lakepulse_common.settings import LakePulseSettings
from lakepulse_oltp.migrations import migrate
from lakepulse_oltp.seeding import seed
from lakepulse_oltp.simulator import simulate

try:
    from bench.seed_load import scratch_database
except ModuleNotFoundError:  # run as a plain script: bench/ itself is on sys.path
    from seed_load import scratch_database  # type: ignore[no-redef]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, action="append", help="requested tx/s (repeatable)")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--pattern", default="trickle", choices=["trickle", "burst", "bulk"])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=1, help="runs per rate")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    settings = LakePulseSettings()
    figures: dict[str, dict[str, float | int]] = {}
    with scratch_database(settings, "lakepulse_bench_simulate") as target:
        migrate(target)
        seed(target, args.scale, 42, progress=False)
        for rate, attempt in (
            (r, n) for r in args.rate or [500.0, 2000.0] for n in range(1, args.repeat + 1)
        ):
            load_before = os.getloadavg()[0]
            result = simulate(target, args.pattern, rate, args.duration)
            name = f"{args.pattern}@{rate:g}" + (f"#{attempt}" if args.repeat > 1 else "")
            figures[name] = {
                "requested_tx_per_s": rate,
                "achieved_tx_per_s": round(result.achieved_rate, 1),
                "deviation": round(result.rate_deviation, 4),
                "transactions": result.transactions,
                "workers": result.workers,
                "retries": result.retries,
                "missed": result.missed,
                "load_1min_before": round(load_before, 2),
            }
    table = Table(title=f"simulator, {args.pattern}, {args.duration:g} s per rate")
    for column in ("run", "requested", "achieved", "deviation", "workers", "missed", "load before"):
        table.add_column(column, justify="right")
    for run, f in figures.items():
        table.add_row(
            run,
            f"{f['requested_tx_per_s']:,.0f}",
            f"{f['achieved_tx_per_s']:,.1f}",
            f"{f['deviation']:.1%}",
            str(f["workers"]),
            str(f["missed"]),
            f"{f['load_1min_before']:.2f}",
        )
    Console(width=120).print(table)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
