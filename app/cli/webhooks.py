"""`iluo-sync webhooks`: the shop webhook receiver, and registering the shop-side webhooks."""

from __future__ import annotations

import dramatiq
import typer

from app.cli import app
from app.cli.common import print_json, registry, user_errors
from app.serving import serve
from app.webhooks import store
from app.webhooks.receiver import Limits, create_app
from app.webhooks.registration import check, register
from shared.broker import setup as setup_broker
from shared.control.registry import Registry

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
    typer.echo(f"iluo-sync webhooks on http://{host}:{port}/hooks/… (Ctrl-C to stop)")
    try:
        serve(create_app(reg, dramatiq.get_broker(), Limits(debounce=debounce)), host, port)
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
    disabled after failed deliveries (only when the receiver answers at its public URL)."""
    rows = []
    with registry() as reg:
        tenants = [reg.get(name)] if name else [t for t in reg.list() if t.is_active]
        for tenant in tenants:
            with reg.tenant_engine(tenant).connect() as conn:
                ids = sorted(store.states(conn))
            for iid in [integration_id] if integration_id is not None else ids:
                rows += [{"tenant": tenant.name, "integration_id": iid, "webhook_id": r.webhook_id,
                          "status": r.status, "action": r.action}
                         for r in check(reg, tenant, iid)]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['tenant']} #{row['integration_id']} webhook {row['webhook_id']}: "
                   f"{row['status']} → {row['action']}")
    if not rows:
        typer.echo("no registered webhooks")
