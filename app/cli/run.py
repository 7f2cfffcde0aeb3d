"""`iluo-sync run NAME INTEGRATION_ID OPERATION`: one operation now, in this process."""

from __future__ import annotations

import socket
import sys

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from app.cli import app
from app.cli.common import print_json, registry, user_errors
from shared.errors import UserError
from shared.operation import Operation
from workers.engine.safety import SafetyLimits
from workers.runner import run_operation

#: The operations with a safety valve (workers.engine.safety), the only ones `--force` concerns.
GUARDED = (Operation.EXPORT_PRODUCTS, Operation.UPDATE_STOCK)


@app.command("run")
@user_errors
def run(
    name: str,
    integration_id: int,
    operation: str = typer.Argument(
        ...,
        help="import-orders, update-order-statuses, export-products, import-products or "
        "update-stock",
    ),
    full: bool = typer.Option(False, "--full", help="A full pass: re-read or re-send everything."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Read and compare, write nothing anywhere."
    ),
    force: bool = typer.Option(
        False, "--force", help="Go past a safety stop (mass deactivation, stock to zero), once; "
        "export-products and update-stock only."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run one operation now and print its counts.

    Exit 0 done, 1 the run failed (and was recorded; a safety stop included: its error line
    says what the run would have done and how to go ahead), 3 it completed but some items failed
    and are kept for retry (`iluo-sync pending NAME` lists them). `--full` re-reads or re-sends
    everything; for import-orders it also runs the reconciliation of shop order ids now.
    """
    try:
        op = Operation.parse(operation)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if force and op not in GUARDED:
        raise UserError(f"--force goes past a safety stop, and only "
                        f"{' and '.join(o.cli_name for o in GUARDED)} have one")
    with registry() as reg:
        tenant = reg.get(name)
        engine = reg.tenant_engine(tenant)
        show_bar = sys.stderr.isatty() and not as_json
        with _progress(show_bar, op) as tick:
            result = run_operation(
                engine, integration_id, op, trigger="manual", full=full, dry_run=dry_run,
                event_history=tenant.event_history, holder=f"cli@{socket.gethostname()}",
                progress=tick, force=force, safety=SafetyLimits.from_settings(reg.settings),
            )
    if as_json:
        print_json(result.to_dict())
    else:
        counts = " ".join(f"{k}={v}" for k, v in result.counts.items())
        line = f"{op.cli_name} #{integration_id}: {result.outcome} {counts}"
        typer.echo(line + (" (dry run)" if dry_run else ""))
        if result.error:
            typer.echo(f"error: {result.error}", err=True)
    if result.outcome == "failed":
        raise typer.Exit(1)
    if result.outcome == "partial":
        if not as_json:
            where = (f"kept for retry: `iluo-sync pending {name}`" if result.kept is not None
                     else f"the next run tries them again (`iluo-sync events {name} --errors`)")
            typer.echo(f"{result.counts['failed']} item(s) failed; {where}", err=True)
        raise typer.Exit(3)


class _progress:
    """A rich progress bar on a terminal; a no-op callback otherwise."""

    def __init__(self, enabled: bool, op: Operation) -> None:
        self.enabled = enabled
        self.op = op
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self):  # type: ignore[no-untyped-def]
        if not self.enabled:
            return None
        self._bar = Progress(
            TextColumn(self.op.cli_name), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(stderr=True), transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(self.op.cli_name, total=None)
        return self._tick

    def _tick(self, done: int, total: int | None) -> None:
        assert self._bar is not None and self._task is not None
        self._bar.update(self._task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
