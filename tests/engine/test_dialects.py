"""The dialect switch and the SQL store on every backend we can run here, MariaDB included:
insert-or-skip, upsert, insert-returning-id, bindings — and all five operations end to end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from shared.db import make_engine
from shared.erp.demo import create_erp_schema, fill_demo
from shared.erp.schema import orders, products
from shared.erp.sync_tables import sync_cursors, sync_sent
from shared.migrate import TENANT, upgrade
from tests.engine.support import Shop, count, empty, point_at, run
from workers.engine import bindings, dialect, fingerprints, watermarks
from workers.engine.store import SqlErpStore


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def any_erp(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The demo ERP on each backend (server databases shared per session, emptied per test)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'erp.db'}")
        create_erp_schema(engine)
        upgrade(engine, TENANT)
    else:
        shared = "shared_pg" if request.param == "postgresql" else "shared_maria"
        engine = make_engine(request.getfixturevalue(shared))
        empty(engine)
    fill_demo(engine)
    yield engine
    engine.dispose()


def test_insert_or_skip_and_upsert(any_erp: Engine) -> None:
    row = dict(
        integration_id=1, name="x", value=datetime(2024, 1, 1), updated_at=datetime(2024, 1, 1)
    )
    with any_erp.begin() as conn:
        assert dialect.insert_or_skip(conn, sync_cursors, row, ("integration_id", "name"))
        assert not dialect.insert_or_skip(conn, sync_cursors, row, ("integration_id", "name"))
        watermarks.write(conn, 1, "x", datetime(2025, 5, 1, 12, 0, 0, tzinfo=UTC))
        watermarks.write(conn, 1, "y", datetime(2025, 5, 2, tzinfo=UTC))
    with any_erp.connect() as conn:
        assert watermarks.read(conn, 1, "x") == datetime(2025, 5, 1, 12, tzinfo=UTC)
        assert watermarks.read(conn, 1, "y") == datetime(2025, 5, 2, tzinfo=UTC)
    with any_erp.begin() as conn:
        fingerprints.record(conn, 1, "stock", {1: "a", 2: "b"})
        fingerprints.record(conn, 1, "stock", {2: "c", 3: "d"})
    with any_erp.connect() as conn:
        assert fingerprints.read(conn, 1, "stock", [1, 2, 3, 4]) == {1: "a", 2: "c", 3: "d"}
    assert count(any_erp, sync_sent) == 3


def test_bindings_are_unique_both_ways(any_erp: Engine) -> None:
    with any_erp.begin() as conn:
        assert bindings.bind(conn, 1, "product", 1, "101") is bindings.Bound.NEW
        assert bindings.bind(conn, 1, "product", 1, "101") is bindings.Bound.SAME
        assert bindings.bind(conn, 1, "product", 1, "102") is bindings.Bound.CONFLICT
        assert bindings.bind(conn, 1, "product", 2, "101") is bindings.Bound.CONFLICT
        assert bindings.bind(conn, 2, "product", 1, "101") is bindings.Bound.NEW  # other shop
        assert bindings.shop_ids(conn, 1, "product", [1, 2]) == {1: "101"}
        clashes = bindings.bind_many(conn, 1, "product", [(1, "101"), (2, "201"), (3, "101"),
                                                          (1, "999"), (4, "401")])
        assert clashes == [(3, "101"), (1, "999")]
        assert bindings.shop_ids(conn, 1, "product", [1, 2, 3, 4]) == {1: "101", 2: "201", 4: "401"}


def test_insert_returning_id_or_skip_and_product_upsert(any_erp: Engine) -> None:
    from decimal import Decimal

    from workers.domain import Product

    store = SqlErpStore(any_erp, 1)
    with store.unit() as tx:
        change, new_id = tx.upsert_product(
            Product(sku="NEW-1", name="N", price_gross=Decimal("12.30"))
        )
        again, same_id = tx.upsert_product(
            Product(sku="NEW-1", name="N", price_gross=Decimal("12.3"))
        )
        moved, _ = tx.upsert_product(Product(sku="NEW-1", name="M", price_gross=Decimal("12.30")))
    assert (change.value, again.value, moved.value) == ("created", "unchanged", "updated")
    assert new_id == same_id
    with any_erp.connect() as conn:
        row = conn.execute(select(products).where(products.c.sku == "NEW-1")).one()
    assert row.price_net == Decimal("10.00") and row.name == "M"


def test_all_five_operations_end_to_end(any_erp: Engine, woo: Shop) -> None:
    point_at(any_erp, woo)
    woo.add_orders(120, email="klient@example.com")
    for sku in ("SHOP-1", "SHOP-2"):
        woo.sandbox.add_product(sku=sku, name=sku, regular_price="3.00")

    assert run(any_erp, "import_orders").counts["created"] == 120
    assert run(any_erp, "import_orders").counts["created"] == 0
    assert run(any_erp, "update_order_statuses").counts["updated"] == 0
    exported = run(any_erp, "export_products")
    # DEMO-0001 is in the shop already (the orders above are of it): bound by SKU, not doubled.
    assert exported.outcome == "ok" and exported.counts["created"] == 27
    assert exported.counts["updated"] == 1
    stock = run(any_erp, "update_stock")
    assert stock.outcome == "ok" and stock.counts["updated"] == 28
    writes = woo.writes()
    assert run(any_erp, "update_stock").counts["updated"] == 0 and woo.writes() == writes
    imported = run(any_erp, "import_products", full=True)
    assert imported.outcome == "ok", imported.error
    assert imported.counts["created"] == 2 and imported.counts["unchanged"] == 28
    assert count(any_erp, orders) == 120
