"""export_products against the WooCommerce sandbox over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine, delete, insert, select, update

from shared.erp.schema import product_labels, products, shop_integration_labels
from shared.erp.sync_tables import sync_bindings, sync_events
from tests.engine.support import Shop, count, events, no_sleep_factory, rows, run
from workers.engine import watermarks

OP = "export_products"
BATCH = "/wp-json/wc/v3/products/batch"


def in_scope(engine: Engine) -> list[str]:
    """Demo data: active (id % 10 != 0) and labelled 1 (id % 4 != 0)."""
    labelled = select(product_labels.c.product_id).where(product_labels.c.label_id == 1)
    return [r.sku for r in rows(engine, select(products.c.sku).where(
        products.c.is_active, products.c.id.in_(labelled)).order_by(products.c.id))]


def shop_by_sku(shop: Shop) -> dict[str, dict]:
    return {p["sku"]: p for p in shop.sandbox.products.values()}


def test_happy_path_creates_in_batches_and_binds(erp: Engine, woo: Shop) -> None:
    wanted = in_scope(erp)

    result = run(erp, OP)

    assert result.outcome == "ok", result.error
    assert result.counts["created"] == len(wanted) == 28
    assert woo.writes(BATCH) == math.ceil(len(wanted) / 100)
    in_shop = shop_by_sku(woo)
    assert sorted(in_shop) == sorted(wanted)
    first = rows(erp, select(products).where(products.c.sku == "DEMO-0001"))[0]
    sent = in_shop["DEMO-0001"]
    assert sent["regular_price"] == str(first.price_gross)
    assert sent["name"] == first.name and sent["status"] == "publish"
    assert sent["global_unique_id"] == first.ean
    assert Decimal(sent["weight"]) == first.weight_kg
    assert count(erp, sync_bindings) == len(wanted)


def test_second_run_makes_no_call_then_one_change_one_update(erp: Engine, woo: Shop) -> None:
    run(erp, OP)
    calls = woo.calls()

    again = run(erp, OP)

    assert again.outcome == "ok" and again.counts["unchanged"] == 28
    assert woo.calls() == calls  # not a single request: bound and fingerprints equal
    with erp.begin() as conn:
        conn.execute(update(products).where(products.c.sku == "DEMO-0002")
                     .values(price_gross=Decimal("99.99"), updated_at=datetime(2030, 1, 1)))
    changed = run(erp, OP)
    assert changed.counts["updated"] == 1 and changed.counts["unchanged"] == 27
    assert woo.writes(BATCH) == 2
    assert shop_by_sku(woo)["DEMO-0002"]["regular_price"] == "99.99"


def test_existing_shop_product_is_bound_by_sku_never_duplicated(erp: Engine, woo: Shop) -> None:
    existing = woo.sandbox.add_product(sku="DEMO-0001", name="Stara nazwa", regular_price="1.00")

    result = run(erp, OP)

    assert result.counts["created"] == 27 and result.counts["updated"] == 1
    assert len(woo.sandbox.products) == 28
    bound = rows(erp, select(sync_bindings.c.shop_id).where(sync_bindings.c.erp_id == 1))
    assert bound[0].shop_id == str(existing["id"])
    assert woo.sandbox.products[existing["id"]]["name"] != "Stara nazwa"


def test_duplicate_sku_on_create_binds_to_the_owner(erp: Engine, woo: Shop) -> None:
    # A SKU with a comma cannot be looked up (the shop splits the list on commas), so the
    # create is tried, refused as a duplicate naming the owner — and we bind to that one.
    with erp.begin() as conn:
        conn.execute(update(products).where(products.c.id == 1).values(sku="KUB,BIAŁY"))
    owner = woo.sandbox.add_product(sku="KUB,BIAŁY", name="W sklepie", regular_price="1.00")

    result = run(erp, OP)

    assert result.outcome == "ok" and result.counts["failed"] == 0
    assert len(woo.sandbox.products) == 28
    bound = rows(erp, select(sync_bindings.c.shop_id).where(sync_bindings.c.erp_id == 1))
    assert bound[0].shop_id == str(owner["id"])
    assert woo.sandbox.products[owner["id"]]["name"] != "W sklepie"


def test_labels_scope_and_leaving_it_deactivates_once(erp: Engine, woo: Shop) -> None:
    run(erp, OP)
    with erp.begin() as conn:  # DEMO-0001 loses its label, DEMO-0002 becomes inactive
        conn.execute(delete(product_labels).where(product_labels.c.product_id == 1))
        conn.execute(update(products).where(products.c.id == 2).values(is_active=False))

    result = run(erp, OP)

    assert result.counts["updated"] == 2
    in_shop = shop_by_sku(woo)
    assert in_shop["DEMO-0001"]["status"] == "draft" and in_shop["DEMO-0002"]["status"] == "draft"
    assert len(events(erp, sync_events.c.kind == "deactivated")) == 2
    writes = woo.writes()
    assert run(erp, OP).counts["updated"] == 0 and woo.writes() == writes  # once only
    # Back in scope: active again.
    with erp.begin() as conn:
        conn.execute(insert(product_labels).values(product_id=1, label_id=1))
    assert run(erp, OP).counts["updated"] == 1
    assert shop_by_sku(woo)["DEMO-0001"]["status"] == "publish"


def test_no_export_labels_means_every_active_product(erp: Engine, woo: Shop) -> None:
    with erp.begin() as conn:
        conn.execute(delete(shop_integration_labels).where(
            shop_integration_labels.c.scope == "export_products"))

    assert run(erp, OP).counts["created"] == 36  # 40 minus the 4 inactive ones


def test_full_pass_resends_everything(erp: Engine, woo: Shop) -> None:
    run(erp, OP)
    writes = woo.writes(BATCH)

    result = run(erp, OP, full=True)

    assert result.counts["updated"] == 28 and woo.writes(BATCH) == writes + 1
    assert watermarks.full_pass_due(None, forced=False)


def test_dry_run_reads_and_counts_but_writes_nothing(erp: Engine, woo: Shop) -> None:
    result = run(erp, OP, dry_run=True)

    assert result.outcome == "ok" and result.counts["created"] == 28
    assert woo.writes() == 0 and not woo.sandbox.products
    assert count(erp, sync_bindings) == 0
    real = run(erp, OP)
    assert real.counts["created"] == 28


def test_item_refused_by_the_shop_is_an_item_error_and_retried(erp: Engine, woo: Shop) -> None:
    run(erp, OP)
    woo.sandbox.add_product(sku="TAKEN-1", name="Cudzy", regular_price="1.00")
    with erp.begin() as conn:  # the ERP renames DEMO-0001 to a SKU another shop product has
        conn.execute(update(products).where(products.c.id == 1).values(sku="TAKEN-1"))
        conn.execute(update(products).where(products.c.id == 2)
                     .values(price_gross=Decimal("77.00")))

    result = run(erp, OP)

    assert result.outcome == "partial"
    assert result.counts["updated"] == 1 and result.counts["failed"] == 1
    errors = events(erp, sync_events.c.kind == "item_error")
    assert errors[0].item == "TAKEN-1" and "sku" in errors[0].message.lower()
    assert run(erp, OP).counts["failed"] == 1  # not recorded as sent: tried again


def test_product_deleted_in_the_shop_is_unbound_and_created_again(erp: Engine, woo: Shop) -> None:
    run(erp, OP)
    gone = shop_by_sku(woo)["DEMO-0001"]["id"]
    with woo.sandbox.lock:  # deleted in the shop's admin, behind our back
        del woo.sandbox.products[gone]
    with erp.begin() as conn:
        conn.execute(update(products).where(products.c.id.in_([1, 2]))
                     .values(price_gross=Decimal("77.00")))

    result = run(erp, OP)

    assert result.outcome == "ok" and result.counts["failed"] == 0
    assert result.counts["updated"] == 1 and result.counts["created"] == 1
    [event] = events(erp, sync_events.c.kind == "deleted_in_shop")
    assert event.item == "DEMO-0001" and event.shop_id == str(gone) and event.level == "warning"
    again = shop_by_sku(woo)["DEMO-0001"]
    assert again["id"] != gone and again["regular_price"] == "77.00"
    bound = rows(erp, select(sync_bindings.c.shop_id).where(sync_bindings.c.erp_id == 1))
    assert [b.shop_id for b in bound] == [str(again["id"])]
    assert run(erp, OP).counts["created"] == 0  # once


def test_faults_converge_to_one_shop_product_per_sku(erp: Engine, woo: Shop) -> None:
    woo.sandbox.faults.configure({"error_rate": 0.15, "rate_limit_rate": 0.10, "seed": 3})

    small_batches = no_sleep_factory(batch_size=4)
    results = [run(erp, OP, shop_factory=small_batches) for _ in range(8)]

    assert any(r.outcome == "ok" for r in results), [r.error for r in results]
    assert sum(woo.sandbox.log.count(status=s) for s in (429, 500, 502, 503)) > 0
    skus = [p["sku"] for p in woo.sandbox.products.values()]
    assert sorted(skus) == sorted(in_scope(erp))  # every product once, none doubled
    assert count(erp, sync_bindings) == 28
    woo.sandbox.faults.clear()
    assert run(erp, OP).counts["unchanged"] == 28
