"""``lakepulse migrate | seed | simulate`` through Typer, against the test stack's Postgres."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from lakepulse_cli.commands.source import register
from lakepulse_common.settings import LakePulseSettings


@pytest.fixture
def app() -> typer.Typer:
    application = typer.Typer()
    register(application)
    return application


def _point_at(monkeypatch: pytest.MonkeyPatch, settings: LakePulseSettings) -> None:
    pg = settings.postgres
    monkeypatch.setenv("LAKEPULSE_POSTGRES__HOST", pg.host)
    monkeypatch.setenv("LAKEPULSE_POSTGRES__PORT", str(pg.port))
    monkeypatch.setenv("LAKEPULSE_POSTGRES__USER", pg.user)
    monkeypatch.setenv("LAKEPULSE_POSTGRES__PASSWORD", pg.password.get_secret_value())
    monkeypatch.setenv("LAKEPULSE_POSTGRES__DATABASE", pg.database)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "--rate", "-1"], "rate must be"),
        (["simulate", "--duration", "0"], "duration must be"),
        (["simulate", "--pattern", "sideways"], "sideways"),
        (["seed", "--scale", "0"], "scale must be"),
        (["seed", "--seed", "-2"], "seed must be"),
    ],
)
def test_invalid_arguments_exit_with_code_2(app: typer.Typer, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output


@pytest.mark.integration
def test_migrate_seed_simulate_and_down(
    app: typer.Typer, fresh_database: LakePulseSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _point_at(monkeypatch, fresh_database)
    runner = CliRunner()
    migrated = runner.invoke(app, ["migrate"])
    assert migrated.exit_code == 0, migrated.output
    assert "revision 0001" in migrated.output

    seeded = runner.invoke(app, ["seed", "--scale", "0.005", "--seed", "3"])
    assert seeded.exit_code == 0, seeded.output
    assert "order_lines" in seeded.output

    again = runner.invoke(app, ["seed", "--scale", "0.005", "--seed", "3"])
    assert again.exit_code == 1 and "--replace" in again.output

    simulated = runner.invoke(app, ["simulate", "--rate", "40", "--duration", "2", "--schema-change"])
    assert simulated.exit_code == 0, simulated.output
    assert "achieved" in simulated.output and "schema_change" in simulated.output

    down = runner.invoke(app, ["migrate", "--down"])
    assert down.exit_code == 0, down.output
    assert "base (empty)" in down.output
