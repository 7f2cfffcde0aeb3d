"""update_order_statuses against the WooCommerce sandbox over real HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import math

from sqlalchemy import Engine, select, update

from shared.erp.schema import orders
from shared.erp.sync_tables import sync_events
from tests.engine.support import Shop, events, rows, run

OP = "update_order_statuses"
BATCH = "/wp-json/wc/v3/orders/batch"
SHIPPED, READY = 4, 3  # demo status ids (ready has no shop mapping)


def erp_order_ids(engine: Engine) -> dict[str, int]:
    return {r.external_id: r.id for r in rows(engine, select(orders.c.external_id, orders.c.id))}


def set_status(engine: Engine, order_ids: list[int], status_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(update(orders).where(orders.c.id.in_(order_ids)).values(status_id=status_id))


def test_sends_mapped_changes_only_and_never_echoes_the_import(erp: Engine, woo: Shop) -> None:
    a, b, c = woo.add_orders(3, status="processing")
    run(erp, "import_orders")

    echo = run(erp, OP)
    assert echo.outcome == "ok" and echo.counts["read"] == 0 and woo.writes() == 0

    ids = erp_order_ids(erp)
    set_status(erp, [ids[str(a["id"])]], SHIPPED)
    set_status(erp, [ids[str(b["id"])]], READY)
    result = run(erp, OP)

    assert result.outcome == "ok" and result.counts["updated"] == 1
    assert woo.writes(BATCH) == 1
    assert woo.sandbox.orders[a["id"]]["status"] == "completed"
    assert woo.sandbox.orders[b["id"]]["status"] == "processing"  # unmapped: left alone
    assert woo.sandbox.orders[c["id"]]["status"] == "processing"
    assert run(erp, OP).counts["updated"] == 0 and woo.writes(BATCH) == 1


def test_many_changes_go_in_batches_of_100(erp: Engine, woo: Shop) -> None:
    woo.add_orders(150)
    run(erp, "import_orders")
    set_status(erp, list(erp_order_ids(erp).values()), SHIPPED)

    result = run(erp, OP)

    assert result.counts["updated"] == 150
    assert woo.writes(BATCH) == math.ceil(150 / 100)


def test_refused_item_is_an_error_and_retried_next_run(erp: Engine, woo: Shop) -> None:
    a, _b = woo.add_orders(2)
    run(erp, "import_orders")
    with woo.sandbox.lock:
        del woo.sandbox.orders[a["id"]]  # deleted in the shop
    set_status(erp, list(erp_order_ids(erp).values()), SHIPPED)

    result = run(erp, OP)

    assert result.counts["updated"] == 1 and result.counts["failed"] == 1
    assert events(erp, sync_events.c.kind == "item_error")[0].item == str(a["id"])
    retry = run(erp, OP)
    assert retry.counts["read"] == 1 and retry.counts["failed"] == 1
