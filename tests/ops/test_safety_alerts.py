"""A scheduled run stopped by a safety valve alerts at once, once per episode (history, webhook
on 127.0.0.1, Sentry), writes nothing to the shop, and the episode ends with the next success."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine, select, update

from shared.control.refresh import refresh_tenant
from shared.erp.schema import stock_levels
from shared.erp.sync_tables import sync_events
from tests.ops.conftest import Receiver, due_job, row
from tests.service.conftest import CK, CS, Control
from workers.actors import process_sync
from workers.domain import Operation
from workers.runner import run_operation

OP = Operation.UPDATE_STOCK


def _kinds(erp: Engine, kind: str) -> list[Any]:
    with erp.connect() as conn:
        return conn.execute(select(sync_events).where(sync_events.c.kind == kind)
                            .order_by(sync_events.c.id)).all()


def _scheduled(control: Control) -> str:
    job = due_job(control, OP)
    return process_sync(*job.args(), registry=control.registry)


def test_a_safety_stop_alerts_once_and_the_forced_run_ends_the_episode(
    control: Control, shop: Any, webhook: Receiver, sentry_events: list[dict[str, Any]],
) -> None:
    control.registry.settings = control.settings.model_copy(
        update={"alert_webhook": SecretStr(webhook.url)})
    tenant, erp = control.add_tenant("valved", base_url=shop.base_url, api_key=CK,
                                     api_secret=CS, products=12)
    refresh_tenant(control.registry, tenant.id)
    for op in (Operation.EXPORT_PRODUCTS, OP):
        assert run_operation(erp, 1, op).outcome == "ok"
    before = {p["sku"]: p["stock_quantity"] for p in shop.products.values()}
    with erp.begin() as conn:  # a bad import zeroes every stock level in the ERP
        conn.execute(update(stock_levels).values(quantity=Decimal(0), reserved=Decimal(0)))

    assert _scheduled(control) == "failed"

    assert {p["sku"]: p["stock_quantity"] for p in shop.products.values()} == before
    assert len(_kinds(erp, "safety_stop")) == 1
    [alert] = _kinds(erp, "alert")
    assert alert.level == "error" and "stopped at a safety valve and wrote nothing" in alert.message
    assert "set positive shop stock to 0" in alert.message and "--force" in alert.message
    [post] = webhook.posts
    assert post["json"]["reason"] == "safety_stop" and post["json"]["operation"] == OP.value
    assert sentry_events[-1]["tags"]["alert"] == "safety_stop"
    assert row(control, OP).last_outcome == "failed"

    assert _scheduled(control) == "failed"  # the same episode: no second alert
    assert len(_kinds(erp, "alert")) == 1 and len(webhook.posts) == 1
    assert len(_kinds(erp, "safety_stop")) == 2

    # Someone decides it is right: forced once by hand, then the schedule carries on.
    assert run_operation(erp, 1, OP, force=True).outcome == "ok"
    assert all(p["stock_quantity"] == 0 for p in shop.products.values())
    assert _scheduled(control) == "ok"
    assert row(control, OP).alerted_at is None  # the episode is over
