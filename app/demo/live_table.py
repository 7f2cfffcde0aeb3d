"""The demo's live table of runs: tenant, integration, operation, outcome, counts, next due.

On a terminal a rich Live table redrawn every second; otherwise (a pipe, CI) one line per
finished run, so the output stays readable in a log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table
from sqlalchemy import select

from shared.control.registry import Registry
from shared.control.tables import heartbeats, schedules
from shared.erp.schema import shop_integrations
from shared.erp.sync_tables import sync_runs

COUNTS = (("read", "read"), ("created", "new"), ("updated", "upd"), ("unchanged", "same"),
          ("skipped", "skip"), ("failed", "err"))
STYLE = {"ok": "green", "failed": "bold red", "skipped": "yellow", "running": "cyan"}


class LiveRuns:
    def __init__(
        self, registry: Registry, tenant: str, console: Console, *, rows: int = 15
    ) -> None:
        self.registry = registry
        self.tenant = registry.get(tenant)
        self.console = console
        self.rows = rows
        self._live: Live | None = None
        self._printed = 0  # highest run id already printed (pipe mode)

    def __enter__(self) -> LiveRuns:
        if self.console.is_terminal:
            self._live = Live(Table(), console=self.console, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def update(self) -> None:
        runs, names, due, tick = self._read()
        if self._live is not None:
            self._live.update(self._table(runs, names, due, tick))
            return
        for run in sorted(runs, key=lambda r: r.id):
            if run.id > self._printed and run.outcome != "running":
                self._printed = run.id
                self.console.print(_line(self.tenant.name, run, names, due), highlight=False,
                                   markup=False, soft_wrap=True)

    def summary(self) -> str:
        engine = self.registry.tenant_engine(self.tenant)
        with engine.connect() as conn:
            outcomes = Counter(row.outcome for row in conn.execute(select(sync_runs.c.outcome)))
        parts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
        return f"{sum(outcomes.values())} runs: {parts or 'none'}"

    # -- reading ------------------------------------------------------------------------------

    def _read(self) -> tuple[Sequence[Any], dict[int, str], dict[tuple[int, str], Any], str]:
        engine = self.registry.tenant_engine(self.tenant)
        with engine.connect() as conn:
            runs = conn.execute(
                select(sync_runs).order_by(sync_runs.c.id.desc()).limit(self.rows)
            ).all()
            names = dict(
                conn.execute(select(shop_integrations.c.id, shop_integrations.c.name)).all()
            )
        with self.registry.engine.connect() as conn:
            due = {
                (row.integration_id, row.operation): row
                for row in conn.execute(
                    select(schedules).where(schedules.c.tenant_id == self.tenant.id)
                )
            }
            beat = conn.execute(select(heartbeats).where(heartbeats.c.component == "tick")).first()
        tick = ""
        if beat is not None:
            info = orjson.loads(beat.info) if beat.info else {}
            tick = (f"last tick {beat.beat_at:%H:%M:%S} UTC: {info.get('claimed', 0)} claimed, "
                    f"{info.get('refreshes', 0)} settings refresh(es)")
        return runs, names, due, tick

    def _table(self, runs: Sequence[Any], names: dict[int, str], due: dict[tuple[int, str], Any],
               tick: str) -> Table:
        table = Table(title=f"iluo-sync demo — tenant {self.tenant.name}: runs, newest first",
                      caption=tick, box=box.SIMPLE_HEAD, expand=False)
        table.add_column("UTC", no_wrap=True)
        table.add_column("integration", overflow="ellipsis", max_width=20)
        table.add_column("operation", no_wrap=True)
        table.add_column("outcome", no_wrap=True)
        table.add_column("counts", overflow="fold")
        table.add_column("next due", no_wrap=True)
        for run in runs:
            style = STYLE.get(run.outcome, "")
            table.add_row(
                f"{run.started_at:%H:%M:%S}",
                names.get(run.integration_id, f"#{run.integration_id}"),
                run.operation.replace("_", "-"), f"[{style}]{run.outcome}[/]",
                _counts(run, compact=True),
                _next_due(due.get((run.integration_id, run.operation)), short=True),
            )
        return table


def _counts(run: Any, *, compact: bool = False) -> str:
    pairs = [(short, getattr(run, f"{name}_count")) for name, short in COUNTS]
    if compact:
        return " ".join(f"{short} {n}" for short, n in pairs if n) or "-"
    return " ".join(f"{short} {n}" for short, n in pairs)


def _next_due(row: Any, *, short: bool = False) -> str:
    if row is None:
        return "-"
    if not row.enabled:
        return "off"
    if row.queued_at is not None:
        return "queued"
    if short:
        return f"{row.next_due_at:%H:%M:%S}"
    seconds = (row.next_due_at - datetime.now(UTC).replace(tzinfo=None)).total_seconds()
    return f"{row.next_due_at:%H:%M:%S} (in {max(0, int(seconds))}s)"


def _line(tenant: str, run: Any, names: dict[int, str], due: dict[tuple[int, str], Any]) -> str:
    error = f" — {run.error}" if run.error else ""
    return (
        f"{run.started_at:%H:%M:%S} {tenant} {names.get(run.integration_id, run.integration_id)} "
        f"{run.operation.replace('_', '-')}: {run.outcome} [{_counts(run)}] next due "
        f"{_next_due(due.get((run.integration_id, run.operation)))}{error}"
    )
