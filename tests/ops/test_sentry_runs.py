"""Sentry from a real worker: one failing run, one event, tagged, and nothing secret in it."""

from __future__ import annotations

from typing import Any

import pytest

from shared.control.refresh import refresh_tenant
from shared.redact import register_secret
from tests.ops.conftest import StubWorker, due_job
from tests.service.conftest import CK, Control
from workers.domain import Operation

WRONG_SECRET = "cs_" + "WrongSecret0123456789"  # built at run time: Sentry sends source lines


def _no_secret(event: dict[str, Any], *secrets: str) -> None:
    text = repr(event)
    for secret in secrets:
        assert secret not in text
    assert "data" not in (event.get("contexts") or {}).get("dramatiq", {})


def test_a_run_failing_at_the_shop_is_one_tagged_event(
    control: Control, shop: Any, sentry_events: list[dict[str, Any]], stub_worker: Any,
) -> None:
    tenant, _ = control.add_tenant("shop-a", base_url=shop.base_url, api_key=CK,
                                   api_secret=WRONG_SECRET, products=3)
    refresh_tenant(control.registry, tenant.id)
    worker: StubWorker = stub_worker()
    worker.sync_actor("catalog")
    job = due_job(control, Operation.EXPORT_PRODUCTS)

    worker.run("catalog", *job.args())

    assert len(sentry_events) == 1, [e.get("message") or e.get("exception") for e in sentry_events]
    [event] = sentry_events
    assert event["tags"] == {"tenant": "shop-a", "integration": str(job.integration_id),
                             "operation": "export_products"}
    assert event["level"] == "error" and "export_products failed" in event["message"]
    _no_secret(event, WRONG_SECRET)


def test_an_exception_escaping_the_actor_is_reported_once_by_the_integration(
    control: Control, sentry_events: list[dict[str, Any]], stub_worker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant, _ = control.add_tenant("shop-b")
    refresh_tenant(control.registry, tenant.id)
    secret = "key-" + "Zq8TopSecretValue"
    register_secret(secret)

    def broken(_tenant: Any) -> Any:
        raise RuntimeError(f"cannot decrypt the password with {secret}")

    monkeypatch.setattr(control.registry, "tenant_engine", broken)
    worker: StubWorker = stub_worker()
    worker.sync_actor("stock")
    job = due_job(control, Operation.UPDATE_STOCK)

    worker.run("stock", *job.args())

    assert len(sentry_events) == 1
    [event] = sentry_events
    assert event["exception"]["values"][-1]["mechanism"]["type"] == "dramatiq"
    assert {k: event["tags"][k] for k in ("tenant", "integration", "operation")} == {
        "tenant": "shop-b", "integration": str(job.integration_id), "operation": "update_stock"}
    _no_secret(event, secret)
