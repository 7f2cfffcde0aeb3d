"""The service on the real RabbitMQ, with time compressed: ticks are driven from the test and
due times moved in the control DB, while real worker processes do the runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from shared.control.schedule import now_s
from shared.control.slots import next_slot, offset_for
from shared.control.tables import schedules, service_events, tenants
from tests.service.conftest import (
    CK,
    CS,
    Control,
    Service,
    finished,
    queue_depths,
    runs,
    schedule_rows,
    set_integration,
    set_operation,
    settled,
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
    wait_for(lambda: settled(control), 10, what="the rows to settle")
    assert {r.operation for r in finished(erp)} == {
        "import_orders", "update_order_statuses", "export_products", "update_stock"}

    # auto_sync off in the ERP: after the refresh period, no run starts any more.
    set_integration(erp, auto_sync=False)
    _refresh_period_over(control)
    svc.tick()
    wait_for(lambda: not any(r.enabled for r in schedule_rows(control).values()), 15,
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
    wait_for(lambda: settled(control), 10, what="the rows to settle")

    # An interval changed in the ERP applies from the next run, no restart.
    set_operation(erp, "import_orders", interval=4)
    count = len(runs(erp, operation="import_orders"))
    _make_due(control, operation="import_orders")
    svc.tick()
    wait_for(lambda: len(runs(erp, operation="import_orders")) > count and settled(control), 20,
             what="the import run")
    row = schedule_rows(control)["import_orders"]
    assert row.interval_minutes == 4
    assert row.next_due_at == next_slot(row.last_finished_at, 4, offset_for(tenant.id, 4))

    # The tenant switched off (the operator's emergency switch): the next tick stops it.
    control.registry.set_active("shop", False)
    _make_due(control)
    svc.tick()
    assert not any(r.enabled for r in schedule_rows(control).values())
    before = len(runs(erp))
    svc.tick()
    time.sleep(2)
    assert len(runs(erp)) == before
    control.registry.set_active("shop", True)
    svc.tick()  # read again at once (its refresh slot was cleared when it went inactive)
    wait_for(lambda: len(runs(erp)) > before and settled(control), 30,
             what="runs after reactivation")


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
    # One message parked; on a loaded machine its parking can be recorded twice (the parking
    # worker's ack raced a redelivery), never for another message.
    events = _parked(control)
    assert events and len({e.message_id for e in events}) == 1
    assert all("after 3 deliveries" in e.message and e.operation == "import_orders"
               for e in events)
    row = schedule_rows(control)["import_orders"]
    assert row.last_outcome == "parked" and row.queued_at is None
    assert row.next_due_at > now_s() + timedelta(minutes=50)  # not retried every minute


def _parked(control: Control) -> list[Any]:
    with control.registry.engine.connect() as conn:
        return conn.execute(select(service_events).where(service_events.c.kind == "parked")).all()
