"""The `iluo-sync` command line (CONTRACT §3).

Exit codes: 0 done, 1 the run failed (and was recorded), 2 bad usage or configuration — one clear
line on stderr, never a traceback for a user's mistake — 3 the run completed but some items
failed and are kept for retry (`partial`; see `pending`). Each command group lives in its own module
and registers itself on `app`.
"""

from __future__ import annotations

import importlib
import sys

import typer

from shared.errors import UserError
from shared.redact import install_log_redaction, quiet_libraries

app = typer.Typer(
    name="iluo-sync",
    help="Keeps ILUO Biznes ERP databases and their online shops in step.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Modules that add commands to `app` when imported.
COMMAND_MODULES = (
    "tenant", "integrations", "run", "pending", "events", "erp", "sandbox", "service", "status",
    "integration_auth",
    "console", "webhooks",
)


def _load_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"app.cli.{name}")


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line on stderr and leave with `code`."""
    typer.echo(f"iluo-sync: {message}", err=True)
    return typer.Exit(code)


def main() -> None:
    install_log_redaction()  # before anything can log a URL with its password
    quiet_libraries()
    _load_commands()
    try:
        app(standalone_mode=True)
    except UserError as exc:
        typer.echo(f"iluo-sync: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
