"""Where each stage records how far it got, so that readers outside the stage can tell.

These are contracts between a stage and whoever checks on it (the CLI's drain wait, ``verify``,
tests), not conveniences: silver records the newest bronze version it applied as a Delta
transaction (``setTransaction``) under :func:`silver_app_id`; gold records the silver versions it
reflects in the ``gold/_build_state`` table (:data:`GOLD_BUILD_STATE_TABLE`). With transaction
alignment, silver holds changes of incomplete source transactions in ``silver/_held`` under
:data:`TRANSACTION_INCOMPLETE_RULE` until they are released (deleted from there) and applied.
"""

from __future__ import annotations

from typing import Final

GOLD_BUILD_STATE_TABLE: Final = "_build_state"
# Bronze's table of the transaction topic's BEGIN/END events (silver's transaction alignment reads it).
BRONZE_TRANSACTIONS_TABLE: Final = "_transactions"
SILVER_HELD_TABLE: Final = "_held"
TRANSACTION_INCOMPLETE_RULE: Final = "transaction_incomplete"
# Delta operations that rewrite files without changing what a table holds.
LAYOUT_ONLY_OPERATIONS: Final = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END", "REORG"})


def silver_app_id(table: str) -> str:
    """The Delta ``txn`` app id whose version is the newest bronze version applied to silver ``table``."""
    return f"lakepulse-silver:{table}"
