"""The declared silver schemas follow the OLTP source models column for column."""

from __future__ import annotations

import pytest
from pyspark.sql import types as T
from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, Numeric, String, Text
from sqlalchemy.dialects.postgresql import JSONB

from lakepulse_oltp.catalog import PRIMARY_KEYS, PUBLISHED_TABLES, table
from lakepulse_silver_processor.config import SilverProcessorSettings
from lakepulse_silver_processor.expectations import EXPECTATIONS, PARENTS, children_of
from lakepulse_silver_processor.schemas import HISTORY_TABLES, TABLES, Encoding

pytestmark = pytest.mark.unit


def _expected(sql_type: object) -> tuple[type[T.DataType], Encoding]:
    if isinstance(sql_type, BigInteger):
        return T.LongType, Encoding.INTEGER
    if isinstance(sql_type, Integer):
        return T.IntegerType, Encoding.INTEGER
    if isinstance(sql_type, Boolean):
        return T.BooleanType, Encoding.BOOLEAN
    if isinstance(sql_type, Numeric):
        return T.DecimalType, Encoding.DECIMAL
    if isinstance(sql_type, Date):
        return T.DateType, Encoding.DATE
    if isinstance(sql_type, DateTime):
        return T.TimestampType, Encoding.TIMESTAMP
    if isinstance(sql_type, String | Text | JSONB):
        return T.StringType, Encoding.TEXT
    raise AssertionError(f"unmapped type {sql_type!r}")


@pytest.mark.parametrize(("schema_name", "name"), PUBLISHED_TABLES)
def test_declared_schema_matches_source_model(schema_name: str, name: str) -> None:
    declared = TABLES[name]
    source = table(schema_name, name)
    assert declared.column_names == tuple(c.name for c in source.columns)
    assert declared.primary_key == PRIMARY_KEYS[name]
    for column in source.columns:
        spark_type, encoding = _expected(column.type)
        mine = declared.column(column.name)
        assert isinstance(mine.spark_type, spark_type), column.name
        assert mine.encoding is encoding, column.name
        if isinstance(column.type, Numeric):
            assert isinstance(mine.spark_type, T.DecimalType)
            assert (mine.spark_type.precision, mine.spark_type.scale) == (
                column.type.precision,
                column.type.scale,
            )


def test_every_declared_table_is_published_and_rules_name_real_columns() -> None:
    assert set(TABLES) == {name for _, name in PUBLISHED_TABLES}
    assert set(TABLES) >= HISTORY_TABLES
    for name, rules in PARENTS.items():
        for rule in rules:
            assert rule.column in TABLES[name].column_names
            assert rule.parent_column in TABLES[rule.parent_table].primary_key
    assert set(EXPECTATIONS) <= set(TABLES)
    assert children_of("customers") == ["orders"]
    assert children_of("orders") == ["order_lines"]


def test_settings_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEPULSE_SILVER__CONSUMER_GROUP", "silver-x")
    monkeypatch.setenv("LAKEPULSE_SILVER__MAX_BRONZE_VERSIONS_PER_BATCH", "7")
    settings = SilverProcessorSettings()
    assert settings.silver.consumer_group == "silver-x"
    assert settings.silver.max_bronze_versions_per_batch == 7
    assert settings.telemetry.metrics_port == 9403
