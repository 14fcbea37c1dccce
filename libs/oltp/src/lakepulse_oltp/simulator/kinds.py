"""The workload patterns' names, apart from their schedules and operations.

The CLI declares ``--pattern`` with this enum when it starts; keeping it free of SQLAlchemy and the
operations lets every other command start without loading the simulator.
"""

from __future__ import annotations

from enum import StrEnum


class Pattern(StrEnum):
    TRICKLE = "trickle"
    BULK = "bulk"
    BURST = "burst"
