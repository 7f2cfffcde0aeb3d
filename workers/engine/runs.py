"""The run record: one sync_runs row per run, its counts, and its per-item events.

Events are buffered and written in their own short transactions at checkpoints (between pages
and batches), never inside a data transaction: an item error must survive the rollback of the
page it was found in, and on SQLite a second writer inside an open transaction would deadlock.
With the tenant's event history off, info events are dropped; run summaries, warnings and
errors are always kept.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    String,
    Update,
    bindparam,
    cast,
    insert,
    null,
    select,
    update,
)

from shared.db import autocommit
from shared.erp import options
from shared.erp.integrations import IntegrationConfig, read_with, settings_with
from shared.erp.schema import shop_integrations
from shared.erp.sync_tables import sync_events, sync_runs
from shared.redact import redact
from workers.engine import leases
from workers.engine.clock import to_db, utc_now

COUNT_NAMES = ("read", "created", "updated", "unchanged", "skipped", "failed", "reconciled")

INFO, WARNING, ERROR = "info", "warning", "error"

#: Write buffered events once this many have piled up (bounds memory on huge runs).
FLUSH_AT = 500
#: A running run's counts are written at most this often (seconds) when nothing else changed.
PROGRESS_EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class Event:
    at: datetime
    level: str
    kind: str
    item: str | None = None
    erp_id: int | None = None
    shop_id: str | None = None
    message: str | None = None


def _fit(text: object, size: int | None = None) -> str | None:
    """Text for a history row: secrets masked (a shop may echo a key into an error), NUL shown
    as `\\x00` (PostgreSQL refuses it in text and would fail the whole flush), cut to size."""
    if text is None:
        return None
    value = redact(str(text)).replace("\x00", "\\x00")
    return value if size is None else value[:size]


#: Built once: the columns come from each execution's parameters. Statement construction and
#: its cache key were a good share of an idle run's Python.
_OPEN = insert(sync_runs)
_WRITE = update(sync_runs).where(sync_runs.c.id == bindparam("b_run_id"))
_OPEN_COLUMNS = ("integration_id", "operation", "trigger", "started_at", "outcome", "full_pass",
                 "dry_run", "worker", *(f"{n}_count" for n in COUNT_NAMES))


@cache
def _open_with_settings(with_options: bool) -> Select[Any]:
    """PostgreSQL: the integration's settings read, its free lease taken and the run record
    naming the lease's token inserted — one statement, one round trip for what was two. The
    lease is taken before the settings say whether the run may go ahead, so a refused run
    closes its record and frees the lease in its one closing statement, as an idle run does.
    The lease is taken only for an integration that exists (a deleted one's lease row stays),
    and comes back as an extra child row: ("run", n1 = run id, n2 = token)."""
    si = shop_integrations.c
    exists_ = select(si.id).where(si.id == bindparam("b_integration_id")).exists()
    lease = leases.grab_statement(expired=False, returning=True).where(exists_).cte("lease")
    c = sync_runs.c
    values = [bindparam(f"b_{name}", type_=c[name].type) for name in _OPEN_COLUMNS]
    opened = (insert(sync_runs)
              .from_select([*_OPEN_COLUMNS, "lease_token"], select(*values, lease.c.token))
              .returning(c.integration_id, c.id, c.lease_token)
              .cte("opened"))
    row = select(opened.c.integration_id, bindparam("b_kind", _OPENED, String(10)),
                 cast(null(), String(50)), opened.c.id, opened.c.lease_token,
                 cast(null(), String(255)))
    return settings_with(row, with_options)


_OPENED = "run"


@cache
def _close_freeing() -> Update:
    """PostgreSQL: the record closed and its lease freed in one statement."""
    return _WRITE.add_cte(leases.FREE.cte("freed"))


class RunRecorder:
    """Counts and events of one run of one operation of one integration."""

    def __init__(
        self,
        engine: Engine,
        integration_id: int,
        operation: str,
        *,
        trigger: str = "manual",
        full: bool = False,
        dry_run: bool = False,
        worker: str | None = None,
        event_history: bool = True,
    ) -> None:
        self.engine = engine
        self.integration_id = integration_id
        self.operation = operation
        self.trigger = trigger
        self.full = full
        self.dry_run = dry_run
        self.worker = worker
        self.event_history = event_history
        self.counts: Counter[str] = Counter(dict.fromkeys(COUNT_NAMES, 0))
        self.run_id: int | None = None
        self.started_at = utc_now()
        self.cursor_before: datetime | None = None
        self.cursor_after: datetime | None = None
        self.lease_token: int | None = None
        self._pending: list[Event] = []
        self._written: dict[str, object] | None = None  # the summary as last written
        self._written_at = 0.0  # time.monotonic() of that write

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, conn: Connection | None = None) -> int:
        """Insert the run row: on `conn`, inside the caller's transaction (the runner opens the
        record in the one that reads the settings and takes the lease), else in its own."""
        if conn is None:
            with self.engine.begin() as own:
                return self.start(own)
        result = conn.execute(_OPEN, dict(self._opening(), lease_token=self.lease_token))
        key = result.inserted_primary_key
        assert key is not None  # a one-row INSERT has one
        self.run_id = int(key[0])
        self._wrote(self._summary())
        return self.run_id

    def start_with_settings(
        self, conn: Connection, resource: str, holder: str
    ) -> tuple[IntegrationConfig | None, leases.Lease | None]:
        """PostgreSQL: the settings, and the free lease with the run record opened, in one
        statement (`_open_with_settings`). The lease is None, and nothing written, when it is
        not simply free (held, expired, never taken) or the integration does not exist: then
        `leases.take` and `start` follow in a transaction, as on the other databases."""
        params: dict[str, Any] = {f"b_{name}": value for name, value in self._opening().items()}
        params.update(leases.grab_params(self.integration_id, resource, holder,
                                         now=utc_now()))
        cfg, rows = read_with(conn, _open_with_settings(options.has_table(conn)), params)
        opened = [r for r in rows if r.kind == _OPENED]
        if not opened:
            return cfg, None
        self.run_id, self.lease_token = int(opened[0].n1), int(opened[0].n2)
        self._wrote(self._summary())
        return cfg, leases.Lease(self.integration_id, resource, holder, self.lease_token)

    def _opening(self) -> dict[str, object]:
        return dict(
            integration_id=self.integration_id, operation=self.operation,
            trigger=_fit(self.trigger, 20), started_at=to_db(self.started_at),
            outcome="running", full_pass=self.full, dry_run=self.dry_run,
            worker=_fit(self.worker, 100), **{f"{n}_count": 0 for n in COUNT_NAMES},
        )

    def flush(self) -> None:
        """Write buffered events and the counts so far (so `status` sees a long run move);
        nothing at all when neither changed since the last write. Counts alone are written
        at most every PROGRESS_EVERY_S: a short run's record is written when it opens and
        when it closes, not at each of its checkpoints too (the token and cursors at once)."""
        summary = self._summary()
        if not self._pending and (summary == self._written or (
                self._counts_only(summary)
                and time.monotonic() - self._written_at < PROGRESS_EVERY_S)):
            return
        with self.engine.begin() as conn:
            if self._pending:
                conn.execute(insert(sync_events), [self._row(e) for e in self._pending])
            if self.run_id is not None:
                conn.execute(_WRITE, dict(b_run_id=self.run_id, **summary))
        self._pending.clear()
        self._wrote(summary)

    def _counts_only(self, summary: dict[str, object]) -> bool:
        """Does `summary` differ from the last written one in the counts alone?"""
        written = self._written or {}
        return all(summary[k] == written.get(k) for k in summary if not k.endswith("_count"))

    def _wrote(self, summary: dict[str, object]) -> None:
        self._written, self._written_at = summary, time.monotonic()

    def finish(
        self, outcome: str, error: str | None = None, *,
        release: leases.Lease | None = None,
        also: Callable[[Connection], None] | None = None,
    ) -> datetime:
        """Close the record, free the lease `release` (if still ours: one taken over is its new
        holder's) and run `also`, all in one transaction."""
        finished = utc_now()
        if outcome == "failed":
            self.event(ERROR, "run_failed", message=error)
        elif outcome == "skipped":
            self.event(INFO, "run_skipped", message=error, keep=True)
        closing = dict(b_run_id=self.run_id, outcome=outcome, finished_at=to_db(finished),
                       error=_fit(error), **self._summary())
        if (release is not None and not self._pending and also is None
                and self.engine.dialect.name == "postgresql"):
            with autocommit(self.engine) as conn:  # an idle run's close: one round trip
                conn.execute(_close_freeing(), dict(closing, **leases.free_params(release)))
            return finished
        with self.engine.begin() as conn:
            if self._pending:
                conn.execute(insert(sync_events), [self._row(e) for e in self._pending])
            conn.execute(_WRITE, closing)
            if release is not None:
                leases.free(conn, release)
            if also is not None:
                also(conn)
        self._pending.clear()
        return finished

    # -- counting and events --------------------------------------------------------------------

    def count(self, name: str, n: int = 1) -> None:
        if name not in COUNT_NAMES:
            raise ValueError(f"unknown count {name!r}")
        self.counts[name] += n

    def event(
        self, level: str, kind: str, *, item: object = None, erp_id: int | None = None,
        shop_id: object = None, message: str | None = None, keep: bool = False,
    ) -> None:
        """Buffer one event; info events are kept only with the event history on (or `keep`)."""
        if level == INFO and not (self.event_history or keep):
            return
        self._pending.append(Event(utc_now(), level, kind, _fit(item, 100), erp_id,
                                   _fit(shop_id, 64), _fit(message)))

    def item_error(self, item: object, message: str, *, erp_id: int | None = None,
                   shop_id: object = None) -> None:
        """One item failed: counted and recorded; the run goes on."""
        self.count("failed")
        self.event(ERROR, "item_error", item=item, erp_id=erp_id, shop_id=shop_id,
                   message=message)

    def warning(self, kind: str, item: object, message: str, *, erp_id: int | None = None,
                shop_id: object = None) -> None:
        self.event(WARNING, kind, item=item, erp_id=erp_id, shop_id=shop_id, message=message)

    @property
    def needs_flush(self) -> bool:
        return len(self._pending) >= FLUSH_AT

    # -- rows -----------------------------------------------------------------------------------

    def _summary(self) -> dict[str, object]:
        return {
            **{f"{n}_count": int(self.counts[n]) for n in COUNT_NAMES},
            "cursor_before": _cursor_text(self.cursor_before),
            "cursor_after": _cursor_text(self.cursor_after),
            "lease_token": self.lease_token,
            "full_pass": self.full,
        }

    def _row(self, event: Event) -> dict[str, object]:
        return dict(
            run_id=self.run_id, integration_id=self.integration_id, operation=self.operation,
            at=to_db(event.at), level=event.level, kind=event.kind, item=event.item,
            erp_id=event.erp_id, shop_id=event.shop_id, message=event.message,
        )


def _cursor_text(value: datetime | None) -> str | None:
    return None if value is None else to_db(value).isoformat() + "Z"
