"""`iluo-sync webhooks`: the shop webhook receiver, and registering the shop-side webhooks."""

from __future__ import annotations

import dramatiq
import typer

from app.cli import app
from app.cli.common import user_errors
from app.serving import serve
from app.webhooks.receiver import Limits, create_app
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
