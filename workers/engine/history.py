"""Reading the event history back, for `iluo-sync events` and `integrations` (newest first).

Rows come back as plain dicts with JSON-ready values (times as ISO 8601 UTC strings), so the
command line can print them as a table or dump them with `--json` unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from shared.erp.sync_tables import sync_events, sync_runs
from workers.domain import Operation
from workers.engine.abandoned import ABANDONED
from workers.engine.clock import from_db
from workers.engine.runs import COUNT_NAMES, ERROR


def _iso(value: datetime | None) -> str | None:
    moment = from_db(value)
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _operation_name(operation: Operation | str | None) -> str | None:
    if operation is None:
        return None
    return operation.value if isinstance(operation, Operation) else Operation.parse(operation).value


def query_events(
    engine: Engine,
    *,
    integration_id: int | None = None,
    operation: Operation | str | None = None,
    errors_only: bool = False,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Events newest first; `errors_only` keeps level `error` (item errors, failed runs,
    configuration errors)."""
    e = sync_events.c
    stmt = select(sync_events).order_by(e.at.desc(), e.id.desc()).limit(max(1, limit))
    if integration_id is not None:
        stmt = stmt.where(e.integration_id == integration_id)
    if (op := _operation_name(operation)) is not None:
        stmt = stmt.where(e.operation == op)
    if errors_only:
        stmt = stmt.where(e.level == ERROR)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        {
            "id": row.id, "run_id": row.run_id, "integration_id": row.integration_id,
            "operation": row.operation, "at": _iso(row.at), "level": row.level,
            "kind": row.kind, "item": row.item, "erp_id": row.erp_id, "shop_id": row.shop_id,
            "message": row.message,
        }
        for row in rows
    ]


def query_runs(
    engine: Engine,
    *,
    integration_id: int | None = None,
    operation: Operation | str | None = None,
    failed_only: bool = False,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Run summaries newest first: outcome, counts, cursor before/after, error."""
    r = sync_runs.c
    stmt = select(sync_runs).order_by(r.started_at.desc(), r.id.desc()).limit(max(1, limit))
    if integration_id is not None:
        stmt = stmt.where(r.integration_id == integration_id)
    if (op := _operation_name(operation)) is not None:
        stmt = stmt.where(r.operation == op)
    if failed_only:  # a run whose worker died failed too
        stmt = stmt.where(r.outcome.in_(("failed", ABANDONED)))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        {
            "id": row.id, "integration_id": row.integration_id, "operation": row.operation,
            "trigger": row.trigger, "started_at": _iso(row.started_at),
            "finished_at": _iso(row.finished_at), "outcome": row.outcome,
            "full_pass": bool(row.full_pass), "dry_run": bool(row.dry_run),
            "counts": {n: int(getattr(row, f"{n}_count") or 0) for n in COUNT_NAMES},
            "cursor_before": row.cursor_before, "cursor_after": row.cursor_after,
            "worker": row.worker, "lease_token": row.lease_token, "error": row.error,
        }
        for row in rows
    ]
