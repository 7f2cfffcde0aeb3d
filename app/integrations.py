"""What the command line (`integrations`) and the console show about a tenant's integrations:
flags, operations and intervals, labels, warehouses, status map, next due time, last result,
retry set, configuration errors and platform limitations — one description for both."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError

from app.webhooks import store as webhook_store
from shared.control.registry import Registry, Tenant, db_error_line
from shared.control.tables import schedules
from shared.erp import options, retry_set
from shared.erp.integrations import IntegrationConfig, load_integrations
from shared.erp.retry_set import Summary
from shared.erp.schema import order_statuses, warehouses
from shared.erp.sync_tables import sync_runs
from shared.errors import UserError
from shared.operation import Operation
from workers.shops import limitations as platform_limitations


def describe(reg: Registry, tenant: Tenant) -> list[dict[str, Any]]:
    try:
        with reg.tenant_engine(tenant).connect() as conn:
            configs = load_integrations(conn)
            statuses = dict(conn.execute(select(order_statuses.c.id, order_statuses.c.code)).all())
            stores = dict(conn.execute(select(warehouses.c.id, warehouses.c.code)).all())
            last = _last_runs(conn)
            kept = {cfg.id: retry_set.summary(conn, cfg.id) for cfg in configs}
            hooks = webhook_store.states(conn)
    except SQLAlchemyError as exc:
        raise UserError(
            f"cannot read tenant {tenant.name}'s database: {db_error_line(exc)}"
        ) from None
    with reg.engine.connect() as conn:
        due = {
            (row.integration_id, row.operation): row
            for row in conn.execute(select(schedules).where(schedules.c.tenant_id == tenant.id))
        }
    described = [_one(cfg, tenant, statuses, stores, last, due, kept[cfg.id]) for cfg in configs]
    for item in described:  # `none` until `webhooks register`; polling runs either way
        hook = hooks.get(item["id"])
        item["webhook"] = hook.state if hook else "none"
        item["webhook_last_received_at"] = hook.last_received_at if hook else None
        item["webhook_checked_at"] = hook.updated_at if hook else None
    return described


def _last_runs(conn: Connection) -> dict[tuple[int, str], Any]:
    newest = (
        select(
            sync_runs.c.integration_id, sync_runs.c.operation, func.max(sync_runs.c.id).label("id")
        )
        .group_by(sync_runs.c.integration_id, sync_runs.c.operation)
        .subquery()
    )
    rows = conn.execute(select(sync_runs).join(newest, newest.c.id == sync_runs.c.id)).all()
    return {(row.integration_id, row.operation): row for row in rows}


def _one(
    cfg: IntegrationConfig,
    tenant: Tenant,
    statuses: dict[int, str],
    stores: dict[int, str],
    last: dict[tuple[int, str], Any],
    due: dict[tuple[int, str], Any],
    kept: Summary,
) -> dict[str, Any]:
    ops = []
    for op in Operation:
        setting = cfg.operations[op]
        run = last.get((cfg.id, op.value))
        row = due.get((cfg.id, op.value))
        ops.append({
            "operation": op.cli_name,
            "enabled": setting.enabled,
            "interval_minutes": setting.interval_minutes,
            "runs_automatically": tenant.is_active and cfg.runs_automatically(op),
            "blocked": cfg.blocked_reason(op) if setting.enabled else None,
            "next_due_at": row.next_due_at if row is not None and row.enabled else None,
            "last_outcome": run.outcome if run is not None else None,
            "last_run_at": run.started_at if run is not None else None,
            "last_error": run.error if run is not None else None,
        })
    return {
        "id": cfg.id,
        "name": cfg.name,
        "platform": cfg.platform,
        "base_url": cfg.base_url,
        "is_active": cfg.is_active,
        "auto_sync": cfg.auto_sync,
        "shop_timezone": cfg.shop_timezone,
        "operations": ops,
        "export_labels": sorted(cfg.export_labels.values()),
        "stock_labels": sorted(cfg.stock_labels.values()),
        "warehouses": [stores.get(w, f"#{w}") for w in cfg.warehouses] or ["(all)"],
        "status_map": {statuses.get(k, f"#{k}"): v for k, v in sorted(cfg.status_map.items())},
        "options": {name: cfg.options.get(name, options.default(name))
                    for name in sorted(options.OPTIONS)},
        "errors": cfg.errors,
        "limitations": list(platform_limitations(cfg.platform)),
        "kept": {"retry": kept.retry, "attention": kept.attention,
                 "oldest_retry": kept.oldest_retry},
    }
