"""The sync actor's core with a stand-in run: refusals, stale messages, outcome and settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from shared.control.refresh import refresh_tenant
from shared.control.schedule import claim_due, now_s
from shared.control.slots import next_slot, offset_for
from shared.control.tables import schedules, service_events
from shared.erp.integrations import load_integration
from shared.jobs import SyncJob
from shared.lifecycle import stopping
from tests.service.conftest import Control, FakeResult, set_integration, set_operation
from workers.actors import process_sync
from workers.domain import Operation
from workers.middleware.graceful_stop import StopRequested, check_stop


class FakeRun:
    def __init__(
        self, outcome: str = "ok", error: str | None = None, *,
        raises: BaseException | None = None, took: timedelta = timedelta(seconds=20),
        before: Any = None,
    ) -> None:
        self.outcome, self.error, self.raises = outcome, error, raises
        self.took, self.before = took, before
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self, engine: Any, integration_id: int, operation: Operation, **kw: Any
    ) -> FakeResult:
        self.calls.append(dict(integration_id=integration_id, operation=operation, **kw))
        if self.before:
            self.before()
        if self.raises is not None:
            raise self.raises
        return FakeResult(self.outcome, self.error, datetime.now(UTC) + self.took)


def _claim(control: Control) -> dict[Operation, SyncJob]:
    with control.registry.engine.begin() as conn:
        return {c.job.operation: c.job for c in claim_due(conn, now_s(), limit=100)}


def _row(control: Control, operation: Operation) -> Any:
    with control.registry.engine.connect() as conn:
        return conn.execute(select(schedules).where(schedules.c.operation == operation.value)).one()


def _events(control: Control) -> list[Any]:
    with control.registry.engine.connect() as conn:
        return conn.execute(select(service_events).order_by(service_events.c.id)).all()


def _send(control: Control, job: SyncJob, run: FakeRun, **overrides: Any) -> str:
    args = list(job.args())
    for index, name in enumerate(("tenant_id", "integration_id", "operation", "due_at")):
        if name in overrides:
            args[index] = overrides[name]
    return process_sync(*args, registry=control.registry, run=run)


def test_outcome_reported_and_next_due_counted_from_the_end(control: Control) -> None:
    tenant, erp = control.add_tenant("shop")
    refresh_tenant(control.registry, tenant.id)
    jobs = _claim(control)
    job = jobs[Operation.IMPORT_ORDERS]
    # The ERP changes the interval while the message waits: the run reads it, the row follows.
    run = FakeRun(before=lambda: set_operation(erp, "import_orders", interval=7))
    assert _send(control, job, run) == "ok"
    assert run.calls[0]["trigger"] == "schedule" and run.calls[0]["progress"] is check_stop
    row = _row(control, Operation.IMPORT_ORDERS)
    assert row.last_outcome == "ok" and row.consecutive_failures == 0
    assert row.interval_minutes == 7 and row.slot_offset == offset_for(tenant.id, 7)
    assert row.next_due_at == next_slot(row.last_finished_at, 7, offset_for(tenant.id, 7))
    assert row.last_finished_at >= row.last_started_at + timedelta(seconds=19)
    assert row.queued_at is None and row.running_since is None and row.queued_due_at is None

    failing = FakeRun("failed", "shop said 500")
    assert _send(control, jobs[Operation.UPDATE_STOCK], failing) == "failed"
    row = _row(control, Operation.UPDATE_STOCK)
    assert (row.last_outcome, row.last_error, row.consecutive_failures) == (
        "failed", "shop said 500", 1)


def test_duplicate_and_stale_messages_do_not_run(control: Control) -> None:
    tenant, _ = control.add_tenant("shop")
    refresh_tenant(control.registry, tenant.id)
    job = _claim(control)[Operation.IMPORT_ORDERS]
    run = FakeRun()
    assert _send(control, job, run) == "ok"
    assert _send(control, job, run) == "stale"  # the same due time again (a duplicate delivery)
    earlier = (job.due_at - timedelta(minutes=1)).isoformat()
    assert _send(control, job, run, due_at=earlier) == "stale"
    assert len(run.calls) == 1


def test_refused_messages_are_recorded_and_never_run(control: Control) -> None:
    shop, _ = control.add_tenant("shop")
    other, _ = control.add_tenant("other")
    refresh_tenant(control.registry, shop.id)
    job = _claim(control)[Operation.IMPORT_ORDERS]
    run = FakeRun()
    # The integration exists, but as the other tenant's: no schedule row says it is this one's.
    assert _send(control, job, run, tenant_id=other.id) == "refused"
    assert _send(control, job, run, tenant_id=999) == "refused"
    assert _send(control, job, run, integration_id="1; drop") == "refused"
    control.registry.set_active("shop", False)
    assert _send(control, job, run) == "refused"
    assert run.calls == []
    reasons = [e.message for e in _events(control)]
    assert "is not one of tenant other's scheduled integrations" in reasons[0]
    assert "tenant #999 is not registered" in reasons[1]
    assert reasons[2].startswith("malformed sync message")
    assert reasons[3] == "tenant shop is inactive"
    assert not _row(control, Operation.IMPORT_ORDERS).enabled  # switched off at once


def test_auto_sync_off_after_the_run_disables_the_row(control: Control) -> None:
    tenant, erp = control.add_tenant("shop")
    refresh_tenant(control.registry, tenant.id)
    job = _claim(control)[Operation.UPDATE_STOCK]
    run = FakeRun("skipped", "update-stock is not enabled for automatic runs any more",
                  before=lambda: set_integration(erp, auto_sync=False))
    assert _send(control, job, run) == "skipped"
    row = _row(control, Operation.UPDATE_STOCK)
    assert not row.enabled and row.last_outcome == "skipped" and row.queued_at is None


def test_the_settings_the_run_read_update_the_schedule_without_a_second_read(
    control: Control, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, erp = control.add_tenant("shop")
    refresh_tenant(control.registry, tenant.id)
    job = _claim(control)[Operation.UPDATE_STOCK]
    set_integration(erp, auto_sync=False)  # what the run saw in the ERP
    with erp.connect() as conn:
        seen = load_integration(conn, job.integration_id)

    def no_second_read(*_args: Any, **_kw: Any) -> None:
        raise AssertionError("the actor read the integration's settings a second time")

    monkeypatch.setattr("shared.control.refresh.load_integration", no_second_read)
    run = FakeRun("skipped", "update-stock is not enabled for automatic runs any more")
    run_result = run.__call__

    def with_config(*args: Any, **kw: Any) -> FakeResult:
        result = run_result(*args, **kw)
        result.config, result.config_read = seen, True
        return result

    assert process_sync(*job.args(), registry=control.registry, run=with_config) == "skipped"
    row = _row(control, Operation.UPDATE_STOCK)
    assert not row.enabled and row.last_outcome == "skipped"


def test_a_stopping_worker_makes_the_row_due_again_now(control: Control) -> None:
    tenant, _ = control.add_tenant("shop")
    refresh_tenant(control.registry, tenant.id)
    job = _claim(control)[Operation.IMPORT_ORDERS]
    stopping.set()
    try:
        try:
            check_stop(1, None)
        except StopRequested:
            pass
        else:  # pragma: no cover
            raise AssertionError("check_stop did not stop")
        assert _send(control, job, FakeRun(raises=StopRequested())) == "interrupted"
    finally:
        stopping.clear()
    row = _row(control, Operation.IMPORT_ORDERS)
    assert row.last_outcome == "failed" and "interrupted" in row.last_error
    assert row.next_due_at == row.last_finished_at  # due at the next tick, for another worker
    with control.registry.engine.begin() as conn:
        conn.execute(update(schedules).values(next_due_at=now_s()))
    assert Operation.IMPORT_ORDERS in _claim(control)


def test_a_run_writes_its_own_rows_settings_and_a_removed_integration_loses_its_rows(
    control: Control,
) -> None:
    """The report carries the run's own row's settings (one UPDATE, no read of the siblings);
    the siblings follow at the tenant's next refresh; an integration gone from the ERP takes
    all its rows with it at once."""
    tenant, erp = control.add_tenant("shop")
    refresh_tenant(control.registry, tenant.id)
    jobs = _claim(control)
    set_operation(erp, "import_orders", interval=7)
    set_operation(erp, "update_stock", interval=9)
    assert _send(control, jobs[Operation.IMPORT_ORDERS], FakeRun()) == "ok"
    row = _row(control, Operation.IMPORT_ORDERS)
    assert (row.interval_minutes, row.slot_offset) == (7, offset_for(tenant.id, 7))
    assert row.next_due_at == next_slot(row.last_finished_at, 7, offset_for(tenant.id, 7))
    assert _row(control, Operation.UPDATE_STOCK).interval_minutes != 9
    refresh_tenant(control.registry, tenant.id)
    assert _row(control, Operation.UPDATE_STOCK).interval_minutes == 9

    gone = FakeRun("failed", "integration 1 does not exist in this database")
    run_result = gone.__call__

    def integration_gone(*args: Any, **kw: Any) -> FakeResult:
        result = run_result(*args, **kw)
        result.config, result.config_read = None, True
        return result

    job = jobs[Operation.UPDATE_STOCK]
    assert process_sync(*job.args(), registry=control.registry, run=integration_gone) == "failed"
    with control.registry.engine.connect() as conn:
        assert conn.execute(select(schedules)).all() == []
