"""What a batch of silver changes makes gold recompute (pure set logic, no Spark)."""

from __future__ import annotations

import datetime as dt

import pytest

from lakepulse_gold_builder.impact import SilverChanges, full_rebuild_reason, impact_of, metric_periods

pytestmark = pytest.mark.unit

D = dt.date


def test_order_and_line_changes_touch_their_orders_dates_customers_and_items() -> None:
    changes = SilverChanges(
        rows={
            "orders": [
                {"order_id": 1, "customer_id": 10, "order_date": D(2016, 5, 2)},
                {"order_id": 1, "customer_id": 10, "order_date": D(2016, 5, 3)},  # date moved
            ],
            "order_lines": [{"order_id": 2, "stock_item_id": 7}],
        }
    )
    impact = impact_of(changes)
    assert impact.order_ids == {1, 2}
    assert impact.order_dates == {D(2016, 5, 2), D(2016, 5, 3)}
    assert impact.customers == {10}
    assert impact.items == {7}
    assert not impact.customer_dimension and not impact.stock_item_dimension and not impact.inventory


def test_new_scd2_versions_rekey_orders_from_the_earliest_changed_version() -> None:
    t1, t2 = dt.datetime(2016, 1, 1, 12), dt.datetime(2016, 2, 1)
    changes = SilverChanges(
        rows={
            "customers_history": [
                {"customer_id": 5, "valid_from": t2},
                {"customer_id": 5, "valid_from": t1},
            ],
            "customers": [
                {"customer_id": 5, "delivery_city_id": 1, "last_edited_when": t1},
                {"customer_id": 5, "delivery_city_id": 2, "last_edited_when": t2},
            ],
        },
        history_tables=frozenset({"customers_history"}),
    )
    impact = impact_of(changes)
    assert impact.rekey_customers == {5: D(2016, 1, 1)}
    assert impact.regrouped_customers == {5}  # moved city: the as-is region of all its sales changes
    assert impact.customer_dimension and impact.customers == {5}


def test_without_history_every_order_of_an_edited_item_is_rekeyed() -> None:
    changes = SilverChanges(
        rows={"stock_items": [{"stock_item_id": 3, "last_edited_when": dt.datetime(2016, 1, 1)}]}
    )
    impact = impact_of(changes)
    assert impact.rekey_items == {3: dt.date.min}
    assert impact.stock_item_dimension and impact.inventory


def test_lookup_changes_and_rewound_tables_force_a_full_rebuild() -> None:
    assert full_rebuild_reason({}, {"orders": 1}) == "no gold build yet"
    assert "lookup" in (full_rebuild_reason({"cities": 1, "orders": 1}, {"cities": 2, "orders": 1}) or "")
    assert "went back" in (full_rebuild_reason({"orders": 5}, {"orders": 2}) or "")
    assert full_rebuild_reason({"orders": 1, "order_lines": 1}, {"orders": 2, "order_lines": 1}) is None


def test_metric_periods_include_the_next_day_and_the_previous_months() -> None:
    days, months, read = metric_periods({D(2016, 5, 31)})
    assert days == {D(2016, 5, 31), D(2016, 6, 1)}
    assert months == {D(2016, 5, 1), D(2016, 6, 1)}
    assert read == {D(2016, 4, 1), D(2016, 5, 1), D(2016, 6, 1)}
