"""`iluo-sync status`: what it shows, and the rules that make it exit 1 (a health check)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from app.cli import _load_commands, app
from shared.control.health import problems, read_health
from shared.control.refresh import refresh_tenant
from shared.control.schedule import now_s
from shared.control.service_log import PARKED, beat, record_event
from shared.control.tables import message_deliveries
from shared.telemetry.rabbitmq_api import read_queues
from tests.ops.conftest import free_port, set_row
from tests.service.conftest import Control, wait_for
from workers.domain import Operation

_load_commands()
SYNC = ["orders", "stock", "catalog"]
API = "http://guest:guest@127.0.0.1:15672/api"


def _beat(control: Control, *, tick_age: float | None = 10, worker_age: float | None = 5,
          queues: list[str] = SYNC, tick_error: str | None = None) -> None:
    now = now_s()
    with control.registry.engine.begin() as conn:
        if tick_age is not None:
            beat(conn, "tick", "tick", at=now - timedelta(seconds=tick_age),
                 info={"claimed": 4, "published": 4, "alerts": 0, "error": tick_error})
        if worker_age is not None:
            beat(conn, "worker@box:41", "worker", at=now - timedelta(seconds=worker_age),
                 info={"queues": queues, "threads": 4})


def _problems(control: Control, **kw: Any) -> list[str]:
    with control.registry.engine.connect() as conn:
        return problems(read_health(conn, now_s()), after_failures=3, **kw)


@pytest.fixture
def status(control: Control, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Run `iluo-sync status ARGS` in this process against the control DB (and `api`)."""

    def run(*args: str, api: str = "", broker_url: str = "amqp://127.0.0.1:5672/") -> Any:
        monkeypatch.setenv("ILUO_SYNC_CONTROL_DB", control.url)
        key = control.settings.secret_key
        assert key is not None
        monkeypatch.setenv("ILUO_SYNC_SECRET_KEY", key.get_secret_value())
        monkeypatch.setenv("ILUO_SYNC_RABBITMQ_API", api)
        monkeypatch.setenv("ILUO_SYNC_BROKER_URL", broker_url)
        return CliRunner().invoke(app, ["status", *args])

    return run


def test_a_healthy_service_exits_0_with_queues_tenants_and_workers(
    control: Control, vhost: str, status: Callable[..., Any],
) -> None:
    _beat(control)
    tenant, _ = control.add_tenant("busy")
    control.add_tenant("asleep")
    control.registry.set_active("asleep", False)
    refresh_tenant(control.registry, tenant.id)
    now = now_s()
    set_row(control, Operation.IMPORT_ORDERS, running_since=now - timedelta(seconds=75))
    set_row(control, Operation.UPDATE_STOCK, consecutive_failures=1, failing_since=now,
            last_error="HTTP 502 from the shop")
    set_row(control, Operation.EXPORT_PRODUCTS, next_due_at=now + timedelta(minutes=5))
    set_row(control, Operation.UPDATE_ORDER_STATUSES, next_due_at=now + timedelta(minutes=5))

    from shared.broker import build_broker
    from shared.jobs import QUEUES, SyncJob

    broker = build_broker(control.settings, url=vhost)
    try:
        for _ in range(2):
            broker.enqueue(SyncJob(tenant.id, 1, Operation.IMPORT_ORDERS, now).message())
        broker.channel.basic_publish(exchange="", routing_key="orders.XQ", body=b"{}")
    finally:
        broker.close()
    wait_for(lambda: read_queues(API, vhost, ["orders"]).queues[0].dead == 1, 20,
             what="the management API's statistics")  # refreshed every 5 s

    result = status("--json", api=API, broker_url=vhost)
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.output)
    assert data["healthy"] and data["problems"] == []
    assert data["tick"]["info"]["claimed"] == 4 and data["tick"]["age_seconds"] >= 10
    [worker] = data["workers"]
    assert worker["live"] and worker["queues"] == SYNC
    queues = {q["name"]: q for q in data["rabbitmq"]["queues"]}
    assert list(queues) == list(QUEUES)
    assert (queues["orders"]["ready"], queues["orders"]["dead"]) == (2, 1)
    assert not queues["ticks"]["declared"] and data["rabbitmq"]["dead_letters"] == 1
    assert "guest:guest" not in result.output
    assert data["rabbitmq"]["api"].endswith(":***@127.0.0.1:15672/api")
    tenants = {t["tenant"]: t for t in data["tenants"]}
    assert tenants["asleep"] == {"tenant": "asleep", "active": False, "overdue": [],
                                 "running": [], "failing": [], "kept": []}
    [running] = tenants["busy"]["running"]
    assert running["operation"] == "import_orders" and running["running_seconds"] >= 75
    [failing] = tenants["busy"]["failing"]
    assert failing["consecutive_failures"] == 1 and failing["failing_since"].endswith("Z")
    assert data["tenant_count"] == 2 and data["inactive_count"] == 1

    text = status(api=API, broker_url=vhost)
    assert text.exit_code == 0 and "all well" in text.output
    assert "failing x1" in text.output and "inactive" in text.output


def test_what_needs_a_person(control: Control) -> None:
    tenant, _ = control.add_tenant("shop")
    refresh_tenant(control.registry, tenant.id)
    now = now_s()
    for op in Operation:
        set_row(control, op, next_due_at=now + timedelta(minutes=5))
    assert _problems(control)[0].startswith("no tick has ever run")

    _beat(control, tick_age=200, worker_age=100)
    found = _problems(control)
    assert found[0].startswith("no tick for 3 min")
    assert found[1] == "no live worker consumes orders, stock, catalog"

    _beat(control, tick_error="publishing to orders failed (AMQPConnectionError)",
          queues=["orders", "stock"])
    assert _problems(control) == [
        "the last tick could not publish: publishing to orders failed (AMQPConnectionError)",
        "no live worker consumes catalog",
    ]

    _beat(control)
    assert _problems(control) == []
    set_row(control, Operation.IMPORT_ORDERS, consecutive_failures=3,
            failing_since=datetime(2026, 1, 2, 3, 4, 5))
    set_row(control, Operation.UPDATE_STOCK, alerted_at=now,
            last_success_at=now - timedelta(hours=2))
    set_row(control, Operation.EXPORT_PRODUCTS, next_due_at=now - timedelta(minutes=11))
    set_row(control, Operation.UPDATE_ORDER_STATUSES, next_due_at=now - timedelta(minutes=11),
            queued_at=now)  # waiting in the queue: not overdue
    with control.registry.engine.begin() as conn:
        record_event(conn, PARKED, "message m1 parked in stock.XQ", at=now - timedelta(hours=23),
                     tenant_id=tenant.id, operation="update_stock", message_id="m1")
        record_event(conn, PARKED, "message m0 parked long ago", at=now - timedelta(hours=25))
        conn.execute(insert(message_deliveries).values(
            message_key="m1:0", message_id="m1", queue_name="stock", actor_name="sync_stock",
            deliveries=4, first_seen_at=now, last_seen_at=now, parked_at=now))
    found = _problems(control)
    assert found[0] == "1 message(s) parked in the last 24 h (they kept killing workers)"
    assert found[1:] == [
        "tenant shop: export_products of integration 1 is overdue "
        f"(due {(now - timedelta(minutes=11)).isoformat()}Z)",
        "tenant shop: import_orders of integration 1 failed 3 times in a row "
        "since 2026-01-02T03:04:05Z",
        "tenant shop: update_stock of integration 1 has had no successful run since "
        f"{(now - timedelta(hours=2)).isoformat()}Z",
    ]
    with control.registry.engine.connect() as conn:
        health = read_health(conn, now_s())
    assert health.parked_total == 1 and len(health.parked_recent) == 1


def test_items_kept_for_retry_past_the_setting_need_a_person(
    control: Control, status: Callable[..., Any],
) -> None:
    tenant, _ = control.add_tenant("kept")
    refresh_tenant(control.registry, tenant.id)
    now = now_s()
    for op in Operation:
        set_row(control, op, next_due_at=now + timedelta(minutes=5))
    _beat(control)
    # Needing attention only: shown, not counted (no run can import them by itself).
    set_row(control, Operation.IMPORT_PRODUCTS, kept_attention=3)
    set_row(control, Operation.IMPORT_ORDERS, kept_retry=2, kept_attention=1,
            kept_since=now - timedelta(minutes=59))
    assert _problems(control) == []
    shown = status("--json")
    assert shown.exit_code == 0, shown.output
    kept = {o["operation"]: o["kept"] for t in orjson.loads(shown.output)["tenants"]
            for o in t["kept"]}
    assert kept["import_products"] == {"retry": 0, "attention": 3, "since": None}
    assert kept["import_orders"]["retry"] == 2

    set_row(control, Operation.IMPORT_ORDERS, kept_since=now - timedelta(minutes=61))
    assert _problems(control) == [
        f"tenant kept: import_orders of integration 1 has 2 item(s) kept for retry since "
        f"{(now - timedelta(minutes=61)).isoformat()}Z (see `iluo-sync pending kept`)"]
    assert _problems(control, kept_after=timedelta(hours=2)) == []
    text = status()
    assert text.exit_code == 1 and "2 item(s) kept for retry" in text.output


def test_an_unreachable_api_exits_1_without_a_traceback_or_password(
    control: Control, status: Callable[..., Any],
) -> None:
    _beat(control)
    api = f"http://ops:Pa55-{time.time_ns()}@127.0.0.1:{free_port()}/api"
    password = api.split(":")[2].split("@")[0]
    for args in (["--json"], []):
        result = status(*args, api=api)
        assert result.exit_code == 1
        assert password not in result.output and "Traceback" not in result.output
        assert "management API is unreachable" in result.output
    data = orjson.loads(status("--json", api=api).output)
    assert data["rabbitmq"]["api"].startswith("http://ops:***@127.0.0.1:")
    assert data["rabbitmq"]["reachable"] is False and data["healthy"] is False
