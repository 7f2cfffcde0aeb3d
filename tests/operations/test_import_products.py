"""import_products against the WooCommerce sandbox over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, select, update

from shared.erp.schema import products
from shared.erp.sync_tables import sync_bindings, sync_events
from tests.engine.support import Shop, ago, count, cursor, events, rows, run

OP = "import_products"


def erp_product(engine: Engine, sku: str):  # type: ignore[no-untyped-def]
    found = rows(engine, select(products).where(products.c.sku == sku))
    return found[0] if found else None


def same_as_erp(engine: Engine, sku: str) -> dict:
    row = erp_product(engine, sku)
    return dict(sku=sku, name=row.name, description=row.description,
                regular_price=str(row.price_gross), global_unique_id=row.ean,
                weight=format(row.weight_kg.normalize(), "f"), status="publish")


def test_creates_updates_and_leaves_unchanged_rows_alone(erp: Engine, woo: Shop) -> None:
    shop = woo.sandbox
    created = ago(minutes=10)
    with erp.begin() as conn:
        conn.execute(update(products).where(products.c.id == 2).values(vat_rate=Decimal("8")))
    untouched_before = erp_product(erp, "DEMO-0003").updated_at
    shop.add_product(created=created, **same_as_erp(erp, "DEMO-0003"))
    shop.add_product(created=created, sku="DEMO-0002", name="Nowa nazwa", regular_price="108.00")
    shop.add_product(created=created, sku="NOWY-1", name="Nowy produkt", regular_price="123.00",
                     global_unique_id="5901234123457", weight="0.25", status="draft")
    no_sku = shop.add_product(created=created, sku="", name="Bez SKU", regular_price="5.00")

    result = run(erp, OP)

    # The product without SKU needs a person (no run can import it by itself): kept, listed.
    assert result.outcome == "partial", result.error
    assert result.kept is not None and (result.kept.retry, result.kept.attention) == (0, 1)
    assert (result.counts["created"], result.counts["updated"], result.counts["unchanged"],
            result.counts["failed"]) == (1, 1, 1, 1)
    new = erp_product(erp, "NOWY-1")
    assert new.name == "Nowy produkt" and new.price_gross == Decimal("123.00")
    assert new.vat_rate == Decimal("23.00") and new.price_net == Decimal("100.00")
    assert new.ean == "5901234123457" and new.weight_kg == Decimal("0.250")
    assert new.is_active is False and new.unit == "szt"
    changed = erp_product(erp, "DEMO-0002")
    assert changed.name == "Nowa nazwa" and changed.price_net == Decimal("100.00")  # VAT 8 %
    assert changed.updated_at > untouched_before
    assert erp_product(erp, "DEMO-0003").updated_at == untouched_before
    assert count(erp, sync_bindings) == 3
    errors = events(erp, sync_events.c.kind == "item_error")
    assert len(errors) == 1 and errors[0].shop_id == str(no_sku["id"])
    assert "SKU" in errors[0].message
    assert woo.writes() == 0


def test_second_run_changes_nothing_then_picks_up_a_shop_edit(erp: Engine, woo: Shop) -> None:
    made = woo.sandbox.add_product(created=ago(minutes=10), sku="NOWY-2", name="A",
                                   regular_price="10.00")
    run(erp, OP)
    stamp = erp_product(erp, "NOWY-2").updated_at

    again = run(erp, OP)

    assert again.outcome == "ok" and again.counts["created"] == again.counts["updated"] == 0
    assert erp_product(erp, "NOWY-2").updated_at == stamp
    woo.sandbox.now = lambda: datetime.now(UTC) - timedelta(seconds=20)
    woo.sandbox.update_product(made["id"], name="B")
    edited = run(erp, OP)
    assert edited.counts["updated"] == 1 and erp_product(erp, "NOWY-2").name == "B"
    assert cursor(erp, OP) is not None


def test_full_read_over_pages_moves_the_cursor_only_at_the_end(erp: Engine, woo: Shop) -> None:
    for i in range(130):
        woo.sandbox.add_product(created=ago(days=3), sku=f"IMP-{i:03d}", name=f"P {i}",
                                regular_price="1.00")

    def fail_after_page_1(done: int, _total: int | None) -> None:
        if done == 100:
            woo.sandbox.faults.fail_next(10, 502)

    broken = run(erp, OP, progress=fail_after_page_1)
    assert broken.outcome == "failed" and cursor(erp, OP) is None
    woo.sandbox.faults.clear()
    ok = run(erp, OP)
    assert ok.outcome == "ok" and ok.counts["read"] == 130
    assert count(erp, products, products.c.sku.like("IMP-%")) == 130
