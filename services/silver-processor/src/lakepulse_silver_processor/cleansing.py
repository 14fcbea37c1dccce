"""The seed's cleansing rules as pure column transformations.

Emails are trimmed and lower-cased, phone numbers keep their digits only (an empty result becomes
null), and timestamps are already UTC instants after decoding (the source stores UTC wall-clock time,
Spark's session zone is UTC). A change whose key has a null part is never applied: it is flagged with
the built-in ``null_key`` rule, which quarantines it.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakepulse_silver_processor.schemas import Cleanse, TableSchema

NULL_KEY_RULE = "null_key"


def clean_email(value: Column) -> Column:
    trimmed = F.lower(F.trim(value))
    return F.when(trimmed == "", F.lit(None)).otherwise(trimmed)


def clean_phone(value: Column) -> Column:
    digits = F.regexp_replace(value, r"[^0-9]", "")
    return F.when(digits == "", F.lit(None)).otherwise(digits)


_CLEANERS = {Cleanse.EMAIL: clean_email, Cleanse.PHONE: clean_phone}


def cleanse(changes: DataFrame, schema: TableSchema) -> DataFrame:
    """Apply each declared column's cleanser; other columns pass through unchanged."""
    replacements = {
        column.name: _CLEANERS[column.cleanse](F.col(column.name)).cast(column.spark_type)
        for column in schema.columns
        if column.cleanse is not None
    }
    return changes.withColumns(replacements) if replacements else changes


def null_key(schema: TableSchema) -> Column:
    """True when any part of the primary key is null."""
    return reduce(lambda a, b: a | b, (F.col(k).isNull() for k in schema.primary_key))
