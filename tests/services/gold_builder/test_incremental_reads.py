"""Unit tests of the slice of the fact an incremental build's marts read (``incremental.mart_reads``).

The marts' results over the slice are checked against the ground truth in ``test_incremental.py``;
here, which mart reads what.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest

from lakepulse_gold_builder.impact import Impact
from lakepulse_gold_builder.incremental import SalesLines, mart_reads
from lakepulse_gold_builder.tables import CUSTOMER_ANALYTICS, FACT_SALES

DAY = dt.date(2016, 6, 30)


def test_each_touched_mart_reads_its_own_slice() -> None:
    impact = Impact(order_dates={DAY}, customers={7, 3}, items={12})

    reads = mart_reads(impact, all_customers=False)

    assert reads == {
        "fact_sales": "order_month IN (DATE'2016-06-01') AND order_date IN (DATE'2016-06-30')",
        # Growth: the day after (1 July) changes too, so June and July are shown, May to July read.
        "sales_metrics": "order_month IN (DATE'2016-05-01', DATE'2016-06-01', DATE'2016-07-01')",
        "customer_analytics": "customer_id IN (3, 7)",
        "operational_reports": "stock_item_id IN (12)",
    }


def test_customer_analytics_rewritten_whole_reads_no_slice() -> None:
    reads = mart_reads(Impact(order_dates={DAY}, customers={7}), all_customers=True)

    assert "customer_analytics" not in reads
    assert set(reads) == {"fact_sales", "sales_metrics"}


def test_an_impact_without_orders_customers_or_items_reads_nothing() -> None:
    assert mart_reads(Impact(inventory=True), all_customers=False) == {}


def test_a_mart_without_a_read_slice_is_refused() -> None:
    lines = SalesLines(every=cast(Any, None), sliced=None, reads={}, all_customers=False)

    with pytest.raises(KeyError, match="customer_analytics"):
        lines.of(CUSTOMER_ANALYTICS)
    with pytest.raises(KeyError, match="fact_sales"):
        SalesLines(
            every=cast(Any, None), sliced=cast(Any, object()), reads={"x": "true"}, all_customers=False
        ).of(FACT_SALES)
