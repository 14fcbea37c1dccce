"""Silver rounds: wait for the end of the round a silver commit belongs to, then build once.

The silver processor applies one poll of bronze events as a round: the tables one after another,
each committed and announced as soon as it is applied, then a ``round_end`` event
(:data:`lakepulse_common.control_events.ROUND_ID`). A gold build reads every silver table at its
newest version, so building after each of a round's commits computes the same marts several times
over, each time from a point where only some of the round's tables are applied, and on a small
machine takes the CPU the rest of the round needs. The service therefore keeps polling (bounded by
``gold.round_wait_s``) while a round it has seen commits of has not ended.
"""

from __future__ import annotations

from collections import deque

from lakepulse_common.control_events import ROUND_ID, ControlEvent

REMEMBERED_ENDS = 256  # ended rounds kept, for commit events consumed after their round's end


def round_of(event: ControlEvent) -> str | None:
    value = event.details.get(ROUND_ID)
    return value if isinstance(value, str) and value else None


class RoundTracker:
    """Which silver rounds have commits in the current batch but no end yet.

    Commit and end events of one round travel on different partitions of the control topic (keyed
    by table), so an end may be consumed before some of its commits: ended rounds are remembered and
    their late commits do not reopen them. Open rounds are forgotten after each batch (:meth:`settle`):
    a round whose end never comes (silver stopped mid-round) delays at most one build.
    """

    def __init__(self) -> None:
        self._open: set[str] = set()
        self._ended: deque[str] = deque(maxlen=REMEMBERED_ENDS)

    @property
    def waiting(self) -> bool:
        return bool(self._open)

    def commit(self, event: ControlEvent) -> None:
        round_id = round_of(event)
        if round_id is not None and round_id not in self._ended:
            self._open.add(round_id)

    def end(self, event: ControlEvent) -> None:
        round_id = round_of(event)
        if round_id is None:
            return
        self._open.discard(round_id)
        if round_id not in self._ended:
            self._ended.append(round_id)

    def settle(self) -> set[str]:
        """Forget the rounds still open (the batch is built without their ends); returns them."""
        still_open, self._open = self._open, set()
        return still_open
