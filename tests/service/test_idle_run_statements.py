"""An idle run costs a fixed, small number of statements (counted with SQLAlchemy events),
with every guarantee still in place: lease with its fencing token, run record, schedule row."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, update

from shared.control.refresh import refresh_tenant
from shared.control.schedule import claim_due, now_s
from shared.control.tables import schedules
from shared.erp.sync_tables import sync_leases, sync_runs
from shared.lifecycle import stopping
from tests.service.conftest import Control
from workers.actors import process_sync
from workers.domain import Operation
from workers.runner import run_operation
from workers.shops.woocommerce.sandbox import WooCommerceSandbox

OPERATION = "update_order_statuses"  # nothing to send: no shop call at all
#: Control DB (PostgreSQL): the active tenant and its queued row, marked running, in one
#: UPDATE … RETURNING; the report with the row's own settings in one UPDATE. The service
#: state's once-a-minute claim is not tried again within the minute by this process. Tenant
#: DB: the settings read, the free lease taken and the run record naming its new token in
#: one statement (data-modifying CTEs); the orders to send; the record closed and the lease
#: freed in one. None of them inside BEGIN/COMMIT: each commits by itself.
CONTROL_STATEMENTS = 2
TENANT_STATEMENTS = 3


def _claim(control: Control, operation: str = OPERATION) -> tuple[Any, ...]:
    """What the tick does: the row due, claimed; the message's arguments."""
    with control.registry.engine.begin() as conn:
        conn.execute(update(schedules).values(next_due_at=now_s()))
        [claimed] = [c for c in claim_due(conn, now_s(), limit=10)
                     if c.job.operation.value == operation]
    return claimed.job.args()


def _count(control: Control, engines: dict[str, Engine], args: tuple[Any, ...]) -> Counter[str]:
    """Statements per database while `process_sync(*args)` runs (it must succeed)."""
    counts: Counter[str] = Counter()

    def counter(name: str) -> Any:
        def count(*_args: Any) -> None:
            counts[name] += 1
        return count

    listeners = [(engine, counter(name)) for name, engine in engines.items()]
    for engine, listener in listeners:
        event.listen(engine, "before_cursor_execute", listener)
    try:
        assert process_sync(*args, registry=control.registry) == "ok"
    finally:
        for engine, listener in listeners:
            event.remove(engine, "before_cursor_execute", listener)
    return counts


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
    engines = {"control": control.registry.engine,
               "tenant": control.registry.tenant_engine(tenant)}
    counts = _count(control, engines, second)
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


#: Beyond the run's own three tenant statements, an idle run reads: update_stock its full-pass
#: cursor, then the bound products and their stock (one short chunk: no empty read after it,
#: and the run reuses what the safety valve counted); export_products its cursor, the valve's
#: two counts, the candidates' count and their one short chunk. The counts are written once,
#: when the record closes, not at each checkpoint of a run this short.
IDLE_TENANT_STATEMENTS = {"update_stock": 5, "export_products": 7}


@pytest.mark.parametrize("operation", sorted(IDLE_TENANT_STATEMENTS))
def test_an_idle_erp_to_shop_run_reads_each_thing_once(
    operation: str, pg_control: Control,
) -> None:
    control = pg_control
    stopping.clear()
    shop = WooCommerceSandbox("ck_idle", "cs_idle").serve("127.0.0.1", 0)
    try:
        tenant, erp = control.add_tenant(
            "idle", backend="postgresql", base_url=shop.base_url, api_key="ck_idle",
            api_secret="cs_idle", operations={"export_products": (True, 1),
                                              "update_stock": (True, 1)})
        for first in ("export_products", "update_stock"):  # full passes: all sent and bound
            assert run_operation(erp, 1, Operation(first)).outcome == "ok"
        refresh_tenant(control.registry, tenant.id)
        assert process_sync(*_claim(control, operation), registry=control.registry) == "ok"
        calls = len(shop.sandbox.log)
        engines = {"control": control.registry.engine,
                   "tenant": control.registry.tenant_engine(tenant)}
        counts = _count(control, engines, _claim(control, operation))
    finally:
        shop.stop()
    assert counts == {"control": CONTROL_STATEMENTS,
                      "tenant": IDLE_TENANT_STATEMENTS[operation]}
    assert len(shop.sandbox.log) == calls  # nothing changed: not one shop call
    with erp.connect() as conn:
        last = conn.execute(select(sync_runs).order_by(sync_runs.c.id.desc())).first()
    assert last is not None and last.outcome == "ok" and last.read_count > 0
    assert last.unchanged_count == last.read_count
    assert last.created_count == last.updated_count == 0
