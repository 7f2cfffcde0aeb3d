"""All five operations, written once, run against every platform's sandbox over real HTTP.

Each platform contributes `harness_<platform>.py` (see harness.py); this module never names a
platform. What it proves per platform: the data arrives, a second run writes nothing, a change
costs only its own calls, and 25 % faults converge to exactly the right data with no duplicate.
"""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine, func, select, update

from shared.erp import schema as erp
from shared.erp.demo import naive_utc_now
from shared.erp.sync_tables import sync_events
from tests.platforms.support import (
    creates_products,
    exported,
    first_export,
    list_in_shop,
    run,
    until_ok,
)
from workers.domain import Operation
from workers.shops import limitations


def saleable(engine: Engine, product_id: int) -> int:
    s = erp.stock_levels
    with engine.connect() as conn:
        total = conn.execute(
            select(func.sum(s.c.quantity - s.c.reserved))
            .where(s.c.product_id == product_id, s.c.warehouse_id == 1)
        ).scalar_one()
    return math.floor(max(Decimal(0), total or Decimal(0)))


def test_export_products_then_nothing(shop: object, erp_db: Engine) -> None:
    list_in_shop(shop, erp_db)
    result = run(erp_db, Operation.EXPORT_PRODUCTS)
    assert result.ok, result.error
    products = exported(erp_db)
    assert result.counts[first_export(shop)] == len(products)
    for row in products:
        got = shop.product(row["sku"])
        assert got is not None, row["sku"]
        assert got["name"] == row["name"] and got["price_gross"] == row["price_gross"]
        assert shop.count_sku(row["sku"]) == 1
    writes = shop.write_calls()
    again = run(erp_db, Operation.EXPORT_PRODUCTS)
    assert again.ok and again.counts["created"] == again.counts["updated"] == 0
    assert shop.write_calls() == writes  # unchanged products cost no API call

    first = products[0]
    with erp_db.begin() as conn:
        conn.execute(update(erp.products).where(erp.products.c.id == first["id"])
                     .values(name="Nowa nazwa", updated_at=naive_utc_now() + timedelta(seconds=1)))
    changed = run(erp_db, Operation.EXPORT_PRODUCTS)
    assert changed.ok and changed.counts["updated"] == 1 and changed.counts["created"] == 0
    assert shop.product(first["sku"])["name"] == "Nowa nazwa"


def test_export_binds_a_product_already_in_the_shop(shop: object, erp_db: Engine) -> None:
    first = exported(erp_db)[0]
    shop.add_product(sku=first["sku"], name="Old name", price_gross=Decimal("1.00"), stock=0)
    list_in_shop(shop, erp_db)
    result = run(erp_db, Operation.EXPORT_PRODUCTS)
    assert result.ok, result.error
    assert shop.count_sku(first["sku"]) == 1  # matched by SKU, never a duplicate
    assert shop.product(first["sku"])["name"] == first["name"]


def test_a_product_missing_from_the_shop_is_created_or_refused_as_stated(
    shop: object, erp_db: Engine,
) -> None:
    """Export creates what the shop lacks — or, on a platform that cannot create products from
    ERP data, refuses each one as an item error carrying the limitation the connector states
    (`iluo-sync integrations` shows it), and creates nothing."""
    products = exported(erp_db)
    result = run(erp_db, Operation.EXPORT_PRODUCTS)
    if creates_products(shop):
        assert result.ok and result.counts["created"] == len(products), result.error
        assert all(shop.count_sku(row["sku"]) == 1 for row in products)
        return
    assert result.outcome == "partial", result.error
    assert (result.counts["failed"], result.counts["created"]) == (len(products), 0)
    assert all(shop.count_sku(row["sku"]) == 0 for row in products)
    with erp_db.connect() as conn:
        messages = set(conn.execute(select(sync_events.c.message)
                                    .where(sync_events.c.kind == "item_error")).scalars())
    stated = limitations(shop.platform)
    assert messages and all(any(text.startswith(m) for text in stated) for m in messages)


def test_update_stock(shop: object, erp_db: Engine) -> None:
    list_in_shop(shop, erp_db)
    assert run(erp_db, Operation.EXPORT_PRODUCTS).ok
    result = run(erp_db, Operation.UPDATE_STOCK)
    assert result.ok, result.error
    products = exported(erp_db)
    for row in products:
        assert shop.product(row["sku"])["stock"] == saleable(erp_db, row["id"]), row["sku"]
    writes = shop.write_calls()
    assert run(erp_db, Operation.UPDATE_STOCK).ok
    assert shop.write_calls() == writes  # nothing changed: no write at all

    target = products[1]
    with erp_db.begin() as conn:
        conn.execute(update(erp.stock_levels)
                     .where(erp.stock_levels.c.product_id == target["id"],
                            erp.stock_levels.c.warehouse_id == 1)
                     .values(quantity=Decimal("77"), reserved=Decimal("2.5"),
                             updated_at=naive_utc_now()))
    changed = run(erp_db, Operation.UPDATE_STOCK)
    assert changed.ok and changed.counts["updated"] == 1
    assert shop.product(target["sku"])["stock"] == 74  # floor(77 - 2.5)
    assert shop.write_calls() - writes == 1


def _erp_orders(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(r._mapping) for r in conn.execute(select(erp.orders).order_by(erp.orders.c.id))
        ]


def test_import_orders_and_send_statuses(shop: object, erp_db: Engine) -> None:
    skus = [row["sku"] for row in exported(erp_db)[:2]]
    ids = [
        shop.add_order(sku_lines=[(skus[0], 2, Decimal("10.00"))], email="Jan.Kowalski@example.pl"),
        shop.add_order(
            sku_lines=[(skus[1], 1, Decimal("5.50")), ("UNKNOWN-SKU", 1, Decimal("3.00"))],
            email="jan.kowalski@example.pl",
        ),
        shop.add_order(sku_lines=[(skus[0], 1, Decimal("10.00"))], email="anna@example.pl"),
    ]
    result = run(erp_db, Operation.IMPORT_ORDERS)
    assert result.ok, result.error
    orders = _erp_orders(erp_db)
    assert sorted(o["external_id"] for o in orders) == sorted(ids)
    with erp_db.connect() as conn:
        customers = conn.execute(select(func.count()).select_from(erp.customers)).scalar_one()
        lines = [dict(r._mapping) for r in conn.execute(select(erp.order_lines))]
    assert customers == 2  # matched by e-mail, case-insensitively
    assert len(lines) == 4
    assert [line["product_id"] for line in lines if line["sku"] == "UNKNOWN-SKU"] == [None]

    again = run(erp_db, Operation.IMPORT_ORDERS)
    assert again.ok and len(_erp_orders(erp_db)) == 3  # never twice

    # ERP marks the first order shipped: the shop gets the mapped status, once.
    with erp_db.begin() as conn:
        shipped = conn.execute(select(erp.order_statuses.c.id)
                               .where(erp.order_statuses.c.code == "shipped")).scalar_one()
        conn.execute(update(erp.orders).where(erp.orders.c.external_id == ids[0])
                     .values(status_id=shipped, updated_at=naive_utc_now() + timedelta(seconds=1)))
    sent = run(erp_db, Operation.UPDATE_ORDER_STATUSES)
    assert sent.ok, sent.error
    assert shop.order_status(ids[0]) == shop.status_map["shipped"]
    writes = shop.write_calls()
    assert run(erp_db, Operation.UPDATE_ORDER_STATUSES).ok
    assert shop.write_calls() == writes


def test_import_products(shop: object, erp_db: Engine) -> None:
    shop.add_product(sku="SHOP-NEW-1", name="Z półki sklepu", price_gross=Decimal("49.99"), stock=3)
    shop.add_product(sku="SHOP-NEW-2", name="Drugi", price_gross=Decimal("12.30"), stock=1)
    result = run(erp_db, Operation.IMPORT_PRODUCTS)
    assert result.ok, result.error
    with erp_db.connect() as conn:
        rows = {r.sku: r for r in conn.execute(
            select(erp.products).where(erp.products.c.sku.in_(["SHOP-NEW-1", "SHOP-NEW-2"])))}
    assert rows["SHOP-NEW-1"].name == "Z półki sklepu"
    assert rows["SHOP-NEW-1"].price_gross == Decimal("49.99")
    again = run(erp_db, Operation.IMPORT_PRODUCTS, full=True)
    assert again.ok and again.counts["created"] == again.counts["updated"] == 0


def test_faults_converge_without_duplicates(shop: object, erp_db: Engine) -> None:
    skus = [row["sku"] for row in exported(erp_db)[:3]]
    ids = [shop.add_order(sku_lines=[(sku, 1, Decimal("9.99"))], email=f"k{i}@example.pl")
           for i, sku in enumerate(skus * 4)]
    list_in_shop(shop, erp_db)
    shop.faults.configure(
        {"error_rate": 0.15, "rate_limit_rate": 0.10, "retry_after": 0, "seed": 11}
    )
    until_ok(erp_db, Operation.EXPORT_PRODUCTS)
    until_ok(erp_db, Operation.UPDATE_STOCK)
    until_ok(erp_db, Operation.IMPORT_ORDERS)
    shop.faults.configure({"error_rate": 0, "rate_limit_rate": 0})
    for row in exported(erp_db):
        assert shop.count_sku(row["sku"]) == 1, row["sku"]
        assert shop.product(row["sku"])["stock"] == saleable(erp_db, row["id"])
    assert sorted(o["external_id"] for o in _erp_orders(erp_db)) == sorted(ids)


def _touch(engine: Engine, product_id: int, **values: object) -> None:
    with engine.begin() as conn:
        conn.execute(update(erp.products).where(erp.products.c.id == product_id)
                     .values(updated_at=naive_utc_now() + timedelta(seconds=1), **values))


def _set_stock(engine: Engine, product_id: int, quantity: Decimal) -> None:
    with engine.begin() as conn:
        conn.execute(update(erp.stock_levels).where(erp.stock_levels.c.product_id == product_id)
                     .values(quantity=quantity, reserved=Decimal(0), updated_at=naive_utc_now()))


def _events(engine: Engine, kind: str) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(sync_events).where(sync_events.c.kind == kind).order_by(sync_events.c.id))]


def test_a_product_deleted_in_the_shop_is_recreated_once_and_stock_stops_failing(
    shop: object, erp_db: Engine
) -> None:
    list_in_shop(shop, erp_db)
    assert run(erp_db, Operation.EXPORT_PRODUCTS).ok
    assert run(erp_db, Operation.UPDATE_STOCK).ok
    first, second = exported(erp_db)[:2]
    shop.delete_product(first["sku"])
    shop.delete_product(second["sku"])
    assert shop.product(first["sku"]) is None

    # The stock of the first changes: the shop says it has no such product any more.
    _set_stock(erp_db, first["id"], Decimal(41))
    stock = run(erp_db, Operation.UPDATE_STOCK)
    assert stock.ok and stock.counts["failed"] == 0 and stock.counts["skipped"] == 1
    [gone] = _events(erp_db, "deleted_in_shop")
    assert gone["erp_id"] == first["id"] and gone["level"] == "warning"
    assert run(erp_db, Operation.UPDATE_STOCK).counts["failed"] == 0  # and not again

    # The second's name changes: its update finds it deleted, and the same run recreates it.
    _touch(erp_db, second["id"], name="Po usunięciu")
    export = run(erp_db, Operation.EXPORT_PRODUCTS)
    if not creates_products(shop):
        # Nothing to recreate them from: both are refused with the stated limitation, once
        # per run, and nothing appears in the shop.
        assert export.outcome == "partial", export.error
        assert (export.counts["failed"], export.counts["created"]) == (2, 0)
        assert shop.count_sku(first["sku"]) == shop.count_sku(second["sku"]) == 0
        stated = limitations(shop.platform)
        assert all(any(text.startswith(e["message"]) for text in stated)
                   for e in _events(erp_db, "item_error"))
        return
    assert export.ok and export.counts["failed"] == 0, export.error
    assert export.counts["created"] == 2  # the first (unbound by the stock run) and the second
    for row in (first, second):
        assert shop.count_sku(row["sku"]) == 1, row["sku"]
    assert shop.product(second["sku"])["name"] == "Po usunięciu"
    again = run(erp_db, Operation.EXPORT_PRODUCTS)
    assert again.counts["created"] == again.counts["updated"] == again.counts["failed"] == 0

    # Stock goes to the new shop products, once, and no run reports an error on the way.
    stock = run(erp_db, Operation.UPDATE_STOCK)
    assert stock.ok and stock.counts["failed"] == 0 and stock.counts["updated"] == 2
    assert shop.product(first["sku"])["stock"] == 41
    assert shop.product(second["sku"])["stock"] == saleable(erp_db, second["id"])
    writes = shop.write_calls()
    assert run(erp_db, Operation.UPDATE_STOCK).counts["updated"] == 0
    assert shop.write_calls() == writes
