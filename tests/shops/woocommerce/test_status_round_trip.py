"""Order statuses round trip on WooCommerce (issue 12 item 3): an ERP status sent to the shop
comes back to the same ERP status, and a shop order carrying a mapped slug imports as that
status. Real HTTP against the sandbox, a demo ERP on SQLite, the engine's own runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, insert, select, update

from shared.db import make_engine
from shared.erp import schema as erp
from shared.erp.demo import create_erp_schema, fill_demo, naive_utc_now
from shared.migrate import TENANT, upgrade
from tests.platforms.harness_woocommerce import WooCommerceHarness
from tests.platforms.support import exported, run
from workers.domain import Operation


@pytest.fixture
def shop() -> Iterator[WooCommerceHarness]:
    harness = WooCommerceHarness()
    harness.start()
    yield harness
    harness.stop()


@pytest.fixture
def erp_db(shop: WooCommerceHarness, make_database: Callable[[str], str]) -> Iterator[Engine]:
    engine = make_engine(make_database("sqlite"))
    create_erp_schema(engine)
    fill_demo(engine, platform=shop.platform, base_url=shop.base_url, api_key=shop.api_key,
              api_secret=shop.api_secret, products=5)
    with engine.begin() as conn:
        conn.execute(update(erp.shop_integrations).values(shop_timezone=shop.shop_timezone))
        conn.execute(delete(erp.shop_status_map))
        ids = dict(conn.execute(select(erp.order_statuses.c.code, erp.order_statuses.c.id)).all())
        conn.execute(insert(erp.shop_status_map), [
            {"integration_id": 1, "erp_status_id": ids[code], "shop_status": status}
            for code, status in shop.status_map.items()])
    upgrade(engine, TENANT)
    yield engine
    engine.dispose()


def _erp_status(engine: Engine, external_id: str) -> str:
    o, s = erp.orders, erp.order_statuses
    with engine.connect() as conn:
        return str(conn.execute(select(s.c.code).join(o, o.c.status_id == s.c.id)
                                .where(o.c.external_id == external_id)).scalar_one())


def test_every_mapped_status_goes_out_and_comes_back_the_same(
    shop: WooCommerceHarness, erp_db: Engine
) -> None:
    sku = exported(erp_db)[0]["sku"]
    codes = sorted(shop.status_map)
    # ERP → shop: one order per ERP status, placed as new, then set in the ERP and sent.
    outgoing = {code: shop.add_order(sku_lines=[(sku, 1, Decimal("10.00"))],
                                     email=f"{code}@example.pl", status="pending")
                for code in codes}
    assert run(erp_db, Operation.IMPORT_ORDERS).ok
    with erp_db.begin() as conn:
        ids = dict(conn.execute(select(erp.order_statuses.c.code, erp.order_statuses.c.id)).all())
        for code, external_id in outgoing.items():
            conn.execute(update(erp.orders).where(erp.orders.c.external_id == external_id)
                         .values(status_id=ids[code],
                                 updated_at=naive_utc_now() + timedelta(seconds=1)))
    sent = run(erp_db, Operation.UPDATE_ORDER_STATUSES)
    assert sent.ok, sent.error
    assert {code: shop.order_status(i) for code, i in outgoing.items()} == shop.status_map

    # Shop → ERP: importing those orders back changes nothing, and a fresh shop order carrying
    # each mapped slug imports as that same ERP status.
    incoming = {code: shop.add_order(sku_lines=[(sku, 1, Decimal("10.00"))],
                                     email=f"in-{code}@example.pl", status=shop.status_map[code])
                for code in codes}
    back = run(erp_db, Operation.IMPORT_ORDERS)
    assert back.ok, back.error
    for code in codes:
        assert _erp_status(erp_db, outgoing[code]) == code
        assert _erp_status(erp_db, incoming[code]) == code
    writes = shop.write_calls()
    assert run(erp_db, Operation.UPDATE_ORDER_STATUSES).ok
    assert shop.write_calls() == writes  # nothing echoed back
