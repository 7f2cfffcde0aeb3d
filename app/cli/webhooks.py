"""`iluo-sync webhooks`: the shop webhook receiver, and registering the shop-side webhooks."""

from __future__ import annotations

import dramatiq
import typer
from sqlalchemy.exc import SQLAlchemyError

from app.cli import app
from app.cli.common import print_json, registry, user_errors
from app.serving import listen, serve
from app.webhooks import store
from app.webhooks.receiver import Limits, create_app
from app.webhooks.registration import ShopUnreachable, check, register
from shared.broker import setup as setup_broker
from shared.control.registry import Registry, db_error_line
from shared.errors import UserError
from shared.redact import redact

webhooks_app = typer.Typer(
    help="Shop webhooks: `iluo-sync webhooks` serves the receiver; `webhooks register` and "
         "`webhooks check` keep the shop-side webhooks.",
    no_args_is_help=False, invoke_without_command=True,
)
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.callback()
@user_errors
def webhooks(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8090, "--port", min=1, max=65535),
    debounce: float = typer.Option(1.0, "--debounce", min=0.0,
                                   help="Seconds hooks of one integration are gathered into "
                                        "one run."),
) -> None:
    """Serve the receiver until Ctrl-C: `POST /hooks/<token>` makes that integration's order
    import due now (nothing in the hook is trusted as data); polling keeps running as before."""
    if ctx.invoked_subcommand is not None:
        return
    reg = Registry()
    setup_broker()  # a poke publishes as the tick does; the receiver consumes nothing
    try:
        sock = listen(host, port)
        typer.echo(f"iluo-sync webhooks on http://{host}:{port}/hooks/… (Ctrl-C to stop)")
        serve(create_app(reg, dramatiq.get_broker(), Limits(debounce=debounce)), sock)
    finally:
        reg.close()


@webhooks_app.command("register")
@user_errors
def webhooks_register(
    name: str,
    integration_id: int,
    public_url: str = typer.Option(..., "--public-url",
                                   help="Where the shop reaches the receiver, e.g. "
                                        "https://hooks.example.com"),
    allow_local: bool = typer.Option(False, "--allow-local",
                                     help="Accept a local address (a test shop on this "
                                          "machine; WooCommerce itself refuses them)."),
) -> None:
    """Create the shop-side webhooks (WooCommerce: order.created and order.updated) that call
    a new receiver URL for integration INTEGRATION_ID of tenant NAME. The old URL stops
    working."""
    with registry() as reg:
        ids = register(reg, reg.get(name), integration_id, public_url, allow_local=allow_local)
    typer.echo(f"#{integration_id}: shop webhooks {', '.join(ids)} registered")


@webhooks_app.command("check")
@user_errors
def webhooks_check(
    name: str = typer.Argument(None, help="Only this tenant (default: every active one)."),
    integration_id: int = typer.Argument(None, help="Only this integration."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Find each registered integration's webhooks on its shop and re-enable those the shop
    disabled after failed deliveries (only when the receiver answers at its public URL).

    Every tenant and integration is checked even when one cannot be (database or shop down):
    each is reported, and the exit code is 1 when any failed or still needs a person (a
    webhook missing, or disabled while the receiver does not answer)."""
    rows: list[dict[str, object]] = []
    with registry() as reg:
        tenants = [reg.get(name)] if name else [t for t in reg.list() if t.is_active]
        for tenant in tenants:
            try:
                with reg.tenant_engine(tenant).connect() as conn:
                    ids = sorted(store.states(conn))
            except (SQLAlchemyError, UserError) as exc:
                rows.append(_failed(tenant.name, None, exc))
                continue
            for iid in [integration_id] if integration_id is not None else ids:
                try:
                    found = check(reg, tenant, iid)
                except ShopUnreachable as exc:
                    rows.append(_failed(tenant.name, iid, exc))
                    continue
                except (SQLAlchemyError, UserError) as exc:
                    if integration_id is not None and isinstance(exc, UserError):
                        raise  # a mistake in the command itself: exit 2
                    rows.append(_failed(tenant.name, iid, exc))
                    continue
                rows += [{"tenant": tenant.name, "integration_id": iid,
                          "webhook_id": r.webhook_id, "status": r.status, "action": r.action}
                         for r in found]
    failed = [r for r in rows if "error" in r or r.get("action") in NEEDS_A_PERSON]
    if as_json:
        print_json(rows)
    else:
        for row in rows:
            where = f"{row['tenant']} #{row['integration_id'] or '-'}"
            if "error" in row:
                typer.echo(f"{where}: {row['error']}", err=True)
            else:
                typer.echo(f"{where} webhook {row['webhook_id']}: {row['status']} → "
                           f"{row['action']}")
        if not rows:
            typer.echo("no registered webhooks")
    if failed:
        typer.echo(f"iluo-sync: {len(failed)} webhook check(s) failed or need a person",
                   err=True)
        raise typer.Exit(1)


#: Results `check` cannot settle alone: re-register (missing) or make the receiver reachable.
NEEDS_A_PERSON = ("missing", "unreachable")


def _failed(tenant: str, integration_id: int | None, exc: Exception) -> dict[str, object]:
    message = str(exc) if isinstance(exc, UserError) else db_error_line(exc)
    return {"tenant": tenant, "integration_id": integration_id, "error": redact(message)}
