"""Initial source schema: WWI's application, sales and warehouse tables, REPLICA IDENTITY FULL.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lakepulse_oltp.catalog import PUBLISHED_TABLES, SCHEMAS

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the three schemas and every table, then give published tables full replica identity."""
    for schema in SCHEMAS:
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    op.create_table(
        "countries",
        sa.Column("country_id", sa.Integer(), nullable=False),
        sa.Column("country_name", sa.String(length=60), nullable=False),
        sa.Column("iso_alpha3_code", sa.String(length=3), nullable=False),
        sa.Column("continent", sa.String(length=30), nullable=False),
        sa.Column("region", sa.String(length=30), nullable=False),
        sa.Column("subregion", sa.String(length=30), nullable=False),
        sa.Column(
            "last_edited_when",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("country_id", name=op.f("pk_countries")),
        sa.UniqueConstraint("country_name", name=op.f("uq_countries_country_name")),
        sa.UniqueConstraint("iso_alpha3_code", name=op.f("uq_countries_iso_alpha3_code")),
        schema="application",
    )
    op.create_table(
        "people",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("full_name", sa.String(length=50), nullable=False),
        sa.Column("preferred_name", sa.String(length=50), nullable=False),
        sa.Column("is_employee", sa.Boolean(), nullable=False),
        sa.Column("is_salesperson", sa.Boolean(), nullable=False),
        sa.Column("email_address", sa.String(length=256), nullable=True),
        sa.Column("phone_number", sa.String(length=20), nullable=True),
        sa.Column(
            "last_edited_when",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_people")),
        schema="application",
    )
    op.create_table(
        "buying_groups",
        sa.Column("buying_group_id", sa.Integer(), nullable=False),
        sa.Column("buying_group_name", sa.String(length=50), nullable=False),
        sa.Column(
            "last_edited_when",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("buying_group_id", name=op.f("pk_buying_groups")),
        sa.UniqueConstraint("buying_group_name", name=op.f("uq_buying_groups_buying_group_name")),
        schema="sales",
    )
    op.create_table(
        "customer_categories",
        sa.Column("customer_category_id", sa.Integer(), nullable=False),
        sa.Column("customer_category_name", sa.String(length=50), nullable=False),
        sa.Column(
            "last_edited_when",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("customer_category_id", name=op.f("pk_customer_categories")),
        sa.UniqueConstraint(
            "customer_category_name", name=op.f("uq_customer_categories_customer_category_name")
        ),
        schema="sales",
    )
    op.create_table(
        "colors",
        sa.Column("color_id", sa.Integer(), nullable=False),
        sa.Column("color_name", sa.String(length=20), nullable=False),
        sa.Column(
            "last_edited_when",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("color_id", name=op.f("pk_colors")),
        sa.UniqueConstraint("color_name", name=op.f("uq_colors_color_name")),
        schema="warehouse",
    )
    op.create_table(
        "package_types",
        sa.Column("package_type_id", sa.Integer(), nullable=False),
        sa.Column("package_type_name", sa.String(length=50), nullable=False),
        sa.Column(
            "last_edited_when",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("package_type_id", name=op.f("pk_package_types")),
        sa.UniqueConstraint("package_type_name", name=op.f("uq_package_types_package_type_name")),
        schema="warehouse",
    )
    op.create_table(
        "stock_groups",
        sa.Column("stock_group_id", sa.Integer(), nullable=False),
        sa.Column("stock_group_name", sa.String(length=50), nullable=False),
        sa.Column(
            "last_edited_when",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("stock_group_id", name=op.f("pk_stock_groups")),
        sa.UniqueConstraint("stock_group_name", name=op.f("uq_stock_groups_stock_group_name")),
        schema="warehouse",
    )
    op.create_table(
        "suppliers",
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("supplier_name", sa.String(length=100), nullable=False),
        sa.Column("payment_days", sa.Integer(), nullable=False),
        sa.Column("phone_number", sa.String(length=20), nullable=False),
        sa.Column("website_url", sa.String(length=256), nullable=False),
        sa.Column(
            "last_edited_when",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("supplier_id", name=op.f("pk_suppliers")),
        sa.UniqueConstraint("supplier_name", name=op.f("uq_suppliers_supplier_name")),
        schema="warehouse",
    )
    op.create_table(
        "state_provinces",
        sa.Column("state_province_id", sa.Integer(), nullable=False),
        sa.Column("state_province_code", sa.String(length=5), nullable=False),
        sa.Column("state_province_name", sa.String(length=50), nullable=False),
        sa.Column("country_id", sa.Integer(), nullable=False),
        sa.Column("sales_territory", sa.String(length=50), nullable=False),
        sa.Column(
            "last_edited_when",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["country_id"],
            ["application.countries.country_id"],
            name=op.f("fk_state_provinces_country_id_countries"),
        ),
        sa.PrimaryKeyConstraint("state_province_id", name=op.f("pk_state_provinces")),
        sa.UniqueConstraint("state_province_code", name=op.f("uq_state_provinces_state_province_code")),
        schema="application",
    )
    op.create_table(
        "stock_items",
        sa.Column("stock_item_id", sa.Integer(), nullable=False),
        sa.Column("stock_item_name", sa.String(length=100), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("color_id", sa.Integer(), nullable=True),
        sa.Column("unit_package_id", sa.Integer(), nullable=False),
        sa.Column("outer_package_id", sa.Integer(), nullable=False),
        sa.Column("brand", sa.String(length=50), nullable=True),
        sa.Column("size", sa.String(length=20), nullable=True),
        sa.Column("lead_time_days", sa.Integer(), nullable=False),
        sa.Column("quantity_per_outer", sa.Integer(), nullable=False),
        sa.Column("is_chiller_stock", sa.Boolean(), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=18, scale=3), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("recommended_retail_price", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("typical_weight_per_unit", sa.Numeric(precision=18, scale=3), nullable=False),
        sa.Column("marketing_comments", sa.Text(), nullable=True),
        sa.Column("custom_fields", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "last_edited_when",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.CheckConstraint("quantity_per_outer > 0", name=op.f("ck_stock_items_quantity_per_outer_positive")),
        sa.ForeignKeyConstraint(
            ["color_id"], ["warehouse.colors.color_id"], name=op.f("fk_stock_items_color_id_colors")
        ),
        sa.ForeignKeyConstraint(
            ["outer_package_id"],
            ["warehouse.package_types.package_type_id"],
            name=op.f("fk_stock_items_outer_package_id_package_types"),
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["warehouse.suppliers.supplier_id"],
            name=op.f("fk_stock_items_supplier_id_suppliers"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_package_id"],
            ["warehouse.package_types.package_type_id"],
            name=op.f("fk_stock_items_unit_package_id_package_types"),
        ),
        sa.PrimaryKeyConstraint("stock_item_id", name=op.f("pk_stock_items")),
        schema="warehouse",
    )
    op.create_index(
        op.f("ix_stock_items_color_id"), "stock_items", ["color_id"], unique=False, schema="warehouse"
    )
    op.create_index(
        op.f("ix_stock_items_outer_package_id"),
        "stock_items",
        ["outer_package_id"],
        unique=False,
        schema="warehouse",
    )
    op.create_index(
        op.f("ix_stock_items_supplier_id"), "stock_items", ["supplier_id"], unique=False, schema="warehouse"
    )
    op.create_index(
        op.f("ix_stock_items_unit_package_id"),
        "stock_items",
        ["unit_package_id"],
        unique=False,
        schema="warehouse",
    )
    op.create_table(
        "cities",
        sa.Column("city_id", sa.Integer(), nullable=False),
        sa.Column("city_name", sa.String(length=50), nullable=False),
        sa.Column("state_province_id", sa.Integer(), nullable=False),
        sa.Column("latest_recorded_population", sa.BigInteger(), nullable=True),
        sa.Column(
            "last_edited_when",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["state_province_id"],
            ["application.state_provinces.state_province_id"],
            name=op.f("fk_cities_state_province_id_state_provinces"),
        ),
        sa.PrimaryKeyConstraint("city_id", name=op.f("pk_cities")),
        schema="application",
    )
    op.create_index(
        op.f("ix_cities_state_province_id"),
        "cities",
        ["state_province_id"],
        unique=False,
        schema="application",
    )
    op.create_table(
        "stock_item_holdings",
        sa.Column("stock_item_id", sa.Integer(), nullable=False),
        sa.Column("quantity_on_hand", sa.Integer(), nullable=False),
        sa.Column("bin_location", sa.String(length=20), nullable=False),
        sa.Column("last_stocktake_quantity", sa.Integer(), nullable=False),
        sa.Column("last_cost_price", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("reorder_level", sa.Integer(), nullable=False),
        sa.Column("target_stock_level", sa.Integer(), nullable=False),
        sa.Column(
            "last_edited_when",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["stock_item_id"],
            ["warehouse.stock_items.stock_item_id"],
            name=op.f("fk_stock_item_holdings_stock_item_id_stock_items"),
        ),
        sa.PrimaryKeyConstraint("stock_item_id", name=op.f("pk_stock_item_holdings")),
        schema="warehouse",
    )
    op.create_table(
        "stock_item_stock_groups",
        sa.Column("stock_item_id", sa.Integer(), nullable=False),
        sa.Column("stock_group_id", sa.Integer(), nullable=False),
        sa.Column(
            "last_edited_when",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["stock_group_id"],
            ["warehouse.stock_groups.stock_group_id"],
            name=op.f("fk_stock_item_stock_groups_stock_group_id_stock_groups"),
        ),
        sa.ForeignKeyConstraint(
            ["stock_item_id"],
            ["warehouse.stock_items.stock_item_id"],
            name=op.f("fk_stock_item_stock_groups_stock_item_id_stock_items"),
        ),
        sa.PrimaryKeyConstraint("stock_item_id", "stock_group_id", name=op.f("pk_stock_item_stock_groups")),
        schema="warehouse",
    )
    op.create_index(
        op.f("ix_stock_item_stock_groups_stock_group_id"),
        "stock_item_stock_groups",
        ["stock_group_id"],
        unique=False,
        schema="warehouse",
    )
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("customer_name", sa.String(length=100), nullable=False),
        sa.Column("bill_to_customer_id", sa.Integer(), nullable=False),
        sa.Column("customer_category_id", sa.Integer(), nullable=False),
        sa.Column("buying_group_id", sa.Integer(), nullable=True),
        sa.Column("delivery_city_id", sa.Integer(), nullable=False),
        sa.Column("postal_city_id", sa.Integer(), nullable=False),
        sa.Column("credit_limit", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("account_opened_date", sa.Date(), nullable=False),
        sa.Column("standard_discount_percentage", sa.Numeric(precision=18, scale=3), nullable=False),
        sa.Column("is_on_credit_hold", sa.Boolean(), nullable=False),
        sa.Column("payment_days", sa.Integer(), nullable=False),
        sa.Column("phone_number", sa.String(length=20), nullable=False),
        sa.Column("email", sa.String(length=256), nullable=True),
        sa.Column("website_url", sa.String(length=256), nullable=False),
        sa.Column("delivery_postal_code", sa.String(length=10), nullable=False),
        sa.Column(
            "last_edited_when",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["bill_to_customer_id"],
            ["sales.customers.customer_id"],
            name=op.f("fk_customers_bill_to_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["buying_group_id"],
            ["sales.buying_groups.buying_group_id"],
            name=op.f("fk_customers_buying_group_id_buying_groups"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_category_id"],
            ["sales.customer_categories.customer_category_id"],
            name=op.f("fk_customers_customer_category_id_customer_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["delivery_city_id"],
            ["application.cities.city_id"],
            name=op.f("fk_customers_delivery_city_id_cities"),
        ),
        sa.ForeignKeyConstraint(
            ["postal_city_id"],
            ["application.cities.city_id"],
            name=op.f("fk_customers_postal_city_id_cities"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customers")),
        schema="sales",
    )
    op.create_index(
        op.f("ix_customers_bill_to_customer_id"),
        "customers",
        ["bill_to_customer_id"],
        unique=False,
        schema="sales",
    )
    op.create_index(
        op.f("ix_customers_buying_group_id"), "customers", ["buying_group_id"], unique=False, schema="sales"
    )
    op.create_index(
        op.f("ix_customers_customer_category_id"),
        "customers",
        ["customer_category_id"],
        unique=False,
        schema="sales",
    )
    op.create_index(
        op.f("ix_customers_delivery_city_id"), "customers", ["delivery_city_id"], unique=False, schema="sales"
    )
    op.create_index(
        op.f("ix_customers_postal_city_id"), "customers", ["postal_city_id"], unique=False, schema="sales"
    )
    op.create_table(
        "orders",
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("salesperson_person_id", sa.Integer(), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("expected_delivery_date", sa.Date(), nullable=False),
        sa.Column("customer_purchase_order_number", sa.String(length=20), nullable=True),
        sa.Column("is_undersupply_backordered", sa.Boolean(), nullable=False),
        sa.Column("comments", sa.Text(), nullable=True),
        sa.Column("delivery_instructions", sa.Text(), nullable=True),
        sa.Column("internal_comments", sa.Text(), nullable=True),
        sa.Column("picking_completed_when", sa.DateTime(), nullable=True),
        sa.Column(
            "last_edited_when",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["sales.customers.customer_id"], name=op.f("fk_orders_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["salesperson_person_id"],
            ["application.people.person_id"],
            name=op.f("fk_orders_salesperson_person_id_people"),
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_orders")),
        schema="sales",
    )
    op.create_index(op.f("ix_orders_customer_id"), "orders", ["customer_id"], unique=False, schema="sales")
    op.create_index(op.f("ix_orders_order_date"), "orders", ["order_date"], unique=False, schema="sales")
    op.create_index(
        op.f("ix_orders_salesperson_person_id"),
        "orders",
        ["salesperson_person_id"],
        unique=False,
        schema="sales",
    )
    op.create_index(
        "ix_orders_unpicked",
        "orders",
        ["order_id"],
        unique=False,
        schema="sales",
        postgresql_where=sa.text("picking_completed_when IS NULL"),
    )
    op.create_table(
        "order_lines",
        sa.Column("order_line_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("stock_item_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=100), nullable=False),
        sa.Column("package_type_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=18, scale=3), nullable=False),
        sa.Column("picked_quantity", sa.Integer(), nullable=False),
        sa.Column("picking_completed_when", sa.DateTime(), nullable=True),
        sa.Column(
            "last_edited_when",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.CheckConstraint("picked_quantity >= 0", name=op.f("ck_order_lines_picked_quantity_non_negative")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["sales.orders.order_id"], name=op.f("fk_order_lines_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["package_type_id"],
            ["warehouse.package_types.package_type_id"],
            name=op.f("fk_order_lines_package_type_id_package_types"),
        ),
        sa.ForeignKeyConstraint(
            ["stock_item_id"],
            ["warehouse.stock_items.stock_item_id"],
            name=op.f("fk_order_lines_stock_item_id_stock_items"),
        ),
        sa.PrimaryKeyConstraint("order_line_id", name=op.f("pk_order_lines")),
        schema="sales",
    )
    op.create_index(
        op.f("ix_order_lines_order_id"), "order_lines", ["order_id"], unique=False, schema="sales"
    )
    op.create_index(
        op.f("ix_order_lines_package_type_id"),
        "order_lines",
        ["package_type_id"],
        unique=False,
        schema="sales",
    )
    op.create_index(
        op.f("ix_order_lines_stock_item_id"), "order_lines", ["stock_item_id"], unique=False, schema="sales"
    )
    # The CDC emitter promises full before-images and no TOAST placeholders (see lakepulse_oltp.models).
    for schema, table in PUBLISHED_TABLES:
        op.execute(f"ALTER TABLE {schema}.{table} REPLICA IDENTITY FULL")


def downgrade() -> None:
    """Drop every table (children first) and then the schemas, which must be empty by now."""
    op.drop_index(op.f("ix_order_lines_stock_item_id"), table_name="order_lines", schema="sales")
    op.drop_index(op.f("ix_order_lines_package_type_id"), table_name="order_lines", schema="sales")
    op.drop_index(op.f("ix_order_lines_order_id"), table_name="order_lines", schema="sales")
    op.drop_table("order_lines", schema="sales")
    op.drop_index(
        "ix_orders_unpicked",
        table_name="orders",
        schema="sales",
        postgresql_where=sa.text("picking_completed_when IS NULL"),
    )
    op.drop_index(op.f("ix_orders_salesperson_person_id"), table_name="orders", schema="sales")
    op.drop_index(op.f("ix_orders_order_date"), table_name="orders", schema="sales")
    op.drop_index(op.f("ix_orders_customer_id"), table_name="orders", schema="sales")
    op.drop_table("orders", schema="sales")
    op.drop_index(op.f("ix_customers_postal_city_id"), table_name="customers", schema="sales")
    op.drop_index(op.f("ix_customers_delivery_city_id"), table_name="customers", schema="sales")
    op.drop_index(op.f("ix_customers_customer_category_id"), table_name="customers", schema="sales")
    op.drop_index(op.f("ix_customers_buying_group_id"), table_name="customers", schema="sales")
    op.drop_index(op.f("ix_customers_bill_to_customer_id"), table_name="customers", schema="sales")
    op.drop_table("customers", schema="sales")
    op.drop_index(
        op.f("ix_stock_item_stock_groups_stock_group_id"),
        table_name="stock_item_stock_groups",
        schema="warehouse",
    )
    op.drop_table("stock_item_stock_groups", schema="warehouse")
    op.drop_table("stock_item_holdings", schema="warehouse")
    op.drop_index(op.f("ix_cities_state_province_id"), table_name="cities", schema="application")
    op.drop_table("cities", schema="application")
    op.drop_index(op.f("ix_stock_items_unit_package_id"), table_name="stock_items", schema="warehouse")
    op.drop_index(op.f("ix_stock_items_supplier_id"), table_name="stock_items", schema="warehouse")
    op.drop_index(op.f("ix_stock_items_outer_package_id"), table_name="stock_items", schema="warehouse")
    op.drop_index(op.f("ix_stock_items_color_id"), table_name="stock_items", schema="warehouse")
    op.drop_table("stock_items", schema="warehouse")
    op.drop_table("state_provinces", schema="application")
    op.drop_table("suppliers", schema="warehouse")
    op.drop_table("stock_groups", schema="warehouse")
    op.drop_table("package_types", schema="warehouse")
    op.drop_table("colors", schema="warehouse")
    op.drop_table("customer_categories", schema="sales")
    op.drop_table("buying_groups", schema="sales")
    op.drop_table("people", schema="application")
    op.drop_table("countries", schema="application")
    for schema in reversed(SCHEMAS):
        op.execute(f"DROP SCHEMA IF EXISTS {schema}")
