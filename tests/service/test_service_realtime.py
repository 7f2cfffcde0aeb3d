"""The service in real time: periodiq producers, a tick worker group, a sync worker group, the
sandbox shop, 1-minute intervals, real minute ticks. The RabbitMQ restart is the last test (it
stops the broker for everyone on this machine) and always starts the app again."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from shared.control.tables import heartbeats
from shared.erp.schema import orders, product_labels, products
from tests.service.conftest import (
    CK,
    CS,
    Control,
    Service,
    finished,
    rabbitmqctl,
    seed_orders,
    wait_for,
)
from workers.domain import Operation

ENABLED = ("import_orders", "update_order_statuses", "export_products", "update_stock")


def _ok_runs(erp: Engine) -> list[Any]:
    return [r for r in finished(erp) if r.outcome == "ok"]


def _round_done(erp: Engine, since: datetime) -> bool:
    """Every enabled operation has finished an ok run that started at or after `since`."""
    return {r.operation for r in _ok_runs(erp) if r.started_at >= since} >= set(ENABLED)


def _next_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def _utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _no_overlap_per_resource(erp: Engine) -> None:
    by_resource: dict[str, list[Any]] = defaultdict(list)
    for run in finished(erp):
        if run.outcome != "skipped":  # a skipped run never held the lease
            by_resource[Operation(run.operation).resource].append(run)
    for resource, runs in by_resource.items():
        runs.sort(key=lambda r: (r.started_at, r.id))
        for before, after in zip(runs, runs[1:], strict=False):
            assert after.started_at >= before.finished_at, (resource, before.id, after.id)


def _shop_orders_arrived(erp: Engine, shop: Any) -> bool:
    with erp.connect() as conn:
        imported = set(conn.execute(select(orders.c.external_id)).scalars())
    return imported == {str(order_id) for order_id in shop.orders}


@pytest.mark.slow
def test_end_to_end_real_ticks_two_producers(
    pg_control: Control, service: Callable[[Control], Service], shop: Any
) -> None:
    control = pg_control
    _, erp = control.add_tenant("shop", base_url=shop.base_url, api_key=CK, api_secret=CS)
    seed_orders(shop, 15)
    if _utc().second > 50:  # the first round (3-4 s) must be done before the minute turns
        time.sleep(61 - _utc().second)
    svc = service(control)
    workers = [svc.worker("ticks", threads=2, name="tick-worker"),
               svc.worker("orders", "stock", "catalog", name="sync-worker")]
    # Two producers: both send every tick; each due time must still run once.
    producers = [svc.producer("producer-a"), svc.producer("producer-b")]

    started = _utc()
    wait_for(lambda: _round_done(erp, started), 30, what="the first round (at start)")
    first_done = max(r.finished_at for r in _ok_runs(erp))
    assert _shop_orders_arrived(erp, shop)
    shop.add_order([("DEMO-0002", 2, "35.00")])  # a new order: the next round must bring it

    boundary = _next_minute(first_done)
    wait_for(lambda: _round_done(erp, boundary), (boundary - _utc()).total_seconds() + 30,
             what="the round at the next minute")
    assert _shop_orders_arrived(erp, shop)

    per_minute = Counter((r.operation, r.started_at.replace(second=0)) for r in finished(erp))
    assert max(per_minute.values()) == 1, per_minute  # never twice for one due time
    for op in ENABLED:  # and every minute
        assert len({minute for (name, minute) in per_minute if name == op}) >= 2, op
    _no_overlap_per_resource(erp)
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


@pytest.mark.slow
def test_rabbitmq_restart_reconnect_and_catch_up(
    pg_control: Control, service: Callable[[Control], Service], shop: Any
) -> None:
    """Last: `rabbitmqctl stop_app` / `start_app` under a running service."""
    control = pg_control
    _, erp = control.add_tenant("shop", base_url=shop.base_url, api_key=CK, api_secret=CS)
    seed_orders(shop, 5)
    if _utc().second > 40:  # leave time to stop and start RabbitMQ before the minute turns
        time.sleep(61 - _utc().second)
    svc = service(control)
    procs = [svc.worker("ticks", threads=2, name="tick-worker"),
             svc.worker("orders", "stock", "catalog", name="sync-worker"),
             svc.producer()]
    started = _utc()
    wait_for(lambda: _round_done(erp, started), 30, what="the first round")
    try:
        rabbitmqctl("stop_app")
        shop.add_order([("DEMO-0003", 1, "12.00")])  # the shop goes on selling meanwhile
        time.sleep(3)
    finally:
        rabbitmqctl("start_app")
    restarted = _utc()
    wait_for(lambda: _round_done(erp, restarted), (_next_minute(restarted) - _utc()).total_seconds()
             + 90, what="a round after the restart")
    assert _shop_orders_arrived(erp, shop)
    assert all(proc.running() for proc in procs), svc.logs()  # reconnected, did not die
    _no_overlap_per_resource(erp)
    with erp.connect() as conn:
        external = conn.execute(select(orders.c.external_id)).scalars().all()
        assert conn.execute(select(func.count()).select_from(orders)).scalar() == 6
    assert len(external) == len(set(external))
    for proc in procs:
        assert proc.stop(timeout=30) == 0
