"""`iluo-sync tenant …`: the registry of ERP databases (the old configurator's list)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from app.cli import app
from app.cli.common import fmt_time, print_json, registry, user_errors
from shared.control.schedule import now_s
from shared.control.service_state import switch

tenant_app = typer.Typer(
    help="Register ERP databases and switch them on or off.", no_args_is_help=True
)
app.add_typer(tenant_app, name="tenant")


@tenant_app.command("add")
@user_errors
def add(
    name: str,
    db_url: str = typer.Option(..., "--db-url", help="SQLAlchemy URL of the ERP database."),
    inactive: bool = typer.Option(False, "--inactive", help="Register switched off."),
    no_event_history: bool = typer.Option(
        False, "--no-event-history", help="Keep run summaries and failures only."
    ),
) -> None:
    """Register an ERP database: checks it, then creates/upgrades the sync_* tables in it."""
    with registry() as reg:
        tenant = reg.add(name, db_url, active=not inactive, event_history=not no_event_history)
    typer.echo(f"added tenant {tenant.name} ({tenant.to_dict()['db_url']})")


@tenant_app.command("list")
@user_errors
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    """The registered ERP databases (passwords are never shown)."""
    with registry() as reg:
        found = reg.list()
    if as_json:
        print_json([t.to_dict() for t in found])
        return
    table = Table("name", "active", "event history", "database", "added")
    for t in found:
        d = t.to_dict()
        table.add_row(
            t.name,
            _yes(t.is_active),
            _yes(t.event_history),
            str(d["db_url"]),
            fmt_time(t.created_at),
        )
    Console().print(table)


@tenant_app.command("show")
@user_errors
def show(name: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """One tenant's registration."""
    with registry() as reg:
        data = reg.get(name).to_dict()
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        typer.echo(f"{key:14} {value}")


@tenant_app.command("activate")
@user_errors
def activate(name: str) -> None:
    """Switch a tenant's synchronisation back on."""
    with registry() as reg:
        switch(reg, name, True, now_s())
    typer.echo(f"tenant {name} is active")


@tenant_app.command("deactivate")
@user_errors
def deactivate(name: str) -> None:
    """The emergency switch: no new runs for this tenant until it is activated again."""
    with registry() as reg:
        switch(reg, name, False, now_s())  # the ERP shows `stopped` at once
    typer.echo(f"tenant {name} is inactive: no new runs will start")


@tenant_app.command("remove")
@user_errors
def remove(name: str) -> None:
    """Unregister a tenant (its ERP database is not touched)."""
    with registry() as reg:
        reg.remove(name)
    typer.echo(f"tenant {name} removed from the registry")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
