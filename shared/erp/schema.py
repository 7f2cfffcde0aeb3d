"""The ERP stand-in schema (CONTRACT §1): the ILUO Biznes tables exactly as the ERP owns them.

In the field these tables already exist; the integrator never creates or alters them there. This
module describes them (so queries are typed) and can create them for tests and the demo on every
supported dialect. Names and types must not drift from the contract.
"""

from __future__ import annotations

from sqlalchemy import (
    CHAR,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

erp_metadata = MetaData()

Money = Numeric(12, 2)
Qty = Numeric(12, 3)
Rate = Numeric(5, 2)

warehouses = Table(
    "warehouses",
    erp_metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(20), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
)

labels = Table(
    "labels",
    erp_metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
)

products = Table(
    "products",
    erp_metadata,
    Column("id", Integer, primary_key=True),
    Column("sku", String(64), nullable=False, unique=True),
    Column("ean", String(14), nullable=True),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=True),
    Column("unit", String(10), nullable=False, server_default="szt"),
    Column("vat_rate", Rate, nullable=False),
    Column("price_net", Money, nullable=False),
    Column("price_gross", Money, nullable=False),
    Column("weight_kg", Numeric(10, 3), nullable=True),
    Column("is_active", Boolean, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

product_labels = Table(
    "product_labels",
    erp_metadata,
    Column("product_id", Integer, ForeignKey("products.id"), nullable=False),
    Column("label_id", Integer, ForeignKey("labels.id"), nullable=False),
    PrimaryKeyConstraint("product_id", "label_id"),
)

stock_levels = Table(
    "stock_levels",
    erp_metadata,
    Column("product_id", Integer, ForeignKey("products.id"), nullable=False),
    Column("warehouse_id", Integer, ForeignKey("warehouses.id"), nullable=False),
    Column("quantity", Qty, nullable=False),
    Column("reserved", Qty, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    PrimaryKeyConstraint("product_id", "warehouse_id"),
)

customers = Table(
    "customers",
    erp_metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(255), nullable=False),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("company", String(255), nullable=True),
    Column("tax_id", String(20), nullable=True),
    Column("phone", String(40), nullable=True),
    Column("street", String(255), nullable=False),
    Column("city", String(100), nullable=False),
    Column("postcode", String(20), nullable=False),
    Column("country_code", CHAR(2), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

order_statuses = Table(
    "order_statuses",
    erp_metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(30), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
)

shop_integrations = Table(
    "shop_integrations",
    erp_metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("platform", String(20), nullable=False),
    Column("base_url", String(255), nullable=False),
    Column("api_key", String(255), nullable=False),
    Column("api_secret", String(255), nullable=True),
    Column("is_active", Boolean, nullable=False),
    Column("auto_sync", Boolean, nullable=False),
    Column("shop_timezone", String(50), nullable=False, server_default="Europe/Warsaw"),
    Column("orders_since", DateTime, nullable=True),
    Column("updated_at", DateTime, nullable=False),
)

orders = Table(
    "orders",
    erp_metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(40), nullable=False, unique=True),
    Column("integration_id", Integer, ForeignKey("shop_integrations.id"), nullable=False),
    Column("external_id", String(64), nullable=False),
    Column("external_number", String(64), nullable=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("status_id", Integer, ForeignKey("order_statuses.id"), nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("total_gross", Money, nullable=False),
    Column("shipping_gross", Money, nullable=False),
    Column("payment_method", String(100), nullable=True),
    Column("shipping_method", String(100), nullable=True),
    Column("is_paid", Boolean, nullable=False),
    Column("ordered_at", DateTime, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("notes", Text, nullable=True),
    # The guarantee that an order is never imported twice: the database decides, not a read.
    UniqueConstraint("integration_id", "external_id", name="uq_orders_integration_external"),
)

order_lines = Table(
    "order_lines",
    erp_metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("product_id", Integer, ForeignKey("products.id"), nullable=True),
    Column("sku", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("quantity", Qty, nullable=False),
    Column("unit_price_gross", Money, nullable=False),
    Column("vat_rate", Rate, nullable=True),
    UniqueConstraint("order_id", "line_no", name="uq_order_lines_order_line"),
)

shop_integration_operations = Table(
    "shop_integration_operations",
    erp_metadata,
    Column("integration_id", Integer, ForeignKey("shop_integrations.id"), nullable=False),
    Column("operation", String(30), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("interval_minutes", Integer, nullable=False, server_default="5"),
    PrimaryKeyConstraint("integration_id", "operation"),
)

shop_integration_labels = Table(
    "shop_integration_labels",
    erp_metadata,
    Column("integration_id", Integer, ForeignKey("shop_integrations.id"), nullable=False),
    Column("label_id", Integer, ForeignKey("labels.id"), nullable=False),
    Column("scope", String(20), nullable=False),
    PrimaryKeyConstraint("integration_id", "label_id", "scope"),
)

shop_integration_warehouses = Table(
    "shop_integration_warehouses",
    erp_metadata,
    Column("integration_id", Integer, ForeignKey("shop_integrations.id"), nullable=False),
    Column("warehouse_id", Integer, ForeignKey("warehouses.id"), nullable=False),
    PrimaryKeyConstraint("integration_id", "warehouse_id"),
)

shop_status_map = Table(
    "shop_status_map",
    erp_metadata,
    Column("integration_id", Integer, ForeignKey("shop_integrations.id"), nullable=False),
    Column("erp_status_id", Integer, ForeignKey("order_statuses.id"), nullable=False),
    Column("shop_status", String(50), nullable=False),
    PrimaryKeyConstraint("integration_id", "erp_status_id"),
)

ERP_TABLES: tuple[str, ...] = tuple(erp_metadata.tables)

ORDER_STATUS_CODES: tuple[str, ...] = (
    "new",
    "in_progress",
    "ready",
    "shipped",
    "delivered",
    "cancelled",
)
