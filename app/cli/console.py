"""`iluo-sync console`: the web console (the Konfigurator in a browser), and its accounts."""

from __future__ import annotations

import sys

import dramatiq
import typer

from app.cli import app
from app.cli.common import print_json, registry, user_errors
from app.console.accounts import add_user, list_users, remove_user, set_password
from app.console.web import create_app
from app.serving import listen, serve
from shared.broker import setup as setup_broker
from shared.control.registry import Registry
from shared.control.schedule import now_s
from shared.errors import UserError

console_app = typer.Typer(
    help="The web console: `iluo-sync console` serves it; `console user …` keeps its accounts.",
    no_args_is_help=False, invoke_without_command=True,
)
user_app = typer.Typer(help="Console accounts: an operator sees every tenant, a tenant user "
                            "(--tenant) only theirs.", no_args_is_help=True)
console_app.add_typer(user_app, name="user")
app.add_typer(console_app, name="console")


@console_app.callback()
@user_errors
def console(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", min=1, max=65535),
) -> None:
    """Serve the console until Ctrl-C: service, tenants (add, switch off, remove), a tenant's
    integrations with Run now and its last 24 hours, the event history. Log in with an
    account made by `iluo-sync console user add`."""
    if ctx.invoked_subcommand is not None:
        return
    reg = Registry()
    with reg.engine.connect() as conn:
        if not list_users(conn):
            raise UserError("no console account yet: make one with "
                            "`iluo-sync console user add NAME`")
    setup_broker()  # Run now publishes as the tick does; the console consumes nothing
    try:
        sock = listen(host, port)
        typer.echo(f"iluo-sync console on http://{host}:{port}/ (Ctrl-C to stop)")
        serve(create_app(reg, dramatiq.get_broker()), sock)
    finally:
        reg.close()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@user_app.command("add")
@user_errors
def user_add(
    name: str,
    tenant: str = typer.Option(None, "--tenant", help="Only this tenant (a hosted customer)."),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="Read the password from the first line of stdin."),
) -> None:
    """Add a console account (asks for its password, 10 characters or more)."""
    with registry() as reg:
        tenant_id = reg.get(tenant).id if tenant else None
        password = _password(password_stdin)
        with reg.engine.begin() as conn:
            add_user(conn, name, password, tenant_id=tenant_id, now=now_s())
    typer.echo(f"console user {name} added" + (f" (tenant {tenant} only)" if tenant else
                                               " (operator: every tenant)"))


@user_app.command("password")
@user_errors
def user_password(
    name: str,
    password_stdin: bool = typer.Option(False, "--password-stdin"),
) -> None:
    """Set a new password; the user's open sessions end."""
    with registry() as reg:
        password = _password(password_stdin)
        with reg.engine.begin() as conn:
            set_password(conn, name, password, now=now_s())
    typer.echo(f"password of {name} changed")


@user_app.command("list")
@user_errors
def user_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """The console's accounts (never their passwords)."""
    with registry() as reg:
        names = {t.id: t.name for t in reg.list()}
        with reg.engine.connect() as conn:
            users = list_users(conn)
    rows = [{"name": u.name, "tenant": names.get(u.tenant_id) if u.tenant_id else None}
            for u in users]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['name']:30} {row['tenant'] or '(operator)'}")


@user_app.command("remove")
@user_errors
def user_remove(name: str) -> None:
    with registry() as reg, reg.engine.begin() as conn:
        remove_user(conn, name)
    typer.echo(f"console user {name} removed")
