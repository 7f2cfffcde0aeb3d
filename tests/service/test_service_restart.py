"""RabbitMQ's app stopped and started under a running service: everything reconnects and the
schedule catches up. The last test of the suite (it stops the broker for everyone on this
machine; file names keep it last) and it always starts the app again.

File order puts it ~20 s after the real-time end-to-end test (which ends just after its
tenant's slot, :15 past a minute), so it can stop and start the app before the producer's next
tick; if that ever fails, the tick is lost (logged) and the next minute's catches up, which the
test accepts too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from shared.erp.schema import orders
from tests.service.conftest import (
    CK,
    CS,
    Control,
    Service,
    next_minute,
    no_overlap_per_resource,
    rabbitmqctl,
    round_done,
    seed_orders,
    shop_orders_arrived,
    utc,
    wait_for,
)


@pytest.mark.slow
def test_rabbitmq_restart_reconnect_and_catch_up(
    pg_control: Control, service: Callable[[Control], Service], shop: Any
) -> None:
    """Last: `rabbitmqctl stop_app` / `start_app` under a running service."""
    control = pg_control
    _, erp = control.add_tenant("shop", base_url=shop.base_url, api_key=CK, api_secret=CS)
    seed_orders(shop, 5)
    svc = service(control)
    procs = [svc.worker("ticks", threads=2, name="tick-worker"),
             svc.worker("orders", "stock", "catalog", name="sync-worker"),
             svc.producer()]
    started = utc()
    wait_for(lambda: round_done(erp, started), 30, what="the first round")
    try:
        rabbitmqctl("stop_app")
        shop.add_order([("DEMO-0003", 1, "12.00")])  # the shop goes on selling meanwhile
        time.sleep(2)
    finally:
        rabbitmqctl("start_app")
    restarted = utc()
    wait_for(lambda: round_done(erp, restarted), (next_minute(restarted) - utc()).total_seconds()
             + 90, what="a round after the restart")
    assert shop_orders_arrived(erp, shop)
    assert all(proc.running() for proc in procs), svc.logs()  # reconnected, did not die
    no_overlap_per_resource(erp)
    with erp.connect() as conn:
        external = conn.execute(select(orders.c.external_id)).scalars().all()
        assert conn.execute(select(func.count()).select_from(orders)).scalar() == 6
    assert len(external) == len(set(external))
    for proc in procs:
        assert proc.stop(timeout=30) == 0
