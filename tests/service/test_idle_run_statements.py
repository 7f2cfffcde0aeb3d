"""An idle run costs a fixed, small number of statements (counted with SQLAlchemy events),
with every guarantee still in place: lease with its fencing token, run record, schedule row."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import event, select, update

from shared.control.refresh import refresh_tenant
from shared.control.schedule import claim_due, now_s
from shared.control.tables import schedules
from shared.erp.sync_tables import sync_leases, sync_runs
from tests.service.conftest import Control
from workers.actors import process_sync
from workers.middleware.graceful_stop import stopping

OPERATION = "update_order_statuses"  # nothing to send: no shop call at all
#: Control DB (PostgreSQL): the active tenant and its queued row, marked running, in one
#: UPDATE … RETURNING; the report with the row's own settings in one UPDATE. The service
#: state's once-a-minute claim is not tried again within the minute by this process. Tenant
#: DB: the settings read, the free lease taken and the run record naming its new token in
#: one statement (data-modifying CTEs); the orders to send; the record closed and the lease
#: freed in one. None of them inside BEGIN/COMMIT: each commits by itself.
CONTROL_STATEMENTS = 2
TENANT_STATEMENTS = 3


def _claim(control: Control) -> tuple[Any, ...]:
    """What the tick does: the row due, claimed; the message's arguments."""
    with control.registry.engine.begin() as conn:
        conn.execute(update(schedules).values(next_due_at=now_s()))
        [claimed] = [c for c in claim_due(conn, now_s(), limit=10)
                     if c.job.operation.value == OPERATION]
    return claimed.job.args()


def test_an_idle_run_costs_five_statements_and_keeps_its_guarantees(
    pg_control: Control,
) -> None:
    control = pg_control
    stopping.clear()
    tenant, erp = control.add_tenant("idle", backend="postgresql",
                                     operations={OPERATION: (True, 1)})
    refresh_tenant(control.registry, tenant.id)
    first = _claim(control)
    assert process_sync(*first, registry=control.registry) == "ok"  # engines, lease row, caches
    second = _claim(control)

    counts: Counter[str] = Counter()

    def counter(name: str) -> Any:
        def count(*_args: Any) -> None:
            counts[name] += 1
        return count

    engines = {"control": control.registry.engine,
               "tenant": control.registry.tenant_engine(tenant)}
    listeners = [(engine, counter(name)) for name, engine in engines.items()]
    for engine, listener in listeners:
        event.listen(engine, "before_cursor_execute", listener)
    try:
        assert process_sync(*second, registry=control.registry) == "ok"
    finally:
        for engine, listener in listeners:
            event.remove(engine, "before_cursor_execute", listener)
    assert counts == {"control": CONTROL_STATEMENTS, "tenant": TENANT_STATEMENTS}

    with erp.connect() as conn:
        runs = conn.execute(select(sync_runs).order_by(sync_runs.c.id)).all()
        lease = conn.execute(select(sync_leases)).one()
    assert [r.outcome for r in runs] == ["ok", "ok"]
    # Each run names the fencing token it took; the lease is free again after it.
    assert [r.lease_token for r in runs] == [1, 2] and lease.token == 2
    assert lease.holder is None and lease.expires_at is None
    with control.registry.engine.connect() as conn:
        row = conn.execute(select(schedules).where(schedules.c.operation == OPERATION)).one()
    assert row.last_outcome == "ok" and row.running_since is None and row.queued_at is None
    assert row.next_due_at > row.last_finished_at
