"""Workers that die or are stopped in the middle of a run, on the real RabbitMQ: a SIGKILL
mid-import (redelivery, lease takeover, no duplicate, no gap) and a SIGTERM (the run stops
after its item and releases its lease).

These run before the real-time end-to-end test; the quicker RabbitMQ tests run after it, so the
restart test that follows them starts early enough in its minute (see test_service_restart).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from shared.control.schedule import now_s
from shared.control.tables import message_deliveries
from shared.erp.schema import order_lines, orders
from shared.erp.sync_tables import sync_leases
from tests.service.conftest import (
    CK,
    CS,
    Control,
    Service,
    queue_depths,
    runs,
    schedule_rows,
    seed_orders,
    settled,
    wait_for,
)


@pytest.mark.slow
def test_sigkill_mid_import_redelivers_and_takes_the_lease_over(
    pg_control: Control, service: Callable[[Control], Service], shop: Any
) -> None:
    """2,000 orders, a worker killed with SIGKILL in the middle: no duplicate, no gap."""
    control = pg_control
    only_orders = {"import_orders": (True, 1)}
    _, erp = control.add_tenant("shop", backend="postgresql", base_url=shop.base_url,
                                api_key=CK, api_secret=CS, operations=only_orders)
    seed_orders(shop, 2000)
    shop.faults.latency_ms = 60  # slow enough to be killed mid-way
    svc = service(control)
    worker = svc.worker("orders", "settings", name="worker-1")
    svc.tick()
    wait_for(lambda: 300 < _order_count(erp) < 1500, 60, every=0.05,
             what="the import to be mid-way")
    [child] = worker.children()
    os.kill(child, signal.SIGKILL)
    assert worker.popen.wait(15) != 0  # dramatiq stops the group when one process dies
    partial = _order_count(erp)
    assert partial < 2000

    # The dead run's lease is still held; compress its 120 s expiry.
    with erp.begin() as conn:
        lease = conn.execute(select(sync_leases).where(sync_leases.c.resource == "orders")).one()
        assert lease.holder is not None
        conn.execute(update(sync_leases).values(expires_at=now_s() - timedelta(seconds=1)))
    shop.faults.latency_ms = 0
    svc.worker("orders", "settings", name="worker-2")  # the restart policy's new worker
    # The unacked message comes back (redelivered) and its run takes the expired lease over.
    wait_for(lambda: _order_count(erp) == 2000 and settled(control), 90,
             what="the import to finish")
    history = runs(erp, operation="import_orders")
    # The killed run's row was closed by the run that took its lease over (issue 11, item 7).
    killed = history[0]
    assert killed.outcome == "abandoned" and killed.finished_at is not None
    assert "taken over at" in killed.error and history[-1].worker in killed.error
    assert history[-1].outcome == "ok" and history[-1].lease_token > history[0].lease_token
    with erp.connect() as conn:
        external = conn.execute(select(orders.c.external_id)).scalars().all()
        lines = conn.execute(select(func.count()).select_from(order_lines)).scalar()
    assert len(external) == len(set(external)) == 2000  # no duplicate
    assert set(external) == {str(order_id) for order_id in shop.orders}  # no gap
    assert lines >= 2000
    with control.registry.engine.connect() as conn:  # a redelivery was counted, then cleared
        assert conn.execute(select(func.count()).select_from(message_deliveries)).scalar() == 0


@pytest.mark.slow
def test_sigterm_finishes_the_item_and_releases_the_lease(
    pg_control: Control, service: Callable[[Control], Service], shop: Any
) -> None:
    control = pg_control
    _, erp = control.add_tenant("shop", backend="postgresql", base_url=shop.base_url,
                                api_key=CK, api_secret=CS, operations={"import_orders": (True, 1)})
    seed_orders(shop, 1500)
    shop.faults.latency_ms = 60
    svc = service(control)
    worker = svc.worker("orders", "settings")
    svc.tick()
    wait_for(lambda: 200 < _order_count(erp) < 1200, 60, every=0.05,
             what="the import to be mid-way")
    started = time.monotonic()
    assert worker.stop(timeout=30) == 0  # SIGTERM: a clean exit
    assert time.monotonic() - started < 20  # it stopped at the next item, not at the end
    [run] = runs(erp, operation="import_orders")
    assert run.outcome == "failed" and "interrupted" in run.error and run.finished_at is not None
    with erp.connect() as conn:
        assert conn.execute(select(sync_leases.c.holder)).scalar() is None  # released
        # Every order that is there is whole: it committed with its lines.
        bare = conn.execute(
            select(func.count()).select_from(orders)
            .where(~select(order_lines.c.id).where(order_lines.c.order_id == orders.c.id).exists())
        ).scalar()
    assert bare == 0
    row = schedule_rows(control)["import_orders"]
    assert row.queued_at is None and row.next_due_at <= now_s()  # due again, for another worker
    assert queue_depths(svc.vhost_url).get("orders", 0) == 0  # the message was acked

    shop.faults.latency_ms = 0
    svc.worker("orders", "settings", name="worker-2")
    svc.tick()
    wait_for(lambda: _order_count(erp) == 1500 and settled(control), 60, what="the rest")
    with erp.connect() as conn:
        external = conn.execute(select(orders.c.external_id)).scalars().all()
    assert len(external) == len(set(external)) == 1500


def _order_count(erp: Engine) -> int:
    with erp.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(orders)).scalar() or 0)
