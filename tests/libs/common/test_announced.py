"""The per-table record of the last announced Delta version."""

from pathlib import Path

import pytest

from lakepulse_common.announced import AnnouncedState

pytestmark = pytest.mark.unit


def test_announced_state_survives_a_restart(tmp_path: Path) -> None:
    state = AnnouncedState(tmp_path / "announced.json")
    assert state.last("orders") == -1
    state.versions["orders"] = 7
    state.save()
    assert AnnouncedState(tmp_path / "announced.json").last("orders") == 7
