"""The deterministic generator: shape, determinism and re-run safety."""

from __future__ import annotations

import datetime as dt

import pytest

from lakepulse_common.settings import LakePulseSettings
from lakepulse_oltp import reference_data as ref
from lakepulse_oltp.checksums import table_checksums
from lakepulse_oltp.errors import DatabaseNotEmptyError, InvalidWorkloadError, SchemaNotMigratedError
from lakepulse_oltp.migrations import migrate
from lakepulse_oltp.seed_rows import SeedPlan, business_days, next_weekday, orders_per_day
from lakepulse_oltp.seeding import is_seeded, seed
from tests.libs.oltp.conftest import SMALL_SCALE, rows, scalar


@pytest.mark.unit
def test_default_scale_plans_a_million_transactional_rows() -> None:
    plan = SeedPlan.for_scale(1.0, 1)
    transactional = plan.orders + plan.expected_order_lines + plan.customers + plan.stock_items
    assert transactional >= 1_000_000


@pytest.mark.unit
def test_orders_follow_weekdays_and_seasonality() -> None:
    days = business_days()
    counts = orders_per_day(100_000, days)
    assert sum(counts) == 100_000
    assert all(day.weekday() < 5 for day in days)
    mean = sum(counts) / len(counts)
    assert 0.85 * mean <= min(counts) and max(counts) <= 1.35 * mean
    december = [n for day, n in zip(days, counts, strict=True) if day.month == 12]
    february = [n for day, n in zip(days, counts, strict=True) if day.month == 2]
    assert min(december) > max(february)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("day", "expected"),
    [(dt.date(2016, 5, 27), dt.date(2016, 5, 30)), (dt.date(2016, 5, 24), dt.date(2016, 5, 25))],
)
def test_delivery_is_the_next_weekday(day: dt.date, expected: dt.date) -> None:
    assert next_weekday(day) == expected


@pytest.mark.unit
@pytest.mark.parametrize(("scale", "seed_value"), [(0, 1), (-1, 1), (1000, 1), (1, -3)])
def test_invalid_arguments_are_refused(scale: float, seed_value: int) -> None:
    with pytest.raises(InvalidWorkloadError):
        seed(LakePulseSettings(), scale, seed_value)


@pytest.mark.integration
def test_same_seed_same_data_other_seed_other_data(
    fresh_database: LakePulseSettings, second_database: LakePulseSettings
) -> None:
    for settings in (fresh_database, second_database):
        migrate(settings)
        seed(settings, SMALL_SCALE, 11, progress=False)
    first = table_checksums(fresh_database)
    assert first == table_checksums(second_database)

    seed(second_database, SMALL_SCALE, 12, replace=True, progress=False)
    other = table_checksums(second_database)
    assert other["orders"] != first["orders"] and other["order_lines"] != first["order_lines"]
    assert other["state_provinces"] == first["state_provinces"]  # reference data does not depend on it


@pytest.mark.integration
def test_seeded_data_has_wide_world_importers_shape(seeded_database: LakePulseSettings) -> None:
    s = seeded_database
    assert scalar(s, "SELECT count(*) FROM application.state_provinces") == 53
    territories = rows(s, "SELECT DISTINCT sales_territory FROM application.state_provinces")
    assert {t for (t,) in territories} == set(ref.SALES_TERRITORIES)
    assert scalar(s, "SELECT count(*) FROM sales.customer_categories") == 7
    assert scalar(s, "SELECT count(*) FROM warehouse.stock_groups") == 10
    plan = SeedPlan.for_scale(SMALL_SCALE, 7)
    assert scalar(s, "SELECT count(*) FROM sales.orders") == plan.orders
    assert scalar(s, "SELECT count(*) FROM sales.customers") == plan.customers
    lines_per_order = rows(
        s, "SELECT min(n), max(n) FROM (SELECT count(*) n FROM sales.order_lines GROUP BY order_id) x"
    )
    assert lines_per_order == [(2, 5)]
    assert scalar(s, "SELECT count(*) FROM sales.orders WHERE extract(isodow FROM order_date) > 5") == 0
    assert (
        scalar(
            s,
            """SELECT count(*) FROM sales.order_lines l JOIN warehouse.stock_items i USING (stock_item_id)
           WHERE l.quantity % i.quantity_per_outer <> 0 OR l.unit_price <> i.unit_price""",
        )
        == 0
    )
    assert (
        scalar(
            s,
            """SELECT count(*) FROM sales.orders WHERE expected_delivery_date <> order_date
             + CASE extract(isodow FROM order_date) WHEN 5 THEN 3 ELSE 1 END""",
        )
        == 0
    )
    assert (
        scalar(
            s,
            """SELECT count(*) FROM warehouse.stock_items i WHERE NOT EXISTS
           (SELECT 1 FROM warehouse.stock_item_stock_groups g WHERE g.stock_item_id = i.stock_item_id)""",
        )
        == 0
    )
    assert scalar(s, "SELECT count(*) FROM warehouse.stock_items WHERE length(marketing_comments) > 4000") > 0
    assert scalar(s, "SELECT count(*) FROM sales.orders WHERE picking_completed_when IS NULL") > 0
    # serial ids continue after the generated ones
    assert scalar(s, "SELECT nextval('sales.orders_order_id_seq')") == plan.orders + 1


@pytest.mark.integration
def test_seed_refuses_a_loaded_database_and_replaces_on_request(seeded_database: LakePulseSettings) -> None:
    before = table_checksums(seeded_database)
    with pytest.raises(DatabaseNotEmptyError, match="--replace"):
        seed(seeded_database, SMALL_SCALE, 7, progress=False)
    seed(seeded_database, SMALL_SCALE, 7, replace=True, progress=False)
    assert table_checksums(seeded_database) == before


@pytest.mark.integration
def test_seed_needs_a_migrated_schema(fresh_database: LakePulseSettings) -> None:
    with pytest.raises(SchemaNotMigratedError, match="lakepulse migrate"):
        seed(fresh_database, SMALL_SCALE, 1, progress=False)


@pytest.mark.integration
def test_is_seeded_tells_an_empty_source_from_a_seeded_one(migrated_database: LakePulseSettings) -> None:
    assert not is_seeded(migrated_database)
    seed(migrated_database, 0.002, 7, progress=False)
    assert is_seeded(migrated_database)
