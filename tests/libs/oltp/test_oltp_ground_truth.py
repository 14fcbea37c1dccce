"""Ground-truth queries on a tiny hand-made source with answers worked out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg2
import pytest

from lakepulse_common.settings import LakePulseSettings
from lakepulse_oltp import ground_truth

HAND_MADE_SOURCE = """
INSERT INTO application.countries VALUES
    (1, 'United States', 'USA', 'North America', 'Americas', 'Northern America');
INSERT INTO application.state_provinces (state_province_id, state_province_code, state_province_name,
    country_id, sales_territory)
    VALUES (1, 'CA', 'California', 1, 'Far West'), (2, 'NY', 'New York', 1, 'Mideast');
INSERT INTO application.cities (city_id, city_name, state_province_id)
    VALUES (1, 'Oakland', 1), (2, 'Albany', 2);
INSERT INTO application.people (person_id, full_name, preferred_name, is_employee, is_salesperson)
    VALUES (2, 'Kayla Woodcock', 'Kayla', true, true);
INSERT INTO sales.customer_categories (customer_category_id, customer_category_name)
    VALUES (1, 'Agent'), (2, 'Wholesaler');
INSERT INTO sales.customers (customer_id, customer_name, bill_to_customer_id, customer_category_id,
    delivery_city_id, postal_city_id, account_opened_date, standard_discount_percentage, is_on_credit_hold,
    payment_days, phone_number, website_url, delivery_postal_code) VALUES
    (1, 'West One', 1, 1, 1, 1, '2015-01-01', 0, false, 7, '1', 'w', '1'),
    (2, 'East Two', 2, 2, 2, 2, '2015-01-01', 0, false, 7, '2', 'w', '2'),
    (3, 'West Three', 3, 1, 1, 1, '2015-01-01', 0, false, 7, '3', 'w', '3'),
    (4, 'Never Ordered', 4, 1, 2, 2, '2015-01-01', 0, false, 7, '4', 'w', '4');
INSERT INTO warehouse.suppliers (supplier_id, supplier_name, payment_days, phone_number, website_url)
    VALUES (1, 'Litware, Inc.', 30, '1', 'w');
INSERT INTO warehouse.package_types (package_type_id, package_type_name) VALUES (1, 'Each');
INSERT INTO warehouse.stock_groups (stock_group_id, stock_group_name)
    VALUES (1, 'Novelty Items'), (2, 'Clothing'), (3, 'Mugs');
INSERT INTO warehouse.stock_items (stock_item_id, stock_item_name, supplier_id, unit_package_id,
    outer_package_id, lead_time_days, quantity_per_outer, is_chiller_stock, tax_rate, unit_price,
    typical_weight_per_unit) VALUES
    (1, 'hoodie', 1, 1, 1, 5, 1, false, 15, 10.00, 1), (2, 'joke pen', 1, 1, 1, 5, 1, false, 15, 1.50, 1),
    (3, 'mug', 1, 1, 1, 5, 1, false, 15, 3.33, 1);
-- item 1 is in Clothing and Mugs: its primary group is Clothing (the lowest id)
INSERT INTO warehouse.stock_item_stock_groups (stock_item_id, stock_group_id)
    VALUES (1, 3), (1, 2), (2, 1), (3, 3);
INSERT INTO warehouse.stock_item_holdings (stock_item_id, quantity_on_hand, bin_location,
    last_stocktake_quantity, last_cost_price, reorder_level, target_stock_level) VALUES
    (1, 5, 'A-1', 5, 6.00, 10, 50), (2, 100, 'A-2', 100, 1.00, 10, 50), (3, 10, 'A-3', 10, 2.00, 10, 50);
INSERT INTO sales.orders (order_id, customer_id, salesperson_person_id, order_date, expected_delivery_date,
    is_undersupply_backordered) VALUES
    (1, 1, 2, '2016-01-04', '2016-01-05', true), (2, 1, 2, '2016-01-04', '2016-01-05', true),
    (3, 2, 2, '2016-01-04', '2016-01-05', true), (4, 2, 2, '2016-01-05', '2016-01-06', true),
    (5, 1, 2, '2016-01-11', '2016-01-12', true), (6, 3, 2, '2016-01-04', '2016-01-05', true);
INSERT INTO sales.order_lines (order_line_id, order_id, stock_item_id, description, package_type_id, quantity,
    unit_price, tax_rate, picked_quantity) VALUES
    (1, 1, 1, 'hoodie', 1, 2, 10.00, 15, 0), (2, 1, 2, 'joke pen', 1, 3, 1.50, 15, 0),
    (3, 2, 1, 'hoodie', 1, 1, 10.00, 15, 0), (4, 3, 1, 'hoodie', 1, 4, 2.50, 15, 0),
    (5, 4, 3, 'mug', 1, 3, 3.33, 15, 0), (6, 4, 2, 'joke pen', 1, 1, 0.01, 15, 0),
    (7, 5, 2, 'joke pen', 1, 1, 5.00, 15, 0), (8, 6, 1, 'hoodie', 1, 1, 0.01, 15, 0);
"""


@pytest.fixture
def hand_made_source(migrated_database: LakePulseSettings) -> LakePulseSettings:
    conn = psycopg2.connect(migrated_database.postgres.dsn())
    try:
        with conn, conn.cursor() as cur:
            cur.execute(HAND_MADE_SOURCE)
    finally:
        conn.close()
    return migrated_database


def D(value: str) -> Decimal:
    return Decimal(value)


@pytest.mark.integration
def test_daily_sales_by_region_and_primary_category(hand_made_source: LakePulseSettings) -> None:
    columns = ("region", "product_category", "total_orders", "total_revenue", "avg_order_value")
    got = [
        (r["sale_date"].isoformat(), *(r[c] for c in columns), r["unique_customers"])
        for r in ground_truth.daily_sales(hand_made_source)
    ]
    assert got == [
        # orders 1, 2 and 6: 20.00 + 10.00 + 0.01; 30.01 / 3 rounds to 10.00; customers 1 and 3
        ("2016-01-04", "Far West", "Clothing", 3, D("30.01"), D("10.00"), 2),
        ("2016-01-04", "Far West", "Novelty Items", 1, D("4.50"), D("4.50"), 1),
        ("2016-01-04", "Mideast", "Clothing", 1, D("10.00"), D("10.00"), 1),
        ("2016-01-05", "Mideast", "Mugs", 1, D("9.99"), D("9.99"), 1),
        ("2016-01-05", "Mideast", "Novelty Items", 1, D("0.01"), D("0.01"), 1),
        ("2016-01-11", "Far West", "Novelty Items", 1, D("5.00"), D("5.00"), 1),
    ]


@pytest.mark.integration
def test_customer_analytics_as_of_a_date(hand_made_source: LakePulseSettings) -> None:
    got = {
        r["customer_id"]: r for r in ground_truth.customer_analytics(hand_made_source, dt.date(2016, 1, 8))
    }
    assert set(got) == {1, 2, 3}  # customer 4 never ordered; order 5 is after the as-of date
    west = got[1]
    assert (west["first_order_date"], west["last_order_date"]) == (dt.date(2016, 1, 4), dt.date(2016, 1, 4))
    assert (west["order_count"], west["lifetime_value"], west["avg_order_value"]) == (
        2,
        D("34.50"),
        D("17.25"),
    )
    assert (west["recency_days"], west["frequency"], west["monetary"]) == (4, 2, D("34.50"))
    assert (west["region"], west["customer_category"]) == ("Far West", "Agent")
    east = got[2]
    assert (east["last_order_date"], east["recency_days"], east["lifetime_value"]) == (
        dt.date(2016, 1, 5),
        3,
        D("20.00"),
    )
    assert (east["region"], east["customer_category"]) == ("Mideast", "Wholesaler")
    assert (got[3]["order_count"], got[3]["monetary"]) == (1, D("0.01"))


@pytest.mark.integration
def test_inventory_reorder_report(hand_made_source: LakePulseSettings) -> None:
    report = {r["stock_item_id"]: r for r in ground_truth.inventory_reorder(hand_made_source)}
    assert report[1]["needs_reorder"] and report[1]["reorder_quantity"] == 45
    assert report[1]["product_category"] == "Clothing" and report[1]["stock_value"] == D("30.00")
    assert not report[2]["needs_reorder"] and report[2]["reorder_quantity"] == 0
    assert report[3]["needs_reorder"] and report[3]["reorder_quantity"] == 40  # at the level counts
    assert [r["stock_item_id"] for r in ground_truth.items_to_reorder(hand_made_source)] == [1, 3]
