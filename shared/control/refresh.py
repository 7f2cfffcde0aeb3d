"""Copying an ERP database's integration settings into the schedule.

Two callers, two scopes: the tick's settings refresh re-reads a whole tenant on the tenant's own
cadence (new integrations, flags, intervals, the conflict), and a worker re-reads the one
integration it just ran (so a changed interval or flag applies right after that run). Neither
needs a restart, and no tenant database is read every minute.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, update
from sqlalchemy.exc import SQLAlchemyError

from shared.control.registry import Registry, Tenant, db_error_line
from shared.control.schedule import SyncCounts, desired_rows, disable_tenant, now_s, sync_rows
from shared.control.service_log import REFRESH_FAILED, record_event
from shared.control.service_state import write_state
from shared.control.tables import tenants
from shared.erp.integrations import IntegrationConfig, load_integration, load_integrations
from shared.erp.sync_tables import sync_events
from shared.errors import UserError

log = logging.getLogger(__name__)


def refresh_tenant(
    registry: Registry, tenant_id: int, *, now: datetime | None = None
) -> SyncCounts | None:
    """Re-read one tenant's integrations into its schedule rows; None if nothing was read."""
    now = now or now_s()
    tenant = registry.get_by_id(tenant_id)
    if tenant is None:
        return None  # removed meanwhile: `tenant remove` deleted its rows
    if not tenant.is_active:
        with registry.engine.begin() as conn:
            disable_tenant(conn, tenant.id)
        return None
    try:
        engine = registry.tenant_engine(tenant)
        with engine.connect() as conn:
            configs = load_integrations(conn)
    except (SQLAlchemyError, UserError, OSError) as exc:  # OSError: the hosted mode refused
        line = f"cannot read tenant {tenant.name}'s settings: {_line(exc)}"
        log.warning(line)
        with registry.engine.begin() as conn:
            record_event(conn, REFRESH_FAILED, line, at=now, level="warning", tenant_id=tenant.id)
        return None
    with registry.engine.begin() as conn:
        counts = sync_rows(conn, tenant.id, desired_rows(configs, tenant_active=True), now)
        conn.execute(update(tenants).where(tenants.c.id == tenant.id).values(settings_read_at=now))
    record_config_errors(engine, configs, now)
    write_state(registry, tenant, engine, now)  # the ERP's heartbeat rides on the refresh
    return counts


def refresh_integration(
    registry: Registry, tenant: Tenant, engine: Engine, integration_id: int, *,
    now: datetime | None = None, read: tuple[IntegrationConfig | None] | None = None,
    conn: Connection | None = None,
) -> None:
    """One integration's settings (after a run of it) into its schedule rows. `read` holds the
    settings the run already read (`(None,)`: the integration is gone); without it they are
    read from the tenant database. On `conn`: inside the caller's control-DB transaction
    (the worker's, which then reports the run in it)."""
    now = now or now_s()
    if read is not None:
        (cfg,) = read
    else:
        with engine.connect() as tenant_conn:
            cfg = load_integration(tenant_conn, integration_id)
    desired = desired_rows([cfg] if cfg else [], tenant_active=tenant.is_active)
    if conn is None:
        with registry.engine.begin() as own:
            sync_rows(own, tenant.id, desired, now, integration_ids=[integration_id])
        return
    sync_rows(conn, tenant.id, desired, now, integration_ids=[integration_id])


def record_config_errors(
    engine: Engine, configs: Sequence[IntegrationConfig], now: datetime
) -> int:
    """A `config_error` event per integration that should run automatically but cannot (the
    product import + export conflict above all), at every refresh while it lasts."""
    rows = [
        dict(run_id=None, integration_id=cfg.id, operation=None, at=now, level="error",
             kind="config_error", message="; ".join(cfg.errors))
        for cfg in configs
        if cfg.is_active and cfg.auto_sync and cfg.errors
        and any(setting.enabled for setting in cfg.operations.values())
    ]
    if not rows:
        return 0
    try:
        with engine.begin() as conn:
            conn.execute(insert(sync_events), rows)
    except SQLAlchemyError as exc:
        log.warning("cannot record configuration errors: %s", _line(exc))
        return 0
    for row in rows:
        log.warning("integration %s: configuration error: %s", row["integration_id"],
                    row["message"])
    return len(rows)


def _line(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, UserError | OSError) else db_error_line(exc)
