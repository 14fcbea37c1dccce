"""Which silver rounds a gold batch still waits for (pure: events built in memory)."""

from __future__ import annotations

from lakepulse_gold_builder.rounds import REMEMBERED_ENDS, RoundTracker
from tests.services.gold_builder.silver_events import round_end, silver_commit


def test_a_round_is_waited_for_from_its_first_commit_until_its_end() -> None:
    rounds = RoundTracker()
    rounds.commit(silver_commit("orders", round_id="r1"))
    rounds.commit(silver_commit("order_lines", round_id="r1"))
    assert rounds.waiting
    rounds.end(round_end("r1"))
    assert not rounds.waiting


def test_commits_without_a_round_are_not_waited_for() -> None:
    rounds = RoundTracker()
    # a re-announcement, a command's commit, an older silver
    rounds.commit(silver_commit("customers", round_id=None))
    assert not rounds.waiting


def test_a_commit_consumed_after_its_rounds_end_does_not_reopen_it() -> None:
    rounds = RoundTracker()
    rounds.end(round_end("r1"))  # the end travelled on another partition and came first
    rounds.commit(silver_commit("orders", round_id="r1"))
    assert not rounds.waiting
    rounds.commit(silver_commit("orders", round_id="r2"))
    assert rounds.waiting


def test_settling_forgets_the_open_rounds_so_an_unended_one_delays_one_batch_only() -> None:
    rounds = RoundTracker()
    rounds.commit(silver_commit("orders", round_id="r1"))
    assert rounds.settle() == {"r1"}
    assert not rounds.waiting
    # the round went on: its next commit opens it again
    rounds.commit(silver_commit("order_lines", round_id="r1"))
    assert rounds.waiting


def test_only_the_newest_ends_are_remembered() -> None:
    rounds = RoundTracker()
    for i in range(REMEMBERED_ENDS + 1):
        rounds.end(round_end(f"r{i}"))
    rounds.commit(silver_commit("orders", round_id=f"r{REMEMBERED_ENDS}"))
    assert not rounds.waiting
    rounds.commit(silver_commit("orders", round_id="r0"))  # forgotten: a commit this late is waited for again
    assert rounds.waiting
