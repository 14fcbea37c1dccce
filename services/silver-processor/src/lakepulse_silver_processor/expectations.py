"""Declarative data-quality expectations per table, and the parent checks that hold late children.

An :class:`Expectation` is a SQL predicate a row must satisfy (NULL counts as a failure) and an
action: ``warn`` counts it, ``quarantine`` diverts the change to ``silver/_quarantine`` (the key keeps
its previous silver value), ``fail`` stops the processor before anything is committed. Expectations
judge upserts only; a delete is always applied. A :class:`ParentRule` says a child needs its parent
row in silver (an order needs its customer); a child whose parent is missing is *held* in
``silver/_held`` and retried after later batches, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakepulse_silver_processor.cleansing import NULL_KEY_RULE, null_key
from lakepulse_silver_processor.schemas import TableSchema

_EMAIL = r"^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$"


class Action(StrEnum):
    WARN = "warn"
    QUARANTINE = "quarantine"
    FAIL = "fail"


@dataclass(frozen=True)
class Expectation:
    name: str
    predicate: str  # Spark SQL over the row's silver columns; the row passes when it is TRUE
    action: Action


@dataclass(frozen=True)
class ParentRule:
    name: str
    column: str
    parent_table: str
    parent_column: str


def _valid_email(column: str, action: Action = Action.WARN) -> Expectation:
    return Expectation("valid_email", f"{column} IS NULL OR {column} RLIKE '{_EMAIL}'", action)


EXPECTATIONS: dict[str, tuple[Expectation, ...]] = {
    "customers": (
        _valid_email("email"),
        Expectation(
            "credit_limit_non_negative", "credit_limit IS NULL OR credit_limit >= 0", Action.QUARANTINE
        ),
        Expectation("discount_in_range", "standard_discount_percentage BETWEEN 0 AND 100", Action.QUARANTINE),
    ),
    "people": (_valid_email("email_address"),),
    "orders": (Expectation("delivery_after_order", "expected_delivery_date >= order_date", Action.WARN),),
    "order_lines": (
        Expectation("quantity_positive", "quantity > 0", Action.QUARANTINE),
        Expectation("unit_price_non_negative", "unit_price >= 0", Action.QUARANTINE),
        Expectation("picked_quantity_non_negative", "picked_quantity >= 0", Action.QUARANTINE),
    ),
    "stock_items": (
        Expectation("unit_price_non_negative", "unit_price >= 0", Action.QUARANTINE),
        Expectation("quantity_per_outer_positive", "quantity_per_outer > 0", Action.QUARANTINE),
    ),
    "stock_item_holdings": (
        Expectation("quantity_on_hand_non_negative", "quantity_on_hand >= 0", Action.WARN),
    ),
}

PARENTS: dict[str, tuple[ParentRule, ...]] = {
    "orders": (ParentRule("order_customer_exists", "customer_id", "customers", "customer_id"),),
    "order_lines": (ParentRule("order_line_order_exists", "order_id", "orders", "order_id"),),
}


def children_of(parent_table: str) -> list[str]:
    """Tables holding rows that may wait for ``parent_table``."""
    return sorted(t for t, rules in PARENTS.items() if any(r.parent_table == parent_table for r in rules))


def _failed(rules: Sequence[Expectation], action: Action) -> Column:
    flags = [
        F.when(~F.coalesce(F.expr(rule.predicate), F.lit(False)), F.lit(rule.name))
        for rule in rules
        if rule.action is action
    ]
    if not flags:
        return F.array().cast("array<string>")
    return F.array_compact(F.array(*flags))


def evaluate(changes: DataFrame, schema: TableSchema, rules: Sequence[Expectation]) -> DataFrame:
    """Add ``_quarantine_rules``, ``_warn_rules`` and ``_fail_rules``: the rules each change broke."""
    is_upsert = F.col("_op") != "d"
    empty = F.array().cast("array<string>")
    key_rule = F.when(null_key(schema), F.array(F.lit(NULL_KEY_RULE))).otherwise(empty)
    return changes.withColumns(
        {
            "_quarantine_rules": F.concat(
                key_rule, F.when(is_upsert, _failed(rules, Action.QUARANTINE)).otherwise(empty)
            ),
            "_warn_rules": F.when(is_upsert, _failed(rules, Action.WARN)).otherwise(empty),
            "_fail_rules": F.when(is_upsert, _failed(rules, Action.FAIL)).otherwise(empty),
        }
    )


def mark_missing_parents(
    changes: DataFrame,
    rules: Sequence[ParentRule],
    parent_keys: Mapping[str, DataFrame | None],
    *,
    hold_snapshot_rows: bool = False,
) -> DataFrame:
    """Add ``_held_rule``: the first parent rule an upsert breaks (null when every parent exists).

    ``parent_keys[rule.name]`` holds the parent's key values in a column named ``_parent_key``
    (None: the parent table does not exist yet, so every child waits).

    Snapshot reads (``op = 'r'``) are not held unless ``hold_snapshot_rows``: the source's foreign
    keys put their parents in the same snapshot, which arrives interleaved across bronze batches
    (Spark splits a batch's offset budget over all topics), so holding them only re-evaluates most
    of the snapshot's children batch after batch until the last customers arrive.
    """
    flags: list[Column] = []
    out = changes
    for i, rule in enumerate(rules):
        present = f"_parent_present_{i}"
        keys = parent_keys.get(rule.name)
        if keys is None:
            out = out.withColumn(present, F.lit(False))
        else:
            distinct = keys.select(F.col("_parent_key")).distinct().withColumn(present, F.lit(True))
            out = out.join(F.broadcast(distinct), out[rule.column] == distinct["_parent_key"], "left").drop(
                "_parent_key"
            )
        child_value = F.col(rule.column)
        held_ops = ("d",) if hold_snapshot_rows else ("d", "r")
        missing = (
            ~F.col("_op").isin(*held_ops)
            & child_value.isNotNull()
            & ~F.coalesce(F.col(present), F.lit(False))
        )
        flags.append(F.when(missing, F.lit(rule.name)))
    held = reduce(lambda a, b: F.coalesce(a, b), flags) if flags else F.lit(None).cast("string")
    return out.withColumn("_held_rule", held).drop(*(f"_parent_present_{i}" for i in range(len(rules))))
