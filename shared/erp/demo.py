"""Create the ERP stand-in tables and fill them with demo data (tests, demo, trying things out).

Only for databases we create ourselves: in the field the ERP's tables already exist and are never
created or changed by the integrator.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Connection, Engine, func, insert, select, text, update

from shared.erp import schema as erp
from shared.errors import UserError

WAREHOUSES = [(1, "MAG", "Magazyn główny"), (2, "SKL", "Sklep stacjonarny")]
LABELS = [(1, "Sklep internetowy"), (2, "Wyprzedaż"), (3, "Tylko stacjonarnie")]
_WORDS = ["Kubek", "Talerz", "Miska", "Dzbanek", "Wazon", "Świecznik", "Koszyk", "Lampa"]
_COLOURS = ["biały", "czarny", "zielony", "niebieski", "czerwony", "żółty", "szary", "różowy"]
DEMO_STATUS_MAP = {
    "woocommerce": {"new": "pending", "in_progress": "processing", "shipped": "completed",
                    "cancelled": "cancelled"},
}


def naive_utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def create_erp_schema(engine: Engine) -> None:
    """Create the ERP tables (for tests and the demo only)."""
    erp.erp_metadata.create_all(engine)


def fill_demo(
    engine: Engine,
    *,
    platform: str = "woocommerce",
    base_url: str = "http://127.0.0.1:8081",
    api_key: str = "ck_demo",
    api_secret: str | None = "cs_demo",
    products: int = 40,
    seed: int = 7,
    operations: dict[str, tuple[bool, int]] | None = None,
) -> int:
    """Fill an empty ERP database with demo data and one shop integration; returns its id."""
    rnd = random.Random(seed)
    now = naive_utc_now()
    ops = operations or {
        "import_orders": (True, 5),
        "update_order_statuses": (True, 5),
        "export_products": (True, 5),
        "import_products": (False, 5),
        "update_stock": (True, 5),
    }
    with engine.begin() as conn:
        conn.execute(insert(erp.warehouses), [dict(id=i, code=c, name=n) for i, c, n in WAREHOUSES])
        conn.execute(insert(erp.labels), [dict(id=i, name=n) for i, n in LABELS])
        conn.execute(
            insert(erp.order_statuses),
            [dict(id=i, code=c, name=c.replace("_", " ").capitalize())
             for i, c in enumerate(erp.ORDER_STATUS_CODES, start=1)],
        )
        product_rows, label_rows, stock_rows = [], [], []
        for pid in range(1, products + 1):
            gross = Decimal(rnd.randint(500, 30000)) / 100
            net = (gross / Decimal("1.23")).quantize(Decimal("0.01"), ROUND_HALF_UP)
            product_rows.append(dict(
                id=pid, sku=f"DEMO-{pid:04d}", ean=f"590{pid:010d}",
                name=f"{rnd.choice(_WORDS)} {rnd.choice(_COLOURS)} {pid}",
                description="Produkt demonstracyjny", unit="szt", vat_rate=Decimal("23.00"),
                price_net=net, price_gross=gross, weight_kg=Decimal(rnd.randint(100, 3000)) / 1000,
                is_active=pid % 10 != 0, updated_at=now - timedelta(days=1),
            ))
            if pid % 4 != 0:
                label_rows.append(dict(product_id=pid, label_id=1))
            if pid % 5 == 0:
                label_rows.append(dict(product_id=pid, label_id=2))
            for wid, _, _ in WAREHOUSES:
                stock_rows.append(dict(
                    product_id=pid, warehouse_id=wid, quantity=Decimal(rnd.randint(0, 50)),
                    reserved=Decimal(rnd.randint(0, 3)), updated_at=now - timedelta(days=1),
                ))
        for table, rows in ((erp.products, product_rows), (erp.product_labels, label_rows),
                            (erp.stock_levels, stock_rows)):
            if rows:  # an empty list would insert one row of defaults
                conn.execute(insert(table), rows)
        conn.execute(insert(erp.shop_integrations), [dict(
            id=1, name="Sklep demo", platform=platform, base_url=base_url, api_key=api_key,
            api_secret=api_secret, is_active=True, auto_sync=True, shop_timezone="Europe/Warsaw",
            orders_since=None, updated_at=now,
        )])
        conn.execute(insert(erp.shop_integration_operations), [
            dict(integration_id=1, operation=op, enabled=on, interval_minutes=minutes)
            for op, (on, minutes) in ops.items()
        ])
        conn.execute(insert(erp.shop_integration_labels), [
            dict(integration_id=1, label_id=1, scope="export_products"),
            dict(integration_id=1, label_id=1, scope="export_stock"),
        ])
        conn.execute(
            insert(erp.shop_integration_warehouses), [dict(integration_id=1, warehouse_id=1)]
        )
        status_ids = {c: i for i, c in enumerate(erp.ORDER_STATUS_CODES, start=1)}
        mapping = DEMO_STATUS_MAP.get(platform, {})
        if mapping:
            conn.execute(insert(erp.shop_status_map), [
                dict(integration_id=1, erp_status_id=status_ids[code], shop_status=shop)
                for code, shop in mapping.items()
            ])
        _advance_sequences(conn)
    return 1


def _advance_sequences(conn) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: rows were inserted with explicit ids, so move each serial past them (else the
    ERP's next own insert would collide). Other dialects do this by themselves."""
    if conn.dialect.name != "postgresql":
        return
    for table in (
        erp.warehouses,
        erp.labels,
        erp.order_statuses,
        erp.products,
        erp.shop_integrations,
    ):
        top = conn.execute(select(func.coalesce(func.max(table.c.id), 1))).scalar_one()
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :top)"),
            {"table": table.name, "top": top},
        )


# -- changing the stand-in by hand (`iluo-sync erp set-stock / set-price`, the demo's hints) ----


def set_stock(engine: Engine, sku: str, quantity: Decimal, warehouse: str | None = None) -> str:
    """Set a product's stock in one warehouse (default: the first one); returns its code.

    Like a goods receipt in the ERP: `quantity` and `updated_at` change, `reserved` stays."""
    with engine.begin() as conn:
        product_id = _product_id(conn, sku)
        query = select(erp.warehouses.c.id, erp.warehouses.c.code).order_by(erp.warehouses.c.id)
        if warehouse is not None:
            query = query.where(erp.warehouses.c.code == warehouse)
        found = conn.execute(query.limit(1)).first()
        if found is None:
            raise UserError(f"no warehouse {warehouse!r}" if warehouse else "no warehouse")
        where = ((erp.stock_levels.c.product_id == product_id)
                 & (erp.stock_levels.c.warehouse_id == found.id))
        values = {"quantity": quantity, "updated_at": naive_utc_now()}
        if conn.execute(update(erp.stock_levels).where(where).values(values)).rowcount == 0:
            conn.execute(insert(erp.stock_levels).values(
                product_id=product_id, warehouse_id=found.id, reserved=Decimal(0), **values))
        return str(found.code)


def set_price(engine: Engine, sku: str, gross: Decimal) -> Decimal:
    """Set a product's gross price (the net one follows from its VAT rate); returns the net."""
    with engine.begin() as conn:
        product_id = _product_id(conn, sku)
        rate = conn.execute(
            select(erp.products.c.vat_rate).where(erp.products.c.id == product_id)
        ).scalar_one()
        net = (gross / (1 + Decimal(rate) / 100)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        conn.execute(update(erp.products).where(erp.products.c.id == product_id).values(
            price_gross=gross, price_net=net, updated_at=naive_utc_now()))
        return net


def _product_id(conn: Connection, sku: str) -> int:
    found = conn.execute(select(erp.products.c.id).where(erp.products.c.sku == sku)).scalar()
    if found is None:
        raise UserError(f"no product with SKU {sku!r}")
    return int(found)
