"""Workload simulator: real OLTP transactions against the source at a chosen pattern and rate.

The runner (SQLAlchemy, the operations) is imported on first use of one of its names, so a program
that only needs :class:`Pattern` — the ``lakepulse`` CLI declaring its options — does not load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakepulse_oltp.simulator.kinds import Pattern

if TYPE_CHECKING:
    from lakepulse_oltp.simulator.runner import SimulationError, SimulationResult, simulate

__all__ = ["Pattern", "SimulationError", "SimulationResult", "simulate"]
_RUNNER_NAMES = frozenset({"SimulationError", "SimulationResult", "simulate"})


def __getattr__(name: str) -> Any:
    if name in _RUNNER_NAMES:
        from lakepulse_oltp.simulator import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
