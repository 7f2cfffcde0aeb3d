"""What the console's pages read: the tenants list, a tenant's last 24 hours, its history.

The tenants list reads the control DB only (one grouped query over the schedule, plus the
health rules), so it stays cheap with thousands of tenants; a tenant's own pages read its
database. Times stay naive UTC here; the templates show them in the shop owner's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from shared.control.health import Health, tenant_light
from shared.control.tables import schedules, service_events, tenants
from shared.erp.sync_tables import sync_events, sync_runs

#: Rows per page of the tenants list and the history; the last page numbers (the history
#: merges runs and events, reading page × size rows of each, so it stops sooner).
PAGE_SIZE = 50
MAX_PAGE = 200
MAX_TENANT_PAGE = 10_000
LEVELS = ("info", "warning", "error")


@dataclass(frozen=True, slots=True)
class TenantRow:
    id: int
    name: str
    active: bool
    light: str
    last_run_at: datetime | None
    failing: int  # operations whose last run failed
    pending: int  # shop items kept for retry or needing attention


def tenant_rows(
    conn: Connection, health: Health, *, after_failures: int, kept_after: timedelta,
    page: int = 1, only: int | None = None,
) -> list[TenantRow]:
    s = schedules.c
    per = (
        select(s.tenant_id, func.max(s.last_finished_at).label("last_run"),
               func.sum(func.coalesce(s.kept_retry, 0) + func.coalesce(s.kept_attention, 0))
               .label("pending"),
               func.count().filter(s.consecutive_failures > 0).label("failing"))
        .group_by(s.tenant_id).subquery()
    )
    stmt = (select(tenants.c.id, tenants.c.name, tenants.c.is_active, per.c.last_run,
                   per.c.pending, per.c.failing)
            .outerjoin(per, per.c.tenant_id == tenants.c.id).order_by(tenants.c.name))
    if only is not None:
        stmt = stmt.where(tenants.c.id == only)
    stmt = stmt.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    by_id = {t.id: t for t in health.tenants}
    rows = []
    for row in conn.execute(stmt):
        known = by_id.get(row.id)
        light = (tenant_light(known, health.now, after_failures=after_failures,
                              kept_after=kept_after) if known is not None
                 else "green" if row.is_active else "off")
        rows.append(TenantRow(row.id, row.name, bool(row.is_active), light, row.last_run,
                              int(row.failing or 0), int(row.pending or 0)))
    return rows


@dataclass(slots=True)
class Hour:
    start: datetime
    runs: int = 0
    failed: int = 0
    items: int = 0


def last_day(engine: Engine, now: datetime) -> list[Hour]:
    """Runs, items written (created + updated) and failed runs per hour, the last 24 hours."""
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    hours = [Hour(first + timedelta(hours=n)) for n in range(24)]
    r = sync_runs.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(r.started_at, r.outcome, r.created_count, r.updated_count)
            .where(r.started_at >= first, r.dry_run.is_(False))
        ).all()
    for row in rows:
        index = int((row.started_at - first).total_seconds() // 3600)
        if 0 <= index < 24:
            hour = hours[index]
            hour.runs += 1
            hour.failed += row.outcome in ("failed", "abandoned")
            hour.items += int(row.created_count or 0) + int(row.updated_count or 0)
    return hours


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    integration: int | None = None
    operation: str | None = None
    level: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1

    def query(self) -> dict[str, str]:
        """The filter as query parameters (for paging links), page left out."""
        found: dict[str, Any] = {
            "integration": self.integration, "operation": self.operation, "level": self.level,
            "since": self.since.strftime("%Y-%m-%dT%H:%M") if self.since else None,
            "until": self.until.strftime("%Y-%m-%dT%H:%M") if self.until else None,
        }
        return {k: str(v) for k, v in found.items() if v is not None}


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the history: a run (its outcome and counts) or an event of one."""

    at: datetime
    integration_id: int
    operation: str | None
    level: str
    kind: str
    item: str | None
    message: str | None
    run_id: int | None
    is_run: bool = False


@dataclass(slots=True)
class HistoryPage:
    entries: list[Entry] = field(default_factory=list)
    has_next: bool = False


#: A run's outcome as a history level, so one filter serves runs and events.
_RUN_LEVEL = {"failed": "error", "abandoned": "error", "partial": "warning",
              "skipped": "warning"}
_LEVEL_OUTCOMES = {
    "error": ("failed", "abandoned"), "warning": ("partial", "skipped"),
    "info": ("ok", "running"),
}


def history(engine: Engine, flt: HistoryFilter) -> HistoryPage:
    """Runs and events newest first, filtered, one page: the newest `page × PAGE_SIZE + 1` of
    each are read and merged (MAX_PAGE bounds that), so paging needs no shared offset."""
    wanted = flt.page * PAGE_SIZE + 1
    e, r = sync_events.c, sync_runs.c
    events = select(sync_events).order_by(e.at.desc(), e.id.desc()).limit(wanted)
    runs = select(sync_runs).order_by(r.started_at.desc(), r.id.desc()).limit(wanted)
    if flt.integration is not None:
        events = events.where(e.integration_id == flt.integration)
        runs = runs.where(r.integration_id == flt.integration)
    if flt.operation is not None:
        events = events.where(e.operation == flt.operation)
        runs = runs.where(r.operation == flt.operation)
    if flt.level is not None:
        events = events.where(e.level == flt.level)
        runs = runs.where(r.outcome.in_(_LEVEL_OUTCOMES[flt.level]))
    if flt.since is not None:
        events = events.where(e.at >= flt.since)
        runs = runs.where(r.started_at >= flt.since)
    if flt.until is not None:
        events = events.where(e.at <= flt.until)
        runs = runs.where(r.started_at <= flt.until)
    with engine.connect() as conn:
        entries = [_run_entry(row) for row in conn.execute(runs)] + [
            Entry(row.at, row.integration_id, row.operation, row.level, row.kind, row.item,
                  row.message, row.run_id) for row in conn.execute(events)]
    entries.sort(key=lambda x: (x.at, x.is_run), reverse=True)
    start = (flt.page - 1) * PAGE_SIZE
    return HistoryPage(entries[start:start + PAGE_SIZE], len(entries) > start + PAGE_SIZE)


def _run_entry(row: Any) -> Entry:
    counts = (f"read {row.read_count}, created {row.created_count}, updated "
              f"{row.updated_count}, failed {row.failed_count}")
    message = f"{counts}: {row.error}" if row.error else counts
    return Entry(row.started_at, row.integration_id, row.operation,
                 _RUN_LEVEL.get(row.outcome, "info"), f"run {row.outcome}", None, message,
                 row.id, is_run=True)


def recent_runs(engine: Engine, limit: int = 15) -> list[Any]:
    r = sync_runs.c
    with engine.connect() as conn:
        return list(conn.execute(select(sync_runs).order_by(r.id.desc()).limit(limit)).all())


def run_with_events(engine: Engine, run_id: int, limit: int = 500) -> tuple[Any, list[Any]]:
    """A run and its events (oldest first); (None, []) when there is no such run."""
    with engine.connect() as conn:
        run = conn.execute(select(sync_runs).where(sync_runs.c.id == run_id)).first()
        if run is None:
            return None, []
        events = conn.execute(select(sync_events).where(sync_events.c.run_id == run_id)
                              .order_by(sync_events.c.id).limit(limit)).all()
    return run, list(events)


def console_activity(conn: Connection, limit: int = 20) -> list[Any]:
    """The console's own recent actions (who did what), newest first."""
    e = service_events.c
    return list(conn.execute(select(service_events).where(e.kind == "console")
                             .order_by(e.at.desc(), e.id.desc()).limit(limit)).all())
