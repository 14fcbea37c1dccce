"""``lakepulse``: the user's front door to the local stack and the pipeline."""

from __future__ import annotations

import csv
import json
import logging
import subprocess
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from lakepulse_cli.commands import demo as demo_commands
from lakepulse_cli.commands import source as source_commands
from lakepulse_cli.commands import verify as verify_commands
from lakepulse_cli.stack import Stack, StackStatus
from lakepulse_cli.stack.services import console_script, service_programs
from lakepulse_common.errors import LakePulseError
from lakepulse_common.settings import LakePulseSettings

app = typer.Typer(
    name="lakepulse",
    help="LakePulse: PostgreSQL CDC into a Delta Lake lakehouse, on one laptop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
source_commands.register(app)  # migrate, seed, simulate
demo_commands.register(app)  # demo: the main job (`make run`)
verify_commands.register(app)  # verify: reconcile the lake with the source


def _settings() -> LakePulseSettings:
    return LakePulseSettings()


def _print_status(status: StackStatus) -> None:
    table = Table(title=f"LakePulse local stack ({status.state_dir})")
    for column in ("component", "state", "healthy", "pid", "RSS MiB", "log"):
        table.add_column(column)
    for c in status.components:
        table.add_row(
            c.name,
            c.state,
            "[green]yes[/]" if c.healthy else "[red]no[/]",
            str(c.pid or "-"),
            f"{c.rss_bytes / 2**20:.0f}",
            c.log_file or "",
        )
    console.print(table)
    endpoints = Table(title="Endpoints", show_header=False)
    for key, value in status.endpoints.items():
        endpoints.add_row(key, value)
    console.print(endpoints)


def _stack(with_services: bool = True) -> Stack:
    settings = _settings()
    return Stack(settings, service_programs(settings) if with_services else ())


@app.command()
def up(
    with_services: bool = typer.Option(
        False, "--with-services", help="also start the five LakePulse services"
    ),
) -> None:
    """Start the local stack (idempotent): Postgres and Kafka under supervisord, then wait until healthy."""
    stack = _stack(with_services)
    try:
        status = stack.up()
    except LakePulseError as exc:
        console.print(f"[red]lakepulse up failed:[/] {exc}")
        raise typer.Exit(1) from exc
    _print_status(status)


@app.command()
def down() -> None:
    """Stop the local stack cleanly; no LakePulse process is left running."""
    strays = _stack().down()
    if strays:
        console.print(f"[yellow]stopped stray processes:[/] {strays}")
    console.print("local stack stopped")


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="machine-readable endpoints and health"),
    show_secrets: bool = typer.Option(
        False, "--show-secrets", help="include the Postgres password in the DSN"
    ),
) -> None:
    """Show each component's health and the stack's endpoints. Exit code 1 when something is unhealthy."""
    result = _stack().status(reveal_secrets=show_secrets)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
    else:
        _print_status(result)
    if not result.healthy:
        raise typer.Exit(1)


@app.command("ingest-files")
def ingest_files_command(
    path: Path = typer.Argument(..., exists=True, help="a CSV/JSON-lines file, or a directory of them"),
    table: str = typer.Option(..., "--table", help="bronze table to load into (e.g. customers)"),
) -> None:
    """The seed's batch path: CSV and JSON files into bronze (op `r`), idempotent by file checksum.

    Runs the bronze writer's own file ingestion (``lakepulse-bronze-writer ingest-files``) in its own
    process, so the CLI stays free of Spark.
    """
    script = console_script("bronze-writer")
    if not script.exists():
        console.print("[red]the bronze writer is not installed in this environment[/]")
        raise typer.Exit(1)
    result = subprocess.run([str(script), "ingest-files", str(path), "--table", table], check=False)
    raise typer.Exit(result.returncode)


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


@app.command("sql")
def sql_command(
    query: str = typer.Argument(..., help="SQL over bronze.<t>, silver.<t>, gold.<t> (DuckDB dialect)"),
    output: OutputFormat = typer.Option(OutputFormat.TABLE, "--format", "-f", help="table, csv or json"),
    as_of: int | None = typer.Option(None, "--as-of", min=0, help="read every table at this Delta version"),
    limit: int = typer.Option(1000, "--max-rows", min=1, help="rows printed in table format"),
) -> None:
    """Query the lake with an embedded engine (DuckDB over delta-rs); no JVM starts."""
    from lakepulse_cli.sql import QueryError, run_query

    try:
        result = run_query(_settings().lake_root, query, as_of=as_of)
    except (QueryError, ValueError) as exc:
        console.print(f"[red]query failed:[/] {exc}")
        raise typer.Exit(2) from exc
    rows = result.table.to_pylist()
    if output is OutputFormat.JSON:
        typer.echo(json.dumps(rows, default=str, indent=1))
    elif output is OutputFormat.CSV:
        writer = csv.DictWriter(sys.stdout, fieldnames=result.table.column_names)
        writer.writeheader()
        writer.writerows(rows)
    else:
        table = Table(caption=", ".join(f"{name}@v{version}" for name, version in result.tables_read.items()))
        for column in result.table.column_names:
            table.add_column(column)
        for row in rows[:limit]:
            table.add_row(*("NULL" if v is None else str(v) for v in row.values()))
        console.print(table)
        if len(rows) > limit:
            console.print(f"({len(rows) - limit} more rows not shown; use --format csv)")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
