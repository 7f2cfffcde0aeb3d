"""The ERP stand-in schema exists with exactly the contract's names and types on every dialect."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Integer, Numeric, String, event, inspect, select
from sqlalchemy.dialects import mssql
from sqlalchemy.schema import CreateTable

from shared.db import make_engine
from shared.erp import options
from shared.erp import schema as erp
from shared.erp.demo import create_erp_schema, fill_demo
from shared.erp.integrations import load_integrations
from shared.migrate import TENANT, upgrade

# CONTRACT §1, column by column: (table, column) -> (kind, length/precision, scale)
EXPECTED: dict[str, dict[str, tuple]] = {
    "warehouses": {"id": ("int",), "code": ("str", 20), "name": ("str", 100)},
    "labels": {"id": ("int",), "name": ("str", 100)},
    "products": {
        "id": ("int",), "sku": ("str", 64), "ean": ("str", 14), "name": ("str", 255),
        "description": ("text",), "unit": ("str", 10), "vat_rate": ("num", 5, 2),
        "price_net": ("num", 12, 2), "price_gross": ("num", 12, 2), "weight_kg": ("num", 10, 3),
        "is_active": ("bool",), "updated_at": ("ts",),
    },
    "product_labels": {"product_id": ("int",), "label_id": ("int",)},
    "stock_levels": {
        "product_id": ("int",), "warehouse_id": ("int",), "quantity": ("num", 12, 3),
        "reserved": ("num", 12, 3), "updated_at": ("ts",),
    },
    "customers": {
        "id": ("int",), "email": ("str", 255), "first_name": ("str", 100),
        "last_name": ("str", 100), "company": ("str", 255), "tax_id": ("str", 20),
        "phone": ("str", 40), "street": ("str", 255), "city": ("str", 100),
        "postcode": ("str", 20), "country_code": ("str", 2),
        "created_at": ("ts",), "updated_at": ("ts",),
    },
    "order_statuses": {"id": ("int",), "code": ("str", 30), "name": ("str", 100)},
    "orders": {
        "id": ("int",), "number": ("str", 40), "integration_id": ("int",),
        "external_id": ("str", 64), "external_number": ("str", 64), "customer_id": ("int",),
        "status_id": ("int",),
        "currency": ("str", 3), "total_gross": ("num", 12, 2), "shipping_gross": ("num", 12, 2),
        "payment_method": ("str", 100), "shipping_method": ("str", 100), "is_paid": ("bool",),
        "ordered_at": ("ts",), "created_at": ("ts",), "updated_at": ("ts",), "notes": ("text",),
    },
    "order_lines": {
        "id": ("int",), "order_id": ("int",), "line_no": ("int",), "product_id": ("int",),
        "sku": ("str", 64), "name": ("str", 255), "quantity": ("num", 12, 3),
        "unit_price_gross": ("num", 12, 2), "vat_rate": ("num", 5, 2),
    },
    "shop_integrations": {
        "id": ("int",), "name": ("str", 100), "platform": ("str", 20), "base_url": ("str", 255),
        "api_key": ("str", 255), "api_secret": ("str", 255), "is_active": ("bool",),
        "auto_sync": ("bool",), "shop_timezone": ("str", 50), "orders_since": ("ts",),
        "updated_at": ("ts",),
    },
    "shop_integration_operations": {
        "integration_id": ("int",), "operation": ("str", 30), "enabled": ("bool",),
        "interval_minutes": ("int",),
    },
    "shop_integration_labels": {
        "integration_id": ("int",), "label_id": ("int",), "scope": ("str", 20),
    },
    "shop_integration_warehouses": {"integration_id": ("int",), "warehouse_id": ("int",)},
    "shop_status_map": {
        "integration_id": ("int",), "erp_status_id": ("int",), "shop_status": ("str", 50),
    },
}


def _kind(coltype: object) -> tuple:
    name = type(coltype).__name__.upper()
    if isinstance(coltype, Numeric) and "FLOAT" not in name and "DOUBLE" not in name:
        return ("num", coltype.precision, coltype.scale)
    if "BOOL" in name or name in ("TINYINT", "BIT"):
        return ("bool",)
    if isinstance(coltype, Integer):
        return ("int",)
    if "TEXT" in name or "CLOB" in name:
        return ("text",)
    if isinstance(coltype, String):
        return ("str", coltype.length)
    if "DATE" in name or "TIME" in name:
        return ("ts",)
    return (name,)


def test_metadata_matches_contract() -> None:
    assert set(erp.ERP_TABLES) == set(EXPECTED)
    for table, columns in EXPECTED.items():
        actual = {c.name: _kind(c.type) for c in erp.erp_metadata.tables[table].columns}
        assert actual == columns, table


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb", "mariadb-odbc"])
def test_create_and_reflect_on_every_dialect(
    backend: str, make_database: Callable[[str], str]
) -> None:
    engine = make_engine(make_database(backend))
    create_erp_schema(engine)
    integration_id = fill_demo(engine)
    insp = inspect(engine)
    for table, columns in EXPECTED.items():
        reflected = {c["name"]: _kind(c["type"]) for c in insp.get_columns(table)}
        assert set(reflected) == set(columns), table
        for name, kind in columns.items():
            got = reflected[name]
            if kind[0] == "bool":  # MariaDB reflects BOOLEAN as TINYINT(1)
                assert got[0] in ("bool", "int"), (table, name, got)
            else:
                assert got == kind, (table, name, got)
    uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("orders")}
    uniques |= {tuple(i["column_names"]) for i in insp.get_indexes("orders") if i["unique"]}
    assert ("integration_id", "external_id") in uniques
    with engine.connect() as conn:
        codes = set(conn.execute(select(erp.order_statuses.c.code)).scalars())
        assert codes == set(erp.ORDER_STATUS_CODES)
        [cfg] = load_integrations(conn)
    assert cfg.id == integration_id and cfg.export_labels and cfg.warehouses == (1,)
    engine.dispose()


def test_sql_server_ddl_compiles() -> None:
    dialect = mssql.dialect()
    ddl = {name: str(CreateTable(t).compile(dialect=dialect))
           for name, t in erp.erp_metadata.tables.items()}
    assert "IDENTITY" in ddl["products"]
    assert "NUMERIC(12, 2)" in ddl["products"] and "NUMERIC(10, 3)" in ddl["products"]
    assert "BIT" in ddl["products"] and "DATETIME" in ddl["orders"]
    assert "CHAR(2)" in ddl["customers"] and "CHAR(3)" in ddl["orders"]
    assert "UNIQUE (integration_id, external_id)" in ddl["orders"]
    assert "PRIMARY KEY (product_id, warehouse_id)" in ddl["stock_levels"]


def test_the_options_table_is_looked_up_once_per_database_not_per_engine(
    make_database: Callable[[str], str],
) -> None:
    # A worker makes a new engine for a tenant beyond its engine cache at every run.
    url = make_database("sqlite")
    first = make_engine(url)
    upgrade(first, TENANT)
    with first.connect() as conn:
        assert options.has_table(conn)
    second = make_engine(url)
    statements: list[str] = []
    event.listen(second, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with second.connect() as conn:
        assert options.has_table(conn)
    assert statements == []
    first.dispose()
    second.dispose()
    # In-memory databases share a URL, each its own: one with the table says nothing of another.
    with_table, without = make_engine("sqlite:///:memory:"), make_engine("sqlite:///:memory:")
    upgrade(with_table, TENANT)
    with with_table.connect() as a, without.connect() as b:
        assert options.has_table(a) and not options.has_table(b)
