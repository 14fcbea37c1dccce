"""``lakepulse demo`` — the main job (``make run``): the whole pipeline on the embedded local stack.

Stack up → source schema and seed (first run only) → the five services up → initial snapshot through
to gold → a simulated workload (a burst, then a trickle) with a live view → a gold summary and where
to look next. Ctrl-C stops the workload and the whole stack cleanly; otherwise the stack keeps
running for queries and ``make down`` stops it.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from lakepulse_cli.stack import Stack
from lakepulse_cli.stack.services import SERVICES, service_programs
from lakepulse_common.errors import LakePulseError
from lakepulse_common.settings import LakePulseSettings

if TYPE_CHECKING:
    from lakepulse_cli.drain import Drain, DrainState
    from lakepulse_cli.pipeline import ControlWatcher, PipelineView
    from lakepulse_common.runtime import Shutdown

console = Console()
GOLD_SUMMARY = """
SELECT region, product_category, sum(total_orders) AS orders, sum(total_revenue) AS revenue
FROM gold.fact_sales GROUP BY region, product_category ORDER BY revenue DESC LIMIT 12
"""


def render(view: PipelineView, rates: dict[str, float], phase: str) -> Group:
    layers = Table(title=f"LakePulse — {phase}", expand=False)
    for column in ("layer", "tables", "rows written", "rows/s", "quarantined"):
        layers.add_column(column, justify="right" if column != "layer" else "left")
    for layer in ("bronze", "silver", "gold"):
        layers.add_row(
            layer,
            str(len(view.of_layer(layer))),
            f"{view.layer_rows(layer):,}",
            f"{rates.get(layer, 0.0):,.0f}",
            f"{view.layer_quarantined(layer):,}",
        )
    gold = Table(title="gold freshness (now − newest source commit applied)")
    for column in ("table", "version", "freshness s"):
        gold.add_column(column)
    for progress in view.of_layer("gold"):
        freshness = progress.freshness_s()
        gold.add_row(
            progress.table, str(progress.delta_version), "-" if freshness is None else f"{freshness:.1f}"
        )
    services = ", ".join(f"{name} ♥" for name in sorted(view.heartbeats)) or "waiting for heartbeats"
    return Group(layers, gold, f"services: {services}")


class _Rates:
    """Rows/s per layer over the last refresh interval."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int]] = {}

    def update(self, view: PipelineView) -> dict[str, float]:
        now, rates = time.monotonic(), {}
        for layer in ("bronze", "silver", "gold"):
            rows = view.layer_rows(layer)
            then, before = self._last.get(layer, (now, rows))
            rates[layer] = (rows - before) / (now - then) if now > then else 0.0
            self._last[layer] = (now, rows)
        return rates


def _drain(
    drain: Drain,
    watcher: ControlWatcher,
    live: Live,
    rates: _Rates,
    phase: str,
    timeout_s: float,
    shutdown: Shutdown,
) -> DrainState:
    """Until every stage applied what the source committed before now (see :mod:`lakepulse_cli.drain`)."""
    drain.start()

    def show(state: DrainState) -> None:
        with watcher.lock:
            live.update(render(watcher.view, rates.update(watcher.view), f"{phase} — {state.describe()}"))

    return drain.wait(timeout_s, on_poll=show, stop=lambda: shutdown.requested)


def demo_command(
    scale: Annotated[
        float,
        typer.Option(
            help="seed scale on first run (0.1 ≈ 100k rows; 1.0 ≈ 1M rows, whose snapshot needs"
            " more than 30 min to reach gold on 2 cores)"
        ),
    ] = 0.1,
    duration: Annotated[float, typer.Option(help="seconds of simulated workload")] = 60.0,
    rate: Annotated[float, typer.Option(help="trickle rate, transactions/s (the burst runs at 4x)")] = 50.0,
    snapshot_timeout: Annotated[
        float,
        typer.Option(help="seconds to wait for the snapshot to reach gold"),
    ] = 1800,
    drain_timeout: Annotated[
        float, typer.Option(help="seconds to wait for gold to catch up once the workload ends")
    ] = 600,
) -> None:
    """Run the whole pipeline on the local stack with a live view."""
    # Imported here, not at the top: every `lakepulse` command (`lakepulse sql` too) loads this module.
    from lakepulse_cli.drain import Drain
    from lakepulse_cli.pipeline import ControlWatcher
    from lakepulse_common.runtime import Shutdown
    from lakepulse_oltp.migrations import migrate
    from lakepulse_oltp.seeding import is_seeded
    from lakepulse_oltp.seeding import seed as seed_source
    from lakepulse_oltp.simulator import simulate

    settings = LakePulseSettings()
    shutdown = Shutdown().install()
    try:
        console.print("[bold]1/5[/] local stack (Postgres, Kafka)")
        Stack(settings).up()
        console.print("[bold]2/5[/] source schema and data")
        migrate(settings)
        if not is_seeded(settings):
            result = seed_source(settings, scale)
            console.print(f"seeded {result.total_rows:,} rows in {result.elapsed_s:.1f}s")
        else:
            console.print("source already seeded: reusing it")
        console.print(f"[bold]3/5[/] services: {', '.join(SERVICES)}")
        stack = Stack(settings, service_programs(settings))
        stack.up()
    except LakePulseError as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        raise typer.Exit(1) from exc

    watcher = ControlWatcher(settings)
    watcher.start()
    drain = Drain(settings, watcher)
    rates = _Rates()
    with Live(console=console, refresh_per_second=2) as live:
        console.print("[bold]4/5[/] initial snapshot through to gold")
        state = _drain(drain, watcher, live, rates, "initial snapshot → gold", snapshot_timeout, shutdown)
        if not state.done and not shutdown.requested:
            console.print(
                f"[red]gold did not catch up in time ({state.describe()});"
                " see `lakepulse status` and .lakepulse/logs/[/]"
            )
            raise typer.Exit(1)
        console.print(f"[bold]5/5[/] workload: burst then trickle for {duration:.0f}s")
        phases = [("burst", rate * 4, duration / 3), ("trickle", rate, duration * 2 / 3)]
        for pattern, pattern_rate, seconds in phases:
            if shutdown.requested:
                break
            worker = threading.Thread(
                target=simulate,
                kwargs={
                    "settings": settings,
                    "pattern": pattern,
                    "rate": pattern_rate,
                    "duration": seconds,
                    "shutdown": shutdown,
                },
                daemon=True,
            )
            worker.start()
            while worker.is_alive():
                with watcher.lock:
                    live.update(render(watcher.view, rates.update(watcher.view), f"workload: {pattern}"))
                worker.join(0.5)
        if not shutdown.requested:
            state = _drain(drain, watcher, live, rates, "workload done → gold", drain_timeout, shutdown)
            if not state.done:
                console.print(f"[yellow]gold has not caught up yet ({state.describe()})[/]")
    if not console.is_terminal:
        console.line()  # rich leaves the last frame of a non-terminal Live without its line end
    watcher.stop()

    if shutdown.requested:
        console.print("interrupted: stopping the stack")
        stack.down()
        raise typer.Exit(130)
    _print_summary(settings)


def _print_summary(settings: LakePulseSettings) -> None:
    from lakepulse_cli.sql import QueryError, run_query

    try:
        summary = run_query(settings.lake_root, GOLD_SUMMARY)
    except QueryError as exc:
        console.print(f"[yellow]no gold summary:[/] {exc}")
    else:
        table = Table(title="gold.fact_sales — revenue by region and product category (top 12)")
        for column in summary.table.column_names:
            table.add_column(column)
        for row in summary.table.to_pylist():
            table.add_row(*(str(v) for v in row.values()))
        console.print(table)
    console.print(
        "\n[bold]Where to look next[/]\n"
        f"  control API     {settings.control_api.url}/docs  (status: /api/v1/status)\n"
        "  metrics         http://127.0.0.1:9401/metrics … :9404/metrics (cdc, bronze, silver, gold)\n"
        '  query           uv run lakepulse sql "SELECT * FROM gold.sales_metrics LIMIT 10"\n'
        "  reconcile       uv run lakepulse verify\n"
        "  logs            .lakepulse/logs/\n"
        "  stop            make down"
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
