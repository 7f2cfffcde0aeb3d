"""The `iluo-sync` command line (CONTRACT §3).

Exit codes: 0 done, 1 the run failed (and was recorded), 2 bad usage or configuration — one clear
line on stderr, never a traceback for a user's mistake — 3 the run completed but some items
failed and are kept for retry (`partial`; see `pending`). Each command group lives in its own module
and registers itself on `app`.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

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
        code = app(standalone_mode=False)  # click's usage errors come here, not as a box
    except USAGE_ERROR as exc:
        sys.exit(_usage(exc))
    except CLICK_ERROR as exc:  # a file that cannot be opened, and the like
        typer.echo(f"iluo-sync: {_one_line(exc)}", err=True)
        sys.exit(2)
    except UserError as exc:
        typer.echo(f"iluo-sync: {exc}", err=True)
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


#: click's UsageError and ClickException, whether typer uses click or a copy of its own
#: (`BadParameter` is a UsageError in both).
USAGE_ERROR: type[Exception] = typer.BadParameter.__mro__[1]
CLICK_ERROR: type[Exception] = USAGE_ERROR.__mro__[1]


def _one_line(exc: Exception) -> str:
    format_message: Any = getattr(exc, "format_message", None)
    return " ".join(str(format_message() if callable(format_message) else exc).split())


def _usage(exc: Exception) -> int:
    """A user's mistake on the command line as one line (CONTRACT §3), naming the help to read,
    instead of click's usage block and box."""
    ctx: Any = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "iluo-sync"
    message = _one_line(exc)
    if message:  # empty when the help was printed already (a group called with no command)
        typer.echo(f"iluo-sync: {message} (see: {command} --help)", err=True)
    return 2
