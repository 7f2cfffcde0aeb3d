"""`iluo-sync pending NAME` and `iluo-sync retry NAME INTEGRATION_ID`: the retry set.

`pending` lists the shop items the imports could not take yet (shared.erp.retry_set): what,
since when, how often tried, the last error, when next. `retry` makes them due at the next run,
whatever their backoff, and moves that integration's import runs up to the next tick, for when
the cause has been fixed (a product added to the ERP, a lock released).
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, and_, update
from sqlalchemy.exc import SQLAlchemyError

from app.cli import app
from app.cli.common import fmt_time, print_json, registry, user_errors
from shared.control.registry import Registry, Tenant, db_error_line, utcnow
from shared.control.tables import schedules
from shared.erp import retry_set
from shared.erp.integrations import load_integration
from shared.erp.retry_set import Kept
from shared.errors import UserError

#: Rows `pending` prints as a table (everything with --json).
SHOWN = 200


@app.command("pending")
@user_errors
def pending(
    name: str,
    integration_id: int = typer.Option(None, "--integration", help="Only this integration."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Shop items kept for retry or needing attention: item, since, attempts, last error."""
    with registry() as reg:
        tenant = reg.get(name)
        engine = reg.tenant_engine(tenant)
        try:
            with engine.connect() as conn:
                if integration_id is not None:
                    _check_integration(conn, tenant, integration_id)
                rows = retry_set.listing(conn, integration_id, limit=None if as_json else SHOWN)
                total = retry_set.summary(conn, integration_id)
        except SQLAlchemyError as exc:
            raise UserError(f"cannot read tenant {name}'s database: {db_error_line(exc)}") \
                from None
    if as_json:
        print_json({"tenant": name, "retry": total.retry, "attention": total.attention,
                    "items": [_as_dict(row) for row in rows]})
        return
    if not rows:
        typer.echo(f"{name}: nothing kept; every shop item read so far is in the ERP")
        return
    table = Table("integration", "operation", "item", "shop id", "state", "since", "attempts",
                  "next", "last error", title=f"{name}: {total.retry} kept for retry, "
                  f"{total.attention} needing attention")
    for row in rows:
        table.add_row(str(row.integration_id), row.operation, row.item or "", row.shop_id,
                      row.state, fmt_time(row.first_failed_at), str(row.attempts),
                      fmt_time(row.next_attempt_at), (row.last_error or "")[:200])
    Console().print(table)
    if total.retry + total.attention > len(rows):
        typer.echo(f"(the first {len(rows)}; --json lists all)")


@app.command("retry")
@user_errors
def retry(
    name: str,
    integration_id: int,
    item: str = typer.Option(None, "--item", help="Only the item with this shop id."),
) -> None:
    """Make kept items of integration INTEGRATION_ID due at its next run (and that run due at
    the next tick)."""
    with registry() as reg:
        tenant = reg.get(name)
        engine = reg.tenant_engine(tenant)
        now = utcnow()
        try:
            with engine.begin() as conn:
                _check_integration(conn, tenant, integration_id)
                touched = retry_set.make_due(conn, integration_id, now,
                                             shop_id=item.strip() if item else None)
        except SQLAlchemyError as exc:
            raise UserError(f"cannot write tenant {name}'s database: {db_error_line(exc)}") \
                from None
        if item and not touched:
            raise UserError(f"integration #{integration_id} of {name} keeps no item {item!r} "
                            f"(see `iluo-sync pending {name}`)")
        if touched:
            _due_now(reg, tenant, integration_id)
    typer.echo(f"#{integration_id}: {touched} item(s) due at the next run")


def _check_integration(conn: Any, tenant: Tenant, integration_id: int) -> None:
    if load_integration(conn, integration_id) is None:
        raise UserError(f"tenant {tenant.name} has no shop integration #{integration_id}")


def _due_now(reg: Registry, tenant: Tenant, integration_id: int) -> None:
    """The integration's import runs at the next tick instead of at their next slot (a run
    queued or in progress already stays as it is)."""
    s = schedules.c
    engine: Engine = reg.engine
    with engine.begin() as conn:
        conn.execute(update(schedules).where(and_(
            s.tenant_id == tenant.id, s.integration_id == integration_id,
            s.operation.in_(retry_set.OPERATIONS), s.enabled.is_(True),
            s.queued_at.is_(None), s.running_since.is_(None), s.next_due_at > utcnow(),
        )).values(next_due_at=utcnow()))


def _as_dict(row: Kept) -> dict[str, Any]:
    return {
        "integration": row.integration_id, "operation": row.operation, "item": row.item,
        "shop_id": row.shop_id, "state": row.state,
        "since": row.first_failed_at.isoformat() + "Z",
        "last_failed_at": row.last_failed_at.isoformat() + "Z", "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat() + "Z",
        "last_error": row.last_error,
    }
