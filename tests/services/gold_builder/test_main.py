"""The deployable unit: the console script starts, and its job flags are checked before any work."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from lakepulse_gold_builder.main import parse_args

pytestmark = pytest.mark.unit


def test_console_script_is_wired() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lakepulse_gold_builder.main", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and "--full-rebuild" in result.stdout


def test_cli_backfill_needs_both_dates() -> None:
    args = parse_args(["--from", "2016-05-01", "--to", "2016-05-31"])
    assert (args.start, args.end) == (dt.date(2016, 5, 1), dt.date(2016, 5, 31))
    with pytest.raises(SystemExit):
        parse_args(["--from", "2016-05-01"])
    with pytest.raises(SystemExit):
        parse_args(["--full-rebuild", "--optimize"])
