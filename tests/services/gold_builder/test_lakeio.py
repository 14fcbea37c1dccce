"""Delta log look-ups through delta-rs, on a real table written by delta-rs (no Spark needed)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from lakepulse_gold_builder import lakeio

pytestmark = pytest.mark.unit


def test_version_properties_metrics_and_rows_of_a_local_table(tmp_path: Path) -> None:
    path = tmp_path / "t"
    uri = path.as_uri()
    assert not lakeio.exists(None, uri)  # type: ignore[arg-type]  # local look-ups never touch Spark
    data = pa.table({"silver_table": ["orders", "order_lines"], "silver_version": [3, 4]})
    write_deltalake(str(path), data, configuration={"delta.enableChangeDataFeed": "true"})
    write_deltalake(str(path), data.slice(0, 1), mode="append")

    assert lakeio.exists(None, uri)  # type: ignore[arg-type]
    assert lakeio.last_commit(None, uri).version == 1  # type: ignore[arg-type]
    assert lakeio.properties(None, uri)["delta.enableChangeDataFeed"] == "true"  # type: ignore[arg-type]
    rows = lakeio.read_small(None, uri, ["silver_table", "silver_version"])  # type: ignore[arg-type]
    assert sorted(r["silver_version"] for r in rows) == [3, 3, 4]


def test_column_range_first_value_and_partition_presence_without_spark(tmp_path: Path) -> None:
    import datetime as dt

    path = tmp_path / "inventory"
    uri = path.as_uri()
    days = [dt.date(2016, 6, 29), dt.date(2016, 6, 30), dt.date(2016, 6, 30)]
    data = pa.table({"snapshot_date": days, "as_of_date": [days[-1]] * 3, "qty": [1, 2, 3]})
    write_deltalake(str(path), data, partition_by=["snapshot_date"])

    assert lakeio.column_range(None, uri, "qty") == (1, 3)  # type: ignore[arg-type]
    assert lakeio.first_value(None, uri, "as_of_date") == dt.date(2016, 6, 30)  # type: ignore[arg-type]
    assert lakeio.has_partition(None, uri, "snapshot_date", "2016-06-30")  # type: ignore[arg-type]
    assert not lakeio.has_partition(None, uri, "snapshot_date", "2016-07-01")  # type: ignore[arg-type]
