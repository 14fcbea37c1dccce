"""The `lakepulse` entry point: loading it does not load what only some commands run."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

# Loaded by migrate/seed/simulate/verify/demo when they run; `lakepulse sql` and `status` never need them.
HEAVY = ("sqlalchemy", "alembic", "lakepulse_oltp.simulator.runner", "lakepulse_cli.drain")


def test_the_cli_loads_without_the_source_and_pipeline_modules():
    script = "import sys, lakepulse_cli.main; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", script.format(heavy=HEAVY)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
