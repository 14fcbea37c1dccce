"""SQLAlchemy models of the Wide World Importers-shaped source, in three PostgreSQL schemas.

The tables are in third normal form: every table has a primary key, every reference is a foreign key,
and descriptive lookups (colours, package types, suppliers, categories) are tables of their own.
``sales.orders`` and ``warehouse.stock_items`` keep large text and JSONB columns on purpose: updates
that leave them unchanged exercise PostgreSQL's TOAST behaviour in the CDC stream.

Timestamps are ``timestamp without time zone`` holding UTC (WWI's ``datetime2``), so a row's text form
— and therefore :func:`lakepulse_oltp.checksums.table_checksums` — does not depend on a session's
``TimeZone``.

Replica identity: every published table is ``REPLICA IDENTITY FULL`` (set by the initial migration).
The CDC emitter emits the complete ``before`` image of updates and deletes in Debezium's envelope and
never emits TOAST placeholders; with the default identity PostgreSQL logs only the key of the old row
and omits unchanged TOASTed values of the new row, so neither promise could be kept.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

UTC_NOW = text("timezone('utc', now())")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _edited() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(), nullable=False, server_default=UTC_NOW)


# --- application ---------------------------------------------------------------------------------


class Country(Base):
    __tablename__ = "countries"
    __table_args__ = ({"schema": "application"},)

    country_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    country_name: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    iso_alpha3_code: Mapped[str] = mapped_column(String(3), nullable=False, unique=True)
    continent: Mapped[str] = mapped_column(String(30), nullable=False)
    region: Mapped[str] = mapped_column(String(30), nullable=False)
    subregion: Mapped[str] = mapped_column(String(30), nullable=False)
    last_edited_when: Mapped[dt.datetime] = _edited()


class StateProvince(Base):
    __tablename__ = "state_provinces"
    __table_args__ = ({"schema": "application"},)

    state_province_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state_province_code: Mapped[str] = mapped_column(String(5), nullable=False, unique=True)
    state_province_name: Mapped[str] = mapped_column(String(50), nullable=False)
    country_id: Mapped[int] = mapped_column(ForeignKey("application.countries.country_id"), nullable=False)
    sales_territory: Mapped[str] = mapped_column(String(50), nullable=False)
    last_edited_when: Mapped[dt.datetime] = _edited()


class City(Base):
    __tablename__ = "cities"
    __table_args__ = ({"schema": "application"},)

    city_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_name: Mapped[str] = mapped_column(String(50), nullable=False)
    state_province_id: Mapped[int] = mapped_column(
        ForeignKey("application.state_provinces.state_province_id"), nullable=False, index=True
    )
    latest_recorded_population: Mapped[int | None] = mapped_column(BigInteger)
    last_edited_when: Mapped[dt.datetime] = _edited()


class Person(Base):
    __tablename__ = "people"
    __table_args__ = ({"schema": "application"},)

    person_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    full_name: Mapped[str] = mapped_column(String(50), nullable=False)
    preferred_name: Mapped[str] = mapped_column(String(50), nullable=False)
    is_employee: Mapped[bool] = mapped_column(Boolean, nullable=False)
    is_salesperson: Mapped[bool] = mapped_column(Boolean, nullable=False)
    email_address: Mapped[str | None] = mapped_column(String(256))
    phone_number: Mapped[str | None] = mapped_column(String(20))
    last_edited_when: Mapped[dt.datetime] = _edited()


# --- sales ---------------------------------------------------------------------------------------


class CustomerCategory(Base):
    __tablename__ = "customer_categories"
    __table_args__ = ({"schema": "sales"},)

    customer_category_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_category_name: Mapped[str] = mapped_column(String(50), nullable=False, unique=True)
    last_edited_when: Mapped[dt.datetime] = _edited()


class BuyingGroup(Base):
    __tablename__ = "buying_groups"
    __table_args__ = ({"schema": "sales"},)

    buying_group_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    buying_group_name: Mapped[str] = mapped_column(String(50), nullable=False, unique=True)
    last_edited_when: Mapped[dt.datetime] = _edited()


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = ({"schema": "sales"},)

    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_name: Mapped[str] = mapped_column(String(100), nullable=False)
    bill_to_customer_id: Mapped[int] = mapped_column(
        ForeignKey("sales.customers.customer_id"), nullable=False, index=True
    )
    customer_category_id: Mapped[int] = mapped_column(
        ForeignKey("sales.customer_categories.customer_category_id"), nullable=False, index=True
    )
    buying_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("sales.buying_groups.buying_group_id"), index=True
    )
    delivery_city_id: Mapped[int] = mapped_column(
        ForeignKey("application.cities.city_id"), nullable=False, index=True
    )
    postal_city_id: Mapped[int] = mapped_column(
        ForeignKey("application.cities.city_id"), nullable=False, index=True
    )
    credit_limit: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    account_opened_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    standard_discount_percentage: Mapped[Decimal] = mapped_column(Numeric(18, 3), nullable=False)
    is_on_credit_hold: Mapped[bool] = mapped_column(Boolean, nullable=False)
    payment_days: Mapped[int] = mapped_column(Integer, nullable=False)
    phone_number: Mapped[str] = mapped_column(String(20), nullable=False)
    email: Mapped[str | None] = mapped_column(String(256))
    website_url: Mapped[str] = mapped_column(String(256), nullable=False)
    delivery_postal_code: Mapped[str] = mapped_column(String(10), nullable=False)
    last_edited_when: Mapped[dt.datetime] = _edited()


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index(
            "ix_orders_unpicked",
            "order_id",
            postgresql_where=text("picking_completed_when IS NULL"),
        ),
        {"schema": "sales"},
    )

    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("sales.customers.customer_id"), nullable=False, index=True
    )
    salesperson_person_id: Mapped[int] = mapped_column(
        ForeignKey("application.people.person_id"), nullable=False, index=True
    )
    order_date: Mapped[dt.date] = mapped_column(Date, nullable=False, index=True)
    expected_delivery_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    customer_purchase_order_number: Mapped[str | None] = mapped_column(String(20))
    is_undersupply_backordered: Mapped[bool] = mapped_column(Boolean, nullable=False)
    comments: Mapped[str | None] = mapped_column(Text)
    delivery_instructions: Mapped[str | None] = mapped_column(Text)
    internal_comments: Mapped[str | None] = mapped_column(Text)
    picking_completed_when: Mapped[dt.datetime | None] = mapped_column(DateTime())
    last_edited_when: Mapped[dt.datetime] = _edited()


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("picked_quantity >= 0", name="picked_quantity_non_negative"),
        {"schema": "sales"},
    )

    order_line_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales.orders.order_id"), nullable=False, index=True)
    stock_item_id: Mapped[int] = mapped_column(
        ForeignKey("warehouse.stock_items.stock_item_id"), nullable=False, index=True
    )
    description: Mapped[str] = mapped_column(String(100), nullable=False)
    package_type_id: Mapped[int] = mapped_column(
        ForeignKey("warehouse.package_types.package_type_id"), nullable=False, index=True
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(18, 2), nullable=False)
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(18, 3), nullable=False)
    picked_quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    picking_completed_when: Mapped[dt.datetime | None] = mapped_column(DateTime())
    last_edited_when: Mapped[dt.datetime] = _edited()


# --- warehouse -----------------------------------------------------------------------------------


class Supplier(Base):
    __tablename__ = "suppliers"
    __table_args__ = ({"schema": "warehouse"},)

    supplier_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supplier_name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    payment_days: Mapped[int] = mapped_column(Integer, nullable=False)
    phone_number: Mapped[str] = mapped_column(String(20), nullable=False)
    website_url: Mapped[str] = mapped_column(String(256), nullable=False)
    last_edited_when: Mapped[dt.datetime] = _edited()


class Color(Base):
    __tablename__ = "colors"
    __table_args__ = ({"schema": "warehouse"},)

    color_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    color_name: Mapped[str] = mapped_column(String(20), nullable=False, unique=True)
    last_edited_when: Mapped[dt.datetime] = _edited()


class PackageType(Base):
    __tablename__ = "package_types"
    __table_args__ = ({"schema": "warehouse"},)

    package_type_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    package_type_name: Mapped[str] = mapped_column(String(50), nullable=False, unique=True)
    last_edited_when: Mapped[dt.datetime] = _edited()


class StockGroup(Base):
    __tablename__ = "stock_groups"
    __table_args__ = ({"schema": "warehouse"},)

    stock_group_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stock_group_name: Mapped[str] = mapped_column(String(50), nullable=False, unique=True)
    last_edited_when: Mapped[dt.datetime] = _edited()


class StockItem(Base):
    __tablename__ = "stock_items"
    __table_args__ = (
        CheckConstraint("quantity_per_outer > 0", name="quantity_per_outer_positive"),
        {"schema": "warehouse"},
    )

    stock_item_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stock_item_name: Mapped[str] = mapped_column(String(100), nullable=False)
    supplier_id: Mapped[int] = mapped_column(
        ForeignKey("warehouse.suppliers.supplier_id"), nullable=False, index=True
    )
    color_id: Mapped[int | None] = mapped_column(ForeignKey("warehouse.colors.color_id"), index=True)
    unit_package_id: Mapped[int] = mapped_column(
        ForeignKey("warehouse.package_types.package_type_id"), nullable=False, index=True
    )
    outer_package_id: Mapped[int] = mapped_column(
        ForeignKey("warehouse.package_types.package_type_id"), nullable=False, index=True
    )
    brand: Mapped[str | None] = mapped_column(String(50))
    size: Mapped[str | None] = mapped_column(String(20))
    lead_time_days: Mapped[int] = mapped_column(Integer, nullable=False)
    quantity_per_outer: Mapped[int] = mapped_column(Integer, nullable=False)
    is_chiller_stock: Mapped[bool] = mapped_column(Boolean, nullable=False)
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(18, 3), nullable=False)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(18, 2), nullable=False)
    recommended_retail_price: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    typical_weight_per_unit: Mapped[Decimal] = mapped_column(Numeric(18, 3), nullable=False)
    marketing_comments: Mapped[str | None] = mapped_column(Text)
    custom_fields: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    last_edited_when: Mapped[dt.datetime] = _edited()


class StockItemStockGroup(Base):
    __tablename__ = "stock_item_stock_groups"
    __table_args__ = ({"schema": "warehouse"},)

    stock_item_id: Mapped[int] = mapped_column(
        ForeignKey("warehouse.stock_items.stock_item_id"), primary_key=True
    )
    stock_group_id: Mapped[int] = mapped_column(
        ForeignKey("warehouse.stock_groups.stock_group_id"), primary_key=True, index=True
    )
    last_edited_when: Mapped[dt.datetime] = _edited()


class StockItemHolding(Base):
    __tablename__ = "stock_item_holdings"
    __table_args__ = ({"schema": "warehouse"},)

    stock_item_id: Mapped[int] = mapped_column(
        ForeignKey("warehouse.stock_items.stock_item_id"), primary_key=True
    )
    quantity_on_hand: Mapped[int] = mapped_column(Integer, nullable=False)
    bin_location: Mapped[str] = mapped_column(String(20), nullable=False)
    last_stocktake_quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    last_cost_price: Mapped[Decimal] = mapped_column(Numeric(18, 2), nullable=False)
    reorder_level: Mapped[int] = mapped_column(Integer, nullable=False)
    target_stock_level: Mapped[int] = mapped_column(Integer, nullable=False)
    last_edited_when: Mapped[dt.datetime] = _edited()
