"""The declared silver schema of every source table: columns, Spark types, primary key, cleansing.

Silver never infers business types from JSON: each column is cast from Debezium's JSON encoding
(``decimal.handling.mode=string``, ``time.precision.mode=adaptive_time_microseconds``) to the type
declared here. A source column that is not declared still reaches silver (schema evolution), as the
JSON text of its value in a STRING column; declare it here to give it a type. The list mirrors
``lakepulse_oltp.models`` (a unit test keeps the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pyspark.sql import types as T


class Encoding(StrEnum):
    """How Debezium encodes a PostgreSQL type in JSON, i.e. how silver decodes it."""

    INTEGER = "integer"  # int2/int4/int8 → JSON number
    BOOLEAN = "boolean"
    DECIMAL = "decimal"  # numeric → decimal string
    TEXT = "text"  # varchar/text/jsonb → JSON string
    DATE = "date"  # io.debezium.time.Date: days since the epoch
    TIMESTAMP = "timestamp"  # io.debezium.time.MicroTimestamp: µs since the epoch (UTC wall clock)
    TIMESTAMPTZ = "timestamptz"  # io.debezium.time.ZonedTimestamp: ISO-8601 string


class Cleanse(StrEnum):
    """A normalisation applied to a column's value before expectations run."""

    EMAIL = "email"  # trimmed and lower-cased
    PHONE = "phone"  # digits only


@dataclass(frozen=True)
class Column:
    name: str
    spark_type: T.DataType
    encoding: Encoding
    nullable: bool = True
    cleanse: Cleanse | None = None


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        missing = [k for k in self.primary_key if k not in names]
        if missing:
            raise ValueError(f"{self.name}: primary key columns {missing} are not declared")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name}.{name} is not declared")

    def struct(self) -> T.StructType:
        return T.StructType([T.StructField(c.name, c.spark_type, True) for c in self.columns])


def _int(name: str, nullable: bool = False) -> Column:
    return Column(name, T.IntegerType(), Encoding.INTEGER, nullable)


def _long(name: str, nullable: bool = False) -> Column:
    return Column(name, T.LongType(), Encoding.INTEGER, nullable)


def _text(name: str, nullable: bool = False, cleanse: Cleanse | None = None) -> Column:
    return Column(name, T.StringType(), Encoding.TEXT, nullable, cleanse)


def _bool(name: str) -> Column:
    return Column(name, T.BooleanType(), Encoding.BOOLEAN, False)


def _decimal(name: str, scale: int, nullable: bool = False) -> Column:
    return Column(name, T.DecimalType(18, scale), Encoding.DECIMAL, nullable)


def _date(name: str) -> Column:
    return Column(name, T.DateType(), Encoding.DATE, False)


def _timestamp(name: str, nullable: bool = False) -> Column:
    return Column(name, T.TimestampType(), Encoding.TIMESTAMP, nullable)


_EDITED = _timestamp("last_edited_when")


def _table(name: str, key: tuple[str, ...], *columns: Column) -> TableSchema:
    return TableSchema(name, (*columns, _EDITED), key)


TABLES: dict[str, TableSchema] = {
    t.name: t
    for t in (
        _table(
            "countries",
            ("country_id",),
            _int("country_id"),
            _text("country_name"),
            _text("iso_alpha3_code"),
            _text("continent"),
            _text("region"),
            _text("subregion"),
        ),
        _table(
            "state_provinces",
            ("state_province_id",),
            _int("state_province_id"),
            _text("state_province_code"),
            _text("state_province_name"),
            _int("country_id"),
            _text("sales_territory"),
        ),
        _table(
            "cities",
            ("city_id",),
            _int("city_id"),
            _text("city_name"),
            _int("state_province_id"),
            _long("latest_recorded_population", nullable=True),
        ),
        _table(
            "people",
            ("person_id",),
            _int("person_id"),
            _text("full_name"),
            _text("preferred_name"),
            _bool("is_employee"),
            _bool("is_salesperson"),
            _text("email_address", nullable=True, cleanse=Cleanse.EMAIL),
            _text("phone_number", nullable=True, cleanse=Cleanse.PHONE),
        ),
        _table(
            "customer_categories",
            ("customer_category_id",),
            _int("customer_category_id"),
            _text("customer_category_name"),
        ),
        _table("buying_groups", ("buying_group_id",), _int("buying_group_id"), _text("buying_group_name")),
        _table(
            "customers",
            ("customer_id",),
            _int("customer_id"),
            _text("customer_name"),
            _int("bill_to_customer_id"),
            _int("customer_category_id"),
            _int("buying_group_id", nullable=True),
            _int("delivery_city_id"),
            _int("postal_city_id"),
            _decimal("credit_limit", 2, nullable=True),
            _date("account_opened_date"),
            _decimal("standard_discount_percentage", 3),
            _bool("is_on_credit_hold"),
            _int("payment_days"),
            _text("phone_number", cleanse=Cleanse.PHONE),
            _text("email", nullable=True, cleanse=Cleanse.EMAIL),
            _text("website_url"),
            _text("delivery_postal_code"),
        ),
        _table(
            "orders",
            ("order_id",),
            _long("order_id"),
            _int("customer_id"),
            _int("salesperson_person_id"),
            _date("order_date"),
            _date("expected_delivery_date"),
            _text("customer_purchase_order_number", nullable=True),
            _bool("is_undersupply_backordered"),
            _text("comments", nullable=True),
            _text("delivery_instructions", nullable=True),
            _text("internal_comments", nullable=True),
            _timestamp("picking_completed_when", nullable=True),
        ),
        _table(
            "order_lines",
            ("order_line_id",),
            _long("order_line_id"),
            _long("order_id"),
            _int("stock_item_id"),
            _text("description"),
            _int("package_type_id"),
            _int("quantity"),
            _decimal("unit_price", 2),
            _decimal("tax_rate", 3),
            _int("picked_quantity"),
            _timestamp("picking_completed_when", nullable=True),
        ),
        _table(
            "suppliers",
            ("supplier_id",),
            _int("supplier_id"),
            _text("supplier_name"),
            _int("payment_days"),
            _text("phone_number", cleanse=Cleanse.PHONE),
            _text("website_url"),
        ),
        _table("colors", ("color_id",), _int("color_id"), _text("color_name")),
        _table("package_types", ("package_type_id",), _int("package_type_id"), _text("package_type_name")),
        _table("stock_groups", ("stock_group_id",), _int("stock_group_id"), _text("stock_group_name")),
        _table(
            "stock_items",
            ("stock_item_id",),
            _int("stock_item_id"),
            _text("stock_item_name"),
            _int("supplier_id"),
            _int("color_id", nullable=True),
            _int("unit_package_id"),
            _int("outer_package_id"),
            _text("brand", nullable=True),
            _text("size", nullable=True),
            _int("lead_time_days"),
            _int("quantity_per_outer"),
            _bool("is_chiller_stock"),
            _decimal("tax_rate", 3),
            _decimal("unit_price", 2),
            _decimal("recommended_retail_price", 2, nullable=True),
            _decimal("typical_weight_per_unit", 3),
            _text("marketing_comments", nullable=True),
            _text("custom_fields", nullable=True),  # jsonb, kept as its JSON text
        ),
        _table(
            "stock_item_stock_groups",
            ("stock_item_id", "stock_group_id"),
            _int("stock_item_id"),
            _int("stock_group_id"),
        ),
        _table(
            "stock_item_holdings",
            ("stock_item_id",),
            _int("stock_item_id"),
            _int("quantity_on_hand"),
            _text("bin_location"),
            _int("last_stocktake_quantity"),
            _decimal("last_cost_price", 2),
            _int("reorder_level"),
            _int("target_stock_level"),
        ),
    )
}

# Tables whose every version is kept in ``silver/<table>_history`` (SCD type 2).
HISTORY_TABLES: frozenset[str] = frozenset({"customers", "stock_items"})


def schema_for(table: str) -> TableSchema | None:
    return TABLES.get(table)
