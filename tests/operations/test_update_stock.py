"""update_stock against the WooCommerce sandbox over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine, delete, insert, update

from shared.erp.schema import shop_integration_labels, shop_integration_warehouses, stock_levels
from shared.erp.sync_tables import sync_bindings
from tests.engine.support import Shop, count, no_sleep_factory, run

OP = "update_stock"
BATCH = "/wp-json/wc/v3/products/batch"


def set_stock(
    engine: Engine, product_id: int, warehouse_id: int, quantity: str, reserved: str
) -> None:
    with engine.begin() as conn:
        conn.execute(update(stock_levels).where(
            stock_levels.c.product_id == product_id, stock_levels.c.warehouse_id == warehouse_id,
        ).values(quantity=Decimal(quantity), reserved=Decimal(reserved),
                 updated_at=datetime(2030, 1, 1)))


def shop_stock(shop: Shop) -> dict[str, int | None]:
    return {p["sku"]: p["stock_quantity"] for p in shop.sandbox.products.values()}


def put_all_in_shop(shop: Shop, n: int = 40) -> None:
    for pid in range(1, n + 1):
        shop.sandbox.add_product(sku=f"DEMO-{pid:04d}", name=f"P{pid}", regular_price="1.00")


def test_first_run_matches_by_sku_and_sends_the_saleable_quantity(erp: Engine, woo: Shop) -> None:
    put_all_in_shop(woo)
    set_stock(erp, 1, 1, "10.700", "2.000")  # 8.7 → 8
    set_stock(erp, 1, 2, "100", "0")  # warehouse 2 does not feed this shop
    set_stock(erp, 2, 1, "1", "3")  # reserved beyond stock → 0, never negative

    result = run(erp, OP)

    assert result.outcome == "ok", result.error
    stock = shop_stock(woo)
    assert stock["DEMO-0001"] == 8 and stock["DEMO-0002"] == 0
    # Label scope: only products with label 1 (id % 4 != 0) get stock, whatever their state.
    assert stock["DEMO-0004"] is None and stock["DEMO-0003"] is not None
    assert result.counts["updated"] == 30
    assert woo.writes(BATCH) == 1  # one batch for 30 quantities
    assert count(erp, sync_bindings) == 30


def test_nothing_changed_means_zero_calls_then_one_change_one_write(erp: Engine, woo: Shop) -> None:
    put_all_in_shop(woo)
    run(erp, OP)
    calls = woo.calls()

    again = run(erp, OP)

    assert again.outcome == "ok" and again.counts["unchanged"] == 30
    assert woo.calls() == calls  # bound products, equal values: not one request
    set_stock(erp, 3, 1, "42", "0")
    changed = run(erp, OP)
    assert changed.counts["updated"] == 1 and woo.writes(BATCH) == 2
    assert shop_stock(woo)["DEMO-0003"] == 42


def test_products_bound_by_export_get_stock_without_a_lookup(erp: Engine, woo: Shop) -> None:
    run(erp, "export_products")
    run(erp, OP)  # first run is a full pass (no cursor yet); then deltas
    with erp.begin() as conn:
        conn.execute(update(stock_levels).values(quantity=stock_levels.c.quantity + 1))
    reads = woo.reads()

    result = run(erp, OP)

    assert result.counts["updated"] == 28  # the exported (active, labelled) ones
    assert woo.reads() == reads  # delta pass: bound products only, no SKU lookup


def test_warehouses_and_labels_follow_the_settings(erp: Engine, woo: Shop) -> None:
    put_all_in_shop(woo)
    set_stock(erp, 1, 1, "5", "0")
    set_stock(erp, 1, 2, "7", "1")
    run(erp, OP)
    assert shop_stock(woo)["DEMO-0001"] == 5
    with erp.begin() as conn:  # both warehouses now, and no label filter
        conn.execute(insert(shop_integration_warehouses).values(integration_id=1, warehouse_id=2))
        conn.execute(delete(shop_integration_labels).where(
            shop_integration_labels.c.scope == "export_stock"))

    result = run(erp, OP, full=True)  # full: also finds the newly in-scope products by SKU

    assert shop_stock(woo)["DEMO-0001"] == 11
    assert shop_stock(woo)["DEMO-0004"] is not None
    assert result.counts["updated"] == 40


def test_full_pass_resends_everything_in_largest_batches(erp: Engine, woo: Shop) -> None:
    put_all_in_shop(woo, 40)
    run(erp, OP)
    writes = woo.writes(BATCH)

    result = run(erp, OP, full=True)

    assert result.counts["updated"] == 30 and woo.writes(BATCH) == writes + 1


def test_faults_converge_to_the_right_quantities(erp: Engine, woo: Shop) -> None:
    put_all_in_shop(woo)
    set_stock(erp, 1, 1, "10.700", "2.000")
    woo.sandbox.faults.configure({"error_rate": 0.15, "rate_limit_rate": 0.10, "seed": 11})

    small_batches = no_sleep_factory(batch_size=4)
    results = [run(erp, OP, shop_factory=small_batches) for _ in range(8)]

    assert any(r.outcome == "ok" for r in results), [r.error for r in results]
    assert sum(woo.sandbox.log.count(status=s) for s in (429, 500, 502, 503)) > 0
    woo.sandbox.faults.clear()
    stock = shop_stock(woo)
    assert stock["DEMO-0001"] == 8
    assert sum(1 for q in stock.values() if q is not None) == 30
    calls = woo.calls()
    assert run(erp, OP).counts["unchanged"] == 30 and woo.calls() == calls
