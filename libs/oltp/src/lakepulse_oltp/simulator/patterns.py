"""Workload patterns: when each transaction is released, and which kinds make up the mix.

``trickle`` releases transactions evenly at ``rate``. ``burst`` alternates an idle half-period with a
spike at twice ``rate``, so the average over whole periods is ``rate``; the period is stretched or
shrunk so that the run holds a whole number of them. ``bulk`` releases few, large
transactions (about ``bulk_rows`` rows each) evenly at ``rate``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from lakepulse_oltp.simulator import bulk_operations, operations
from lakepulse_oltp.simulator.kinds import Pattern as Pattern  # re-exported: its home before kinds
from lakepulse_oltp.simulator.operations import Operation

SINGLE_MIX: dict[str, tuple[Operation, int]] = {
    "place_order": (operations.place_order, 30),
    "complete_picking": (operations.complete_picking, 20),
    "edit_comments": (operations.edit_comments, 10),
    "cancel_order": (operations.cancel_order, 5),
    "change_customer": (operations.change_customer, 10),
    "change_price": (operations.change_price, 8),
    "stock_take": (operations.stock_take, 9),
    "new_customer": (operations.new_customer, 4),
    "new_stock_item": (operations.new_stock_item, 4),
}
SCHEMA_CHANGE_MIX: dict[str, tuple[Operation, int]] = {
    "set_loyalty_tier": (operations.set_loyalty_tier, 5),
}
BULK_MIX: dict[str, tuple[Operation, int]] = {
    "bulk_place_orders": (bulk_operations.bulk_place_orders, 45),
    "bulk_complete_picking": (bulk_operations.bulk_complete_picking, 25),
    "bulk_price_change": (bulk_operations.bulk_price_change, 15),
    "bulk_stock_take": (bulk_operations.bulk_stock_take, 15),
}
BULK_SCHEMA_CHANGE_MIX: dict[str, tuple[Operation, int]] = {
    "bulk_set_loyalty_tier": (bulk_operations.bulk_set_loyalty_tier, 10),
}
SCHEMA_CHANGE = "schema_change"


def operation_mix(pattern: Pattern, schema_changed: bool) -> dict[str, tuple[Operation, int]]:
    if pattern is Pattern.BULK:
        return {**BULK_MIX, **BULK_SCHEMA_CHANGE_MIX} if schema_changed else BULK_MIX
    return {**SINGLE_MIX, **SCHEMA_CHANGE_MIX} if schema_changed else SINGLE_MIX


def release_offsets(pattern: Pattern, rate: float, duration_s: float, period_s: float) -> Iterator[float]:
    """Seconds after the start at which each transaction is due; never later than ``duration_s``."""
    if pattern is not Pattern.BURST:
        for k in range(math.floor(rate * duration_s + 1e-9)):
            yield k / rate
        return
    period_s = duration_s / max(1, round(duration_s / period_s))  # whole periods only
    per_period = rate * period_s
    k = 0
    while True:
        cycle, within = divmod(k, per_period)
        offset = cycle * period_s + period_s / 2 + within / (2 * rate)
        if offset >= duration_s:
            return
        yield offset
        k += 1


def peak_rate(pattern: Pattern, rate: float) -> float:
    return 2 * rate if pattern is Pattern.BURST else rate
