"""``lakepulse verify``: silver against PostgreSQL, gold against the ground truth; exit 1 on a mismatch."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lakepulse_common.settings import LakePulseSettings

console = Console()


def verify_command(
    layer: Annotated[list[str] | None, typer.Option(help="silver and/or gold (default: both)")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the pipeline to catch up")] = 120.0,
) -> None:
    """Reconcile the lake with the source at a consistent point; run it while the source is quiet."""
    from lakepulse_cli.verify import reconcile  # SQLAlchemy and the ground truth: loaded when run

    layers = layer or ["silver", "gold"]
    unknown = set(layers) - {"silver", "gold"}
    if unknown:
        console.print(f"[red]unknown layer(s):[/] {', '.join(sorted(unknown))}")
        raise typer.Exit(2)
    checks, before, after = reconcile(LakePulseSettings(), layers=layers, timeout_s=timeout)
    table = Table(title=f"lakepulse verify at source LSN {before.lsn}")
    for column in ("layer", "table", "source rows", "lake rows", "result", "first differences"):
        table.add_column(column)
    for check in checks:
        result = "[green]ok[/]" if check.ok else "[red]MISMATCH[/]"
        details = check.problem or "\n".join(check.mismatched_keys)
        table.add_row(
            check.layer, check.name, f"{check.expected_rows:,}", f"{check.actual_rows:,}", result, details
        )
    console.print(table)
    if after.writes_since(before):
        console.print(
            f"[yellow]the source moved during verification: {after.writes_since(before)} transaction ids"
            f" assigned ({before.lsn} → {after.lsn})[/]"
        )
    failed = [c for c in checks if not c.ok]
    if failed:
        console.print(f"[red]{len(failed)} of {len(checks)} checks failed[/]")
        raise typer.Exit(1)
    console.print(f"[green]all {len(checks)} checks passed[/]")


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_command)
