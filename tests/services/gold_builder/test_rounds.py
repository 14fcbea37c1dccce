"""Which silver rounds a gold batch still waits for (pure: events built in memory)."""

from __future__ import annotations

from lakepulse_common.control_events import ROUND_ID, ControlEvent, EventKind, Layer
from lakepulse_gold_builder.rounds import REMEMBERED_ENDS, RoundTracker


def commit(table: str, round_id: str | None) -> ControlEvent:
    details = {ROUND_ID: round_id} if round_id else {}
    return ControlEvent(
        kind=EventKind.COMMIT, service="silver-processor", layer=Layer.SILVER, table=table, details=details
    )


def end(round_id: str) -> ControlEvent:
    return ControlEvent(
        kind=EventKind.ROUND_END, service="silver-processor", layer=Layer.SILVER, details={ROUND_ID: round_id}
    )


def test_a_round_is_waited_for_from_its_first_commit_until_its_end() -> None:
    rounds = RoundTracker()
    rounds.commit(commit("orders", "r1"))
    rounds.commit(commit("order_lines", "r1"))
    assert rounds.waiting
    rounds.end(end("r1"))
    assert not rounds.waiting


def test_commits_without_a_round_are_not_waited_for() -> None:
    rounds = RoundTracker()
    rounds.commit(commit("customers", None))  # a re-announcement, a command's commit, an older silver
    assert not rounds.waiting


def test_a_commit_consumed_after_its_rounds_end_does_not_reopen_it() -> None:
    rounds = RoundTracker()
    rounds.end(end("r1"))  # the end travelled on another partition and came first
    rounds.commit(commit("orders", "r1"))
    assert not rounds.waiting
    rounds.commit(commit("orders", "r2"))
    assert rounds.waiting


def test_settling_forgets_the_open_rounds_so_an_unended_one_delays_one_batch_only() -> None:
    rounds = RoundTracker()
    rounds.commit(commit("orders", "r1"))
    assert rounds.settle() == {"r1"}
    assert not rounds.waiting
    rounds.commit(commit("order_lines", "r1"))  # the round went on: its next commit opens it again
    assert rounds.waiting


def test_only_the_newest_ends_are_remembered() -> None:
    rounds = RoundTracker()
    for i in range(REMEMBERED_ENDS + 1):
        rounds.end(end(f"r{i}"))
    rounds.commit(commit("orders", f"r{REMEMBERED_ENDS}"))
    assert not rounds.waiting
    rounds.commit(commit("orders", "r0"))  # forgotten: a commit this late is waited for again
    assert rounds.waiting
