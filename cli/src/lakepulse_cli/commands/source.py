"""``lakepulse migrate | seed | simulate``: the OLTP source's schema, bulk data and live workload.

Invalid arguments exit with code 2 and a one-line reason (the same code Typer uses for its own usage
errors); any other LakePulse error exits with code 1. Settings are built inside each command, and
each command imports what it runs (Alembic, the generators, the simulator) only when it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from lakepulse_common.errors import LakePulseError
from lakepulse_common.settings import LakePulseSettings
from lakepulse_oltp.errors import InvalidWorkloadError
from lakepulse_oltp.simulator import Pattern

if TYPE_CHECKING:
    from lakepulse_oltp.simulator import SimulationResult

console = Console()
USAGE_ERROR = 2
INTERRUPTED = 130  # the shell's code for "stopped by SIGINT"


def _fail(exc: LakePulseError) -> typer.Exit:
    code = USAGE_ERROR if isinstance(exc, InvalidWorkloadError) else 1
    console.print(f"[red]error:[/] {exc}")
    return typer.Exit(code)


def migrate_command(
    down: Annotated[bool, typer.Option("--down", help="Downgrade instead of upgrading.")] = False,
    revision: Annotated[
        str | None, typer.Option(help="Target revision (default: head, or base with --down).")
    ] = None,
) -> None:
    """Create (or, with --down, drop) the WWI-shaped source schema with Alembic."""
    from lakepulse_oltp.migrations import current_revision, downgrade, migrate

    settings = LakePulseSettings()
    try:
        if down:
            downgrade(settings, revision or "base")
        else:
            migrate(settings, revision or "head")
        console.print(f"source schema at revision {current_revision(settings) or 'base (empty)'}")
    except LakePulseError as exc:
        raise _fail(exc) from exc


def seed_command(
    scale: Annotated[float, typer.Option(help="1.0 ≈ 1,000,000 transactional rows.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed; same seed and scale, same data.")] = 42,
    replace: Annotated[
        bool, typer.Option("--replace", help="Truncate existing source rows and reload.")
    ] = False,
) -> None:
    """Bulk-load a deterministic Wide World Importers-shaped dataset with COPY."""
    from lakepulse_oltp.seeding import seed as seed_source

    settings = LakePulseSettings()
    try:
        result = seed_source(settings, scale, seed, replace=replace)
    except LakePulseError as exc:
        raise _fail(exc) from exc
    table = Table(title=f"seeded scale={scale:g} seed={seed}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in result.rows.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    console.print(
        f"{result.total_rows:,} rows ({result.transactional_rows:,} transactional) in "
        f"{result.elapsed_s:.1f} s = {result.rows_per_s:,.0f} rows/s"
    )


def _print_simulation(result: SimulationResult) -> None:
    table = Table(
        title=f"simulated {result.pattern} for {result.elapsed_s:.1f} s on {result.workers} connections"
    )
    table.add_column("operation")
    table.add_column("count", justify="right")
    for kind, count in result.counts.items():
        table.add_row(kind, f"{count:,}")
    console.print(table)
    status = " (interrupted)" if result.interrupted else ""
    console.print(
        f"achieved {result.achieved_rate:,.1f} tx/s of {result.requested_rate:,.1f} requested "
        f"({result.rate_deviation:.1%} off), retries={result.retries}, missed={result.missed}{status}"
    )


def simulate_command(
    pattern: Annotated[Pattern, typer.Option(help="trickle: steady; bulk: few big; burst: idle/spike.")] = (
        Pattern.TRICKLE
    ),
    rate: Annotated[float, typer.Option(help="Transactions per second (burst: the average).")] = 100.0,
    duration: Annotated[float, typer.Option(help="Seconds to run.")] = 60.0,
    schema_change: Annotated[
        bool, typer.Option("--schema-change", help="Add sales.customers.loyalty_tier a third of the way in.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the operation mix.")] = 42,
    workers: Annotated[int | None, typer.Option(help="Connections (default: from the rate).")] = None,
    bulk_rows: Annotated[int, typer.Option(help="Rows per bulk transaction.")] = 2000,
) -> None:
    """Run real OLTP transactions against the source; Ctrl-C stops between transactions.

    ``simulate`` installs its own SIGINT/SIGTERM handlers for the run and restores the previous ones.
    """
    from lakepulse_oltp.simulator import simulate as simulate_workload

    settings = LakePulseSettings()
    try:
        result = simulate_workload(
            settings,
            pattern.value,
            rate,
            duration,
            schema_change=schema_change,
            seed=seed,
            workers=workers,
            bulk_rows=bulk_rows,
        )
    except LakePulseError as exc:
        raise _fail(exc) from exc
    _print_simulation(result)
    if result.interrupted:
        raise typer.Exit(INTERRUPTED)


def register(app: typer.Typer) -> None:
    """Add the source commands to the ``lakepulse`` application."""
    app.command("migrate")(migrate_command)
    app.command("seed")(seed_command)
    app.command("simulate")(simulate_command)
