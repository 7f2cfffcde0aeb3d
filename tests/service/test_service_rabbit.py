"""The service on the real RabbitMQ, with time compressed: ticks are driven from the test and
due times moved in the control DB, while real worker processes do the runs."""

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
from shared.control.slots import next_slot
from shared.control.tables import message_deliveries, schedules, service_events, tenants
from shared.erp.schema import order_lines, orders
from shared.erp.sync_tables import sync_leases
from tests.service.conftest import (
    CK,
    CS,
    Control,
    Service,
    finished,
    queue_depths,
    runs,
    seed_orders,
    set_integration,
    set_operation,
    wait_for,
)


def _make_due(control: Control, **where: Any) -> None:
    """Compress time: the rows' next slot has come."""
    stmt = update(schedules).values(next_due_at=now_s() - timedelta(seconds=1))
    for name, value in where.items():
        stmt = stmt.where(getattr(schedules.c, name) == value)
    with control.registry.engine.begin() as conn:
        conn.execute(stmt)


def _refresh_period_over(control: Control) -> None:
    with control.registry.engine.begin() as conn:
        conn.execute(update(tenants).values(settings_due_at=now_s() - timedelta(seconds=1)))


def _rows(control: Control) -> dict[str, Any]:
    with control.registry.engine.connect() as conn:
        return {r.operation: r for r in conn.execute(select(schedules))}


def _settled(control: Control) -> bool:
    """No row queued or running: every published message has been carried out."""
    return all(r.queued_at is None and r.running_since is None for r in _rows(control).values())


def test_switches_and_intervals_apply_without_restart(
    pg_control: Control, service: Callable[[Control], Service], shop: Any
) -> None:
    control = pg_control
    tenant, erp = control.add_tenant("shop", base_url=shop.base_url, api_key=CK, api_secret=CS)
    svc = service(control)
    svc.worker()  # every queue: settings refreshes and sync jobs
    svc.tick()  # a new tenant: its settings are read, its rows are due at once and published
    wait_for(lambda: len([r for r in finished(erp) if r.outcome == "ok"]) >= 4, 30,
             what="the first four runs")
    wait_for(lambda: _settled(control), 10, what="the rows to settle")
    assert {r.operation for r in finished(erp)} == {
        "import_orders", "update_order_statuses", "export_products", "update_stock"}

    # auto_sync off in the ERP: after the refresh period, no run starts any more.
    set_integration(erp, auto_sync=False)
    _refresh_period_over(control)
    svc.tick()
    wait_for(lambda: not any(r.enabled for r in _rows(control).values()), 15,
             what="the refresh to disable the rows")
    before = len(runs(erp))
    _make_due(control)
    svc.tick()
    svc.tick()
    time.sleep(2)
    assert len(runs(erp)) == before

    # On again: the next refresh enables the rows, due at once; runs resume.
    set_integration(erp, auto_sync=True)
    _refresh_period_over(control)
    svc.tick()
    wait_for(lambda: len([r for r in finished(erp) if r.outcome == "ok"]) >= 8, 30,
             what="runs to resume")
    wait_for(lambda: _settled(control), 10, what="the rows to settle")

    # An interval changed in the ERP applies from the next run, no restart.
    set_operation(erp, "import_orders", interval=4)
    count = len(runs(erp, operation="import_orders"))
    _make_due(control, operation="import_orders")
    svc.tick()
    wait_for(lambda: len(runs(erp, operation="import_orders")) > count and _settled(control), 20,
             what="the import run")
    row = _rows(control)["import_orders"]
    assert row.interval_minutes == 4
    assert row.next_due_at == next_slot(row.last_finished_at, 4, tenant.id % 4)

    # The tenant switched off (the operator's emergency switch): the next tick stops it.
    control.registry.set_active("shop", False)
    _make_due(control)
    svc.tick()
    assert not any(r.enabled for r in _rows(control).values())
    before = len(runs(erp))
    svc.tick()
    time.sleep(2)
    assert len(runs(erp)) == before
    control.registry.set_active("shop", True)
    svc.tick()  # read again at once (its refresh slot was cleared when it went inactive)
    wait_for(lambda: len(runs(erp)) > before and _settled(control), 30,
             what="runs after reactivation")


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
    wait_for(lambda: _order_count(erp) == 2000 and _settled(control), 90,
             what="the import to finish")
    history = runs(erp, operation="import_orders")
    assert history[0].outcome == "running" and history[0].finished_at is None  # the killed one
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
    row = _rows(control)["import_orders"]
    assert row.queued_at is None and row.next_due_at <= now_s()  # due again, for another worker
    assert queue_depths(svc.vhost_url).get("orders", 0) == 0  # the message was acked

    shop.faults.latency_ms = 0
    svc.worker("orders", "settings", name="worker-2")
    svc.tick()
    wait_for(lambda: _order_count(erp) == 1500 and _settled(control), 60, what="the rest")
    with erp.connect() as conn:
        external = conn.execute(select(orders.c.external_id)).scalars().all()
    assert len(external) == len(set(external)) == 1500


@pytest.mark.slow
def test_a_message_that_kills_its_worker_is_parked(
    pg_control: Control, service: Callable[[Control], Service], shop: Any
) -> None:
    control = pg_control
    control.add_tenant("shop", base_url=shop.base_url, api_key=CK, api_secret=CS,
                       operations={"import_orders": (True, 1)})
    svc = service(control)
    svc.tick()  # publishes the refresh; no worker yet
    poison = ("tests.service.poison",)
    deaths = 0
    svc.worker("settings", "orders", name="worker-0", extra_modules=poison)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        current = svc.procs[-1]
        if current.running():
            if _parked(control):
                break
            time.sleep(0.1)
            continue
        deaths += 1  # the restart policy: start another worker
        svc.worker("settings", "orders", name=f"worker-{deaths}", extra_modules=poison)
    wait_for(lambda: _parked(control), 5, what="the message to be parked")
    assert deaths == 3  # three deliveries died; the fourth was parked instead of run
    assert wait_for(lambda: queue_depths(svc.vhost_url).get("orders.XQ") == 1, 10,
                    what="the dead-letter queue")
    assert queue_depths(svc.vhost_url).get("orders", 0) == 0
    [event] = _parked(control)
    assert "after 3 deliveries" in event.message and event.operation == "import_orders"
    row = _rows(control)["import_orders"]
    assert row.last_outcome == "parked" and row.queued_at is None
    assert row.next_due_at > now_s() + timedelta(minutes=50)  # not retried every minute


def _parked(control: Control) -> list[Any]:
    with control.registry.engine.connect() as conn:
        return conn.execute(select(service_events).where(service_events.c.kind == "parked")).all()


def _order_count(erp: Engine) -> int:
    with erp.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(orders)).scalar() or 0)
