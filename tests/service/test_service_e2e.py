"""The service in real time: two periodiq producers, a tick worker group, a sync worker group,
the sandbox shop, 1-minute intervals, real minute ticks and their passes on each slot."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from shared.control.slots import last_slot, next_slot, offset_for
from shared.control.tables import heartbeats
from shared.erp.schema import product_labels, products
from tests.service.conftest import (
    CK,
    CS,
    ENABLED,
    Control,
    Service,
    finished,
    next_minute,
    no_overlap_per_resource,
    ok_runs,
    round_done,
    seed_orders,
    shop_orders_arrived,
    utc,
    wait_for,
)


@pytest.mark.slow
def test_end_to_end_real_ticks_two_producers(
    pg_control: Control, service: Callable[[Control], Service], shop: Any
) -> None:
    control = pg_control
    tenant, erp = control.add_tenant("shop", base_url=shop.base_url, api_key=CK, api_secret=CS)
    offset = offset_for(tenant.id, 1)  # its slot in each minute
    seed_orders(shop, 15)
    if utc().second > 50:  # the first round (3-4 s) must be done before the minute turns
        time.sleep(61 - utc().second)
    svc = service(control)
    workers = [svc.worker("ticks", threads=2, name="tick-worker"),
               svc.worker("orders", "stock", "catalog", name="sync-worker")]
    # Two producers: both send every tick; each due time must still run once.
    producers = [svc.producer("producer-a"), svc.producer("producer-b")]

    started = utc()
    wait_for(lambda: round_done(erp, started), 30, what="the first round (at start)")
    first_done = max(r.finished_at for r in ok_runs(erp))
    assert shop_orders_arrived(erp, shop)
    shop.add_order([("DEMO-0002", 2, "35.00")])  # a new order: the next round must bring it

    # The tenant's slot in the next minute (the first round ran at once, as a new tenant's
    # does; the next runs come on its slot, which may still be in this minute).
    slot = next_slot(next_minute(first_done) - timedelta(seconds=1), 1, offset)
    wait_for(lambda: round_done(erp, slot), (slot - utc()).total_seconds() + 30,
             what="the round at its slot in the next minute")
    assert shop_orders_arrived(erp, shop)

    # Never twice for one due time: each run counted under the slot it started in.
    per_slot = Counter((r.operation, last_slot(r.started_at, 1, offset)) for r in finished(erp))
    assert max(per_slot.values()) == 1, per_slot
    for op in ENABLED:  # and on every slot since
        assert len({due for (name, due) in per_slot if name == op}) >= 2, op
    no_overlap_per_resource(erp)
    exported = {p["sku"] for p in shop.products.values()}
    with erp.connect() as conn:  # active products with the integration's export label
        wanted = set(conn.execute(
            select(products.c.sku)
            .join(product_labels, product_labels.c.product_id == products.c.id)
            .where(products.c.is_active, product_labels.c.label_id == 1)
        ).scalars())
    assert exported == wanted and wanted
    with control.registry.engine.connect() as conn:
        kinds = Counter(row.kind for row in conn.execute(select(heartbeats)))
    assert kinds["tick"] == 1 and kinds["worker"] == 2

    for proc in producers + workers:
        assert proc.stop(timeout=30) == 0, proc.output()[-3000:]
    assert all("sent tick" in p.output() for p in producers)
