"""Alerts: one per episode, seen in the history, the log, Sentry and a webhook on 127.0.0.1."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select

from producers.tick import run_tick
from shared.control.refresh import refresh_tenant
from shared.control.schedule import now_s
from shared.erp.retry_set import Summary
from shared.erp.sync_tables import sync_events
from shared.redact import register_secret
from tests.ops.conftest import FakeRun, Receiver, due_job, row, set_row
from tests.service.conftest import Control
from workers.actors import process_sync
from workers.domain import Operation

OP = Operation.UPDATE_STOCK


def _alerts(erp: Engine) -> list[Any]:
    with erp.connect() as conn:
        return conn.execute(select(sync_events).where(sync_events.c.kind == "alert")
                            .order_by(sync_events.c.id)).all()


def _setup(control: Control, webhook: str | None, **settings: Any) -> Engine:
    values: dict[str, Any] = {"alert_webhook": SecretStr(webhook) if webhook else None}
    control.registry.settings = control.settings.model_copy(update={**values, **settings})
    tenant, erp = control.add_tenant("alerted")
    refresh_tenant(control.registry, tenant.id)
    return erp


def _run(control: Control, outcome: str, error: str | None = None) -> str:
    job = due_job(control, OP)
    return process_sync(*job.args(), registry=control.registry, run=FakeRun(outcome, error))


class _Publisher:
    """What the tick publishes goes here (no worker runs it): alerts are what these tests see."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    def enqueue(self, message: Any) -> None:
        self.messages.append(message)


def test_n_failures_in_a_row_raise_one_alert_per_episode(
    control: Control, webhook: Receiver, sentry_events: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    erp = _setup(control, webhook.url)
    secret = "shop-" + "K3yThatLeaked99"
    register_secret(secret)
    caplog.set_level(logging.INFO)

    assert [_run(control, "failed", f"HTTP 500 (key {secret})") for _ in range(2)] == ["failed"] * 2
    assert not _alerts(erp) and not webhook.posts
    assert len(sentry_events) == 2  # one per failed run
    assert row(control, OP).failing_since is not None

    _run(control, "failed", f"HTTP 500 (key {secret})")  # the third: the alert, in place of
    [alert] = _alerts(erp)                                # the run's own event
    assert alert.level == "error" and alert.operation == "update_stock"
    assert "failed 3 times in a row" in alert.message and secret not in alert.message
    assert len(sentry_events) == 3
    event = sentry_events[-1]
    assert event["message"].startswith("alert: tenant alerted:")
    assert {k: event["tags"][k] for k in ("tenant", "integration", "operation", "alert")} == {
        "tenant": "alerted", "integration": str(alert.integration_id),
        "operation": "update_stock", "alert": "consecutive_failures"}
    [post] = webhook.posts
    body = post["json"]
    assert post["content_type"] == "application/json"
    assert {k: body[k] for k in ("tenant", "integration", "operation", "reason",
                                 "consecutive_failures")} == {
        "tenant": "alerted", "integration": alert.integration_id, "operation": "update_stock",
        "reason": "consecutive_failures", "consecutive_failures": 3}
    assert body["since"].endswith("Z") and "HTTP 500" in body["last_error"]
    assert secret not in repr(webhook.posts) and secret not in repr(sentry_events)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "ALERT" in r.getMessage()]
    assert len(errors) == 1 and "alerted" in errors[0].getMessage()

    _run(control, "failed", "HTTP 500")  # still the same episode: no second alert
    run_tick(control.registry, _Publisher(), now=now_s())  # nor from the tick's backstop
    assert len(_alerts(erp)) == 1 and len(webhook.posts) == 1 and len(sentry_events) == 4

    assert _run(control, "ok") == "ok"  # the episode ends
    state = row(control, OP)
    assert state.alerted_at is None and state.failing_since is None
    for _ in range(3):
        _run(control, "failed", "HTTP 502")
    assert len(_alerts(erp)) == 2 and len(webhook.posts) == 2


def test_no_success_for_m_intervals_is_found_by_the_tick_once(
    any_control: Control, webhook: Receiver,
) -> None:
    """On every control DB backend: the check is date arithmetic in SQL (shared.control.slots)."""
    control = any_control
    erp = _setup(control, webhook.url, alert_after_intervals=6)
    now = now_s()
    assert _run(control, "ok") == "ok"
    last_ok = row(control, OP).last_success_at
    # Runs that never finish, and the others idle: nothing fails, nothing succeeds.
    set_row(control, OP, interval_minutes=5, next_due_at=now + timedelta(days=1))
    assert run_tick(control.registry, _Publisher(), now=last_ok + timedelta(minutes=29)).alerts == 0
    set_row(control, OP, running_since=last_ok + timedelta(minutes=25))
    later = last_ok + timedelta(minutes=31)
    assert run_tick(control.registry, _Publisher(), now=later).alerts == 0  # a run in progress
    set_row(control, OP, running_since=None)
    assert run_tick(control.registry, _Publisher(), now=later).alerts == 1
    assert run_tick(control.registry, _Publisher(), now=later + timedelta(minutes=1)).alerts == 0
    [alert] = _alerts(erp)
    assert "no successful run for over 6 intervals of 5 min" in alert.message
    [post] = webhook.posts
    assert post["json"]["reason"] == "no_success"
    assert post["json"]["since"] == last_ok.isoformat() + "Z"


def test_the_worker_and_the_tick_claim_each_alert_once(
    any_control: Control, webhook: Receiver,
) -> None:
    control = any_control
    erp = _setup(control, webhook.url)
    set_row(control, OP, consecutive_failures=2, failing_since=now_s())
    assert _run(control, "failed", "HTTP 503") == "failed"  # the worker's claim: the third
    assert run_tick(control.registry, _Publisher()).alerts == 0
    # A parked message reaches no actor: its streak is the tick's to alert.
    other = Operation.IMPORT_ORDERS
    set_row(control, other, consecutive_failures=4, failing_since=now_s(), last_outcome="parked",
            next_due_at=now_s() + timedelta(hours=1))
    assert run_tick(control.registry, _Publisher()).alerts == 1
    assert run_tick(control.registry, _Publisher()).alerts == 0
    assert [a.operation for a in _alerts(erp)] == ["update_stock", "import_orders"]
    assert [p["json"]["consecutive_failures"] for p in webhook.posts] == [3, 4]


@pytest.mark.parametrize("status", [500, None])
def test_a_failing_webhook_never_breaks_the_run(
    control: Control, webhook: Receiver, caplog: pytest.LogCaptureFixture, status: int | None,
) -> None:
    url = webhook.url if status else "http://127.0.0.1:9/hooks/T0K3N-in-path"  # nothing listens
    webhook.status = status or 204
    erp = _setup(control, url, alert_after_failures=1)
    caplog.set_level(logging.WARNING)
    assert _run(control, "failed", "shop down") == "failed"
    assert len(_alerts(erp)) == 1  # recorded, logged and reported all the same
    assert row(control, OP).last_outcome == "failed"
    [warning] = [r.getMessage() for r in caplog.records if "alert webhook" in r.getMessage()]
    assert "T0K3N" not in warning and "127.0.0.1" in warning


def test_items_kept_too_long_page_once_per_episode_and_attention_pages_nobody(
    any_control: Control, webhook: Receiver,
) -> None:
    """On every control DB backend: the worker copies the tenant's retry set to the schedule
    row, the tick claims one alert per episode, a run that empties the set ends it."""
    control = any_control
    erp = _setup(control, webhook.url, pending_alert_minutes=60)
    op = Operation.IMPORT_ORDERS
    now = now_s()
    first = now - timedelta(minutes=61)

    def run_with(kept: Summary, outcome: str = "partial") -> str:
        job = due_job(control, op)
        return process_sync(*job.args(), registry=control.registry,
                            run=FakeRun(outcome, None, kept=kept))

    # Only items needing attention: listed, never paged.
    assert run_with(Summary(retry=0, attention=4)) == "partial"
    assert run_tick(control.registry, _Publisher(), now=now).alerts == 0
    state = row(control, op)
    assert (state.kept_retry, state.kept_attention, state.kept_since) == (0, 4, None)
    assert state.consecutive_failures == 0 and state.last_success_at is not None  # not failing

    # An item the ERP refused 59 minutes ago: not yet; past the hour: one alert, once.
    run_with(Summary(retry=2, attention=4, oldest_retry=now - timedelta(minutes=59)))
    assert run_tick(control.registry, _Publisher(), now=now).alerts == 0
    run_with(Summary(retry=2, attention=4, oldest_retry=first))
    assert run_tick(control.registry, _Publisher(), now=now).alerts == 1
    assert run_tick(control.registry, _Publisher(), now=now + timedelta(minutes=1)).alerts == 0
    [alert] = _alerts(erp)
    assert "2 item(s) kept for retry" in alert.message and "iluo-sync pending" in alert.message
    [post] = webhook.posts
    assert post["json"]["reason"] == "items_kept" and post["json"]["kept"] == 2
    assert post["json"]["since"] == first.isoformat() + "Z"

    # The set empties (the cause was fixed): the episode ends; the next long wait pages again.
    run_with(Summary(retry=0, attention=4), outcome="ok")
    assert row(control, op).kept_alerted_at is None
    run_with(Summary(retry=1, attention=4, oldest_retry=first))
    assert run_tick(control.registry, _Publisher(), now=now).alerts == 1
    assert len(webhook.posts) == 2
