"""No order left behind, on a real Vendure 3.7.3: an order the ERP refuses is kept and imported
by id once the cause is gone; an order the cursor passed without seeing is found by the
reconciliation, exactly once.

The Vendure server is shared by the session, so each test counts only its own orders.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from shared.erp import retry_set
from shared.erp import schema as erp
from shared.erp.sync_tables import sync_cursors
from tests.vendure.conftest import VendureErp, VendureShop
from tests.vendure.harness import place_order, ship_order
from tests.vendure.test_vendure_e2e import stocked_in_vendure, variants_by_sku
from workers.domain import Operation
from workers.runner import RunResult, run_operation

pytestmark = pytest.mark.slow


def _import(erp_db: VendureErp, **kw: object) -> RunResult:
    return run_operation(erp_db.engine, 1, Operation.IMPORT_ORDERS, holder="kept", **kw)


def _in_erp(erp_db: VendureErp, external_id: str) -> bool:
    with erp_db.engine.connect() as conn:
        return conn.execute(select(erp.orders.c.id).where(
            erp.orders.c.external_id == external_id)).first() is not None


def _two_orders(vendure: VendureShop, erp_db: VendureErp) -> list[str]:
    products = stocked_in_vendure(erp_db, 1)
    [variant] = variants_by_sku(vendure, [products[0].sku])[products[0].sku]
    mail = erp_db.prefix.lower()
    return [place_order(vendure.api, vendure.setup, [(variant["id"], 1)],
                        email=f"{mail}{n}@example.pl").id for n in ("a", "b")]


def test_an_order_the_erp_refuses_is_imported_by_id_once_it_can_be(
        vendure: VendureShop, vendure_erp: VendureErp) -> None:
    refused, accepted = _two_orders(vendure, vendure_erp)
    with vendure_erp.engine.begin() as conn:
        conn.execute(text(
            "CREATE TRIGGER refuse BEFORE INSERT ON orders "
            f"WHEN NEW.external_id = '{refused}' BEGIN SELECT RAISE(ABORT, 'refused'); END"))

    first = _import(vendure_erp)
    assert first.outcome == "partial", first.error
    assert _in_erp(vendure_erp, accepted) and not _in_erp(vendure_erp, refused)
    with vendure_erp.engine.connect() as conn:
        [kept] = retry_set.listing(conn, 1)
    assert (kept.shop_id, kept.state) == (refused, retry_set.RETRY)

    with vendure_erp.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse"))
    second = _import(vendure_erp)  # nothing changed in Vendure: only the set carries it
    assert second.outcome == "ok", second.error
    assert second.counts["created"] == 1 and _in_erp(vendure_erp, refused)
    with vendure_erp.engine.connect() as conn:
        assert retry_set.listing(conn, 1) == []


def test_an_order_the_cursor_passed_is_found_by_the_reconciliation_once(
        vendure: VendureShop, vendure_erp: VendureErp) -> None:
    hidden, _ = _two_orders(vendure, vendure_erp)
    # Delivered: closed orders are outside the connector's re-scan of open ones, so only the
    # watermark (and the net under it) can bring it in.
    ship_order(vendure.api, hidden, deliver=True)
    assert _import(vendure_erp).outcome == "ok"  # every order the shop has, this one too
    with vendure_erp.engine.begin() as conn:  # ... except that this ERP lost it
        order_id = conn.execute(select(erp.orders.c.id).where(
            erp.orders.c.external_id == hidden)).scalar_one()
        conn.execute(erp.order_lines.delete().where(erp.order_lines.c.order_id == order_id))
        conn.execute(erp.orders.delete().where(erp.orders.c.id == order_id))
        # and its cursor stands later than the order's last change, as after a shop that
        # committed it late: the watermark cannot see it again.
        conn.execute(update(sync_cursors).where(sync_cursors.c.name == "import_orders")
                     .values(value=datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)))
    # Vendure's stamps are whole seconds and the connector re-reads the boundary second: let the
    # delivery's own stamps fall out of the next window (a wait for the clock, not a timing).
    time.sleep(3)
    assert _import(vendure_erp).counts["created"] == 0

    found = _import(vendure_erp, full=True)
    assert found.outcome == "ok", found.error
    assert (found.counts["created"], found.counts["reconciled"]) == (1, 1)
    assert _in_erp(vendure_erp, hidden)
    again = _import(vendure_erp, full=True)
    assert (again.counts["created"], again.counts["reconciled"]) == (0, 0)
