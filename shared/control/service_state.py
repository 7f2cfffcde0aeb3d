"""The service's state, written into each tenant database for the ERP to read (MISSION item 7).

ILUO Biznes paints the synchroniser green when `sync_service_state`'s service row says
`running` with a heartbeat under five minutes old, red otherwise (the SELECT is in the
README). The write rides on work the service does anyway — a tenant's settings refresh (every
ILUO_SYNC_REFRESH_MINUTES, so a live service beats well inside five minutes) and each run —
and happens at most once a minute per tenant: the tenant's `state_written_at` is claimed in
one UPDATE, so of many workers finishing runs of one tenant in the same minute, one writes.
Switching a tenant off or on writes at once (`stopped` / `running`), whatever the claim says.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import cache
from importlib.metadata import PackageNotFoundError, version

from sqlalchemy import Connection, Engine, delete, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from shared.control.registry import Registry, Tenant, db_error_line
from shared.control.tables import schedules, tenants
from shared.erp.sync_tables import sync_service_state
from shared.errors import UserError

log = logging.getLogger(__name__)

#: The service row's key: integration 0 is no ERP integration.
SERVICE_ID, SERVICE_OPERATION = 0, "service"
RUNNING, STOPPED = "running", "stopped"
SCHEDULED, OFF, BLOCKED = "scheduled", "off", "blocked"
#: At most one write per tenant in this long.
WRITE_EVERY = timedelta(minutes=1)


@cache
def service_version() -> str:
    """Read from the installed package's metadata once per process (parsing it was a tenth of
    the settings refresh's CPU)."""
    try:
        return version("iluo-sync")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _claim(conn: Connection, tenant_id: int, now: datetime, force: bool) -> bool:
    """Take this minute's write for the tenant; False when another process has it."""
    t = tenants.c
    stmt = update(tenants).where(t.id == tenant_id).values(state_written_at=now)
    if not force:
        stmt = stmt.where(or_(t.state_written_at.is_(None),
                              t.state_written_at <= now - WRITE_EVERY))
    return bool(conn.execute(stmt).rowcount)


def _rows(conn: Connection, tenant: Tenant, now: datetime, state: str) -> list[dict[str, object]]:
    version_text = service_version()[:30]
    # Every row names every column: an executemany takes its columns from the first row.
    rows: list[dict[str, object]] = [dict(
        integration_id=SERVICE_ID, operation=SERVICE_OPERATION, state=state,
        service_version=version_text, heartbeat_at=now, last_run_at=None, last_outcome=None,
        next_due_at=None, failures_in_row=0, updated_at=now,
    )]
    s = schedules.c
    for row in conn.execute(select(schedules).where(s.tenant_id == tenant.id)
                            .order_by(s.integration_id, s.operation)):
        op_state = SCHEDULED if row.enabled else BLOCKED if row.blocked_reason else OFF
        rows.append(dict(
            integration_id=row.integration_id, operation=row.operation, state=op_state,
            service_version=version_text, heartbeat_at=now,
            last_run_at=row.last_finished_at, last_outcome=row.last_outcome,
            next_due_at=row.next_due_at if row.enabled and state == RUNNING else None,
            failures_in_row=int(row.consecutive_failures or 0), updated_at=now,
        ))
    return rows


def write_state(
    registry: Registry, tenant: Tenant, engine: Engine, now: datetime, *, force: bool = False
) -> bool:
    """Write the tenant's state (at most once a minute unless `force`); True when written.

    Never raises for a database problem: the state is a courtesy to the ERP, and a run or a
    refresh must not fail because of it (the next one writes again)."""
    state = RUNNING if tenant.is_active else STOPPED
    try:
        with registry.engine.begin() as conn:
            if not _claim(conn, tenant.id, now, force):
                return False
            rows = _rows(conn, tenant, now, state)
        with engine.begin() as conn:
            conn.execute(delete(sync_service_state))
            conn.execute(insert(sync_service_state), rows)
    except SQLAlchemyError as exc:
        log.warning("could not write tenant %s's service state: %s", tenant.name,
                    db_error_line(exc))
        return False
    return True


#: Per process: when each tenant's claim was last tried after a run. Runs of one tenant come
#: many a minute; without this each would spend a control-DB round trip on a claim that, within
#: the minute, finds nothing to take.
_tried: dict[int, datetime] = {}
_TRIED_MAX = 100_000  # tenants remembered; past it the memory starts afresh


def write_state_after_run(
    registry: Registry, tenant: Tenant, engine: Engine, now: datetime
) -> bool:
    """`write_state` for a worker after a run: at most one claim attempt a minute per tenant
    from this process (the tenant's refreshes, every few minutes, always try)."""
    last = _tried.get(tenant.id)
    if last is not None and timedelta(0) <= now - last < WRITE_EVERY:
        return False
    if len(_tried) >= _TRIED_MAX:
        _tried.clear()
    _tried[tenant.id] = now
    return write_state(registry, tenant, engine, now)


def forget_claims() -> None:
    """This process's memory of claim attempts dropped (tests: tenant ids start again)."""
    _tried.clear()


def switch(registry: Registry, name: str, active: bool, now: datetime) -> Tenant:
    """The emergency switch: the tenant on or off in the registry, and at once in its
    database's service state (`stopped` / `running`)."""
    tenant = registry.set_active(name, active)
    try:
        engine = registry.tenant_engine(tenant)
    except (SQLAlchemyError, UserError) as exc:  # unreachable: the registry is what counts
        log.warning("tenant %s: %s", name, exc if isinstance(exc, UserError)
                    else db_error_line(exc))
        return tenant
    write_state(registry, tenant, engine, now, force=True)
    return tenant
