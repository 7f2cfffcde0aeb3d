"""`iluo-sync integrations NAME`: a tenant's shop integrations as the service sees them."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from app.cli import app
from app.cli.common import fmt_time, print_json, registry, user_errors
from app.integrations import describe
from shared.control.registry import db_error_line, utcnow
from shared.erp import options
from shared.erp.integrations import load_integration
from shared.errors import UserError
from shared.migrate import TENANT, ensure_current


@app.command("integrations")
@user_errors
def integrations(name: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Flags, operations and intervals, labels, warehouses, status map, next due time, last
    result and configuration errors of each shop integration of tenant NAME."""
    with registry() as reg:
        tenant = reg.get(name)
        data = describe(reg, tenant)
    if as_json:
        print_json(data)
    else:
        _print(data)


#: What each webhook state means to the person reading `integrations`.
WEBHOOK_STATES = {
    "none": "none (polling only; `iluo-sync webhooks register` adds them)",
    "created": "not on the shop yet (the last `webhooks register` did not finish)",
    "registered": "registered, active in the shop",
    "disabled": "disabled by the shop (`iluo-sync webhooks check` re-enables it once the "
                "receiver answers)",
    "missing": "missing in the shop (run `iluo-sync webhooks register` again)",
}


def webhook_line(item: dict[str, Any]) -> str:
    """The webhook state, when the shop was last asked, and the last hook received."""
    state = str(item["webhook"])
    line = WEBHOOK_STATES.get(state, state)
    if state == "none":
        return line
    received = item["webhook_last_received_at"]
    return (f"{line} (as of {fmt_time(item['webhook_checked_at'])}); last hook received "
            f"{fmt_time(received) if received else 'never'}")


def _print(data: list[dict[str, Any]]) -> None:
    console = Console()
    if not data:
        console.print("no shop integrations in this database")
    for item in data:
        flags = (f"active={'on' if item['is_active'] else 'off'} "
                 f"auto-sync={'on' if item['auto_sync'] else 'off'}")
        console.print(f"[bold]#{item['id']} {item['name']}[/bold] "
                      f"({item['platform']}, {item['base_url']}) {flags}")
        table = Table(
            "operation", "enabled", "every", "automatic", "next due", "last run", "result"
        )
        for op in item["operations"]:
            table.add_row(
                op["operation"], "yes" if op["enabled"] else "no", f"{op['interval_minutes']} min",
                "yes" if op["runs_automatically"] else "no", fmt_time(op["next_due_at"]),
                fmt_time(op["last_run_at"]), op["last_outcome"] or "-",
            )
        console.print(table)
        console.print(
            f"  export labels: {', '.join(item['export_labels']) or '(all active products)'}"
        )
        console.print(f"  stock labels:  {', '.join(item['stock_labels']) or '(all products)'}")
        console.print(f"  warehouses:    {', '.join(item['warehouses'])}")
        console.print(f"  webhook:       {webhook_line(item)}")
        mapping = ", ".join(f"{k} → {v}" for k, v in item["status_map"].items()) or "(none)"
        console.print(f"  status map:    {mapping}")
        shown = ", ".join(f"{k}={v}" for k, v in item["options"].items())
        console.print(f"  options:       {shown}")
        if item["kept"]["retry"] or item["kept"]["attention"]:
            console.print(f"  [yellow]kept items:[/yellow]    {item['kept']['retry']} for retry, "
                          f"{item['kept']['attention']} needing attention "
                          f"(see `iluo-sync pending`)")
        for error in item["errors"]:
            console.print(f"  [red]configuration error:[/red] {error}")
        for note in item["limitations"]:
            console.print(f"  [yellow]platform limitation:[/yellow] {note}")


@app.command("integration-option")
@user_errors
def integration_option(
    name: str,
    integration_id: int,
    option: str = typer.Argument(..., help=f"One of: {', '.join(sorted(options.OPTIONS))}."),
    value: str = typer.Argument(None, help="The new value; leave out to show the current one."),
) -> None:
    """Show or set an option of shop integration INTEGRATION_ID of tenant NAME (kept in the
    tenant database's sync_integration_options; the ERP's own tables are not touched).

    `verify-tls off` turns TLS certificate checks off for a local test shop with a
    self-signed certificate; it is refused for any address that is not local.
    `safety off` lets every run of the integration past the safety valves (mass deactivation,
    stock to zero), as `run … --force` does for one run.
    """
    with registry() as reg:
        tenant = reg.get(name)
        engine = reg.tenant_engine(tenant)
        try:
            with engine.begin() as conn:
                cfg = load_integration(conn, integration_id)
                if cfg is None:
                    raise UserError(f"tenant {name} has no shop integration #{integration_id}")
                if option.strip().lower() not in options.OPTIONS:
                    options.validate(option, "", cfg.base_url)  # raises: unknown option
                if value is None:
                    key = option.strip().lower()
                    typer.echo(f"{key}={cfg.options.get(key, options.default(key))}")
                    return
                key, wanted = options.validate(option, value, cfg.base_url)
            # A tenant registered before t0004 gets the options table now (only what is
            # missing is created; the ERP's tables are never touched).
            ensure_current(engine, TENANT)
            with engine.begin() as conn:
                options.write(conn, integration_id, key, wanted, now=utcnow())
        except options.OptionError as exc:
            raise UserError(str(exc)) from None
        except SQLAlchemyError as exc:
            raise UserError(
                f"cannot write tenant {name}'s database: {db_error_line(exc)}") from None
    typer.echo(f"#{integration_id} {key}={wanted}")
