"""`iluo-sync events NAME`: the event history (what ran, what it did, what failed)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from app.cli import app
from app.cli.common import fmt_time, print_json, registry, user_errors
from shared.errors import UserError
from shared.operation import Operation
from workers.engine.history import query_events


@app.command("events")
@user_errors
def events(
    name: str,
    integration: int | None = typer.Option(None, "--integration", help="Only this integration id."),
    operation: str | None = typer.Option(None, "--operation", help="Only this operation."),
    errors: bool = typer.Option(False, "--errors", help="Only failures and item errors."),
    limit: int = typer.Option(50, "--limit", min=1, max=10000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Runs and item events of tenant NAME, newest first."""
    op = None
    if operation:
        try:
            op = Operation.parse(operation)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    with registry() as reg:
        engine = reg.tenant_engine(reg.get(name))
        found = query_events(
            engine, integration_id=integration, operation=op, errors_only=errors, limit=limit
        )
    if as_json:
        print_json(found)
        return
    table = Table("time (UTC)", "integration", "operation", "level", "kind", "item", "message")
    for ev in found:
        table.add_row(
            fmt_time(ev.get("at")),
            str(ev.get("integration_id", "")),
            str(ev.get("operation") or ""),
            str(ev.get("level", "")),
            str(ev.get("kind", "")),
            str(ev.get("item") or ""),
            str(ev.get("message") or ""),
        )
    Console().print(table)
