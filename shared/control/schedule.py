"""The schedule: one row per tenant x integration x operation, the only source of "what is due".

Life of a row (all times naive UTC, whole seconds):

    sync_rows    enabled iff the tenant is active and the integration runs the operation
                 automatically (is_active, auto_sync, operation enabled, not blocked); a row
                 that becomes enabled is due at once; an interval change applies at once.
    claim_due    (the tick) due rows → queued_at = now, queued_due_at = the due time,
                 next_due_at = the next slot after now (after downtime: one run, not N).
    start_run    (the worker) a message whose due time is no longer the queued one is stale.
    report_run   (the worker) outcome, error, failures in a row and since when; next_due_at
                 = the next slot after the run's END, so runs of one row never pile up; a
                 success ends an alert episode (shared.control.alerts).
    unclaim      (the tick) a message that could not be published makes its row due again.

A claimed row whose report never comes (its message lost in a crash) becomes claimable again
once `queued_at` is older than `queue_ttl`; a row whose run died mid-way once `running_since`
is older than `run_ttl` — no work is lost for good.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Row,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)

from shared.control.claim import claim_rows
from shared.control.slots import next_slot, next_slot_sql, offset_for, offset_sql
from shared.control.tables import message_deliveries, schedules, tenants
from shared.erp.integrations import IntegrationConfig
from shared.erp.retry_set import Summary
from shared.jobs import SyncJob
from shared.operation import Operation

#: Longest error text kept on a schedule row (the full one is in the tenant's history).
ERROR_CHARS = 1000


def now_s() -> datetime:
    """Naive UTC in whole seconds: every schedule time, on every backend, reads back as written."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    """How the schedule is kept and claimed. Environment overrides exist for operators and tests."""

    #: Each tenant's integration settings are re-read this often (minutes), spread by tenant id.
    refresh_minutes: int = 3
    #: A claimed row whose message never reported back is claimable again after this long.
    queue_ttl: timedelta = timedelta(minutes=10)
    #: A row whose run started but never reported (the worker died) after this long. Longer
    #: than any run may last (the run's own limit is 15 minutes, dramatiq's 20).
    run_ttl: timedelta = timedelta(minutes=25)
    #: Rows claimed per statement (and published before the next statement claims more).
    claim_batch: int = 1000
    #: Caps per tick, so one tick after a long outage stays bounded; the next tick continues.
    max_claims_per_tick: int = 100_000
    max_refreshes_per_tick: int = 10_000

    @classmethod
    def from_env(cls) -> ScheduleConfig:
        return cls(
            refresh_minutes=max(1, _env_int("ILUO_SYNC_REFRESH_MINUTES", 3)),
            queue_ttl=timedelta(minutes=_env_int("ILUO_SYNC_QUEUE_TTL_MINUTES", 10)),
            run_ttl=timedelta(minutes=_env_int("ILUO_SYNC_RUN_TTL_MINUTES", 25)),
        )


# -- keeping rows in step with the ERP's settings ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Desired:
    integration_id: int
    operation: Operation
    enabled: bool
    interval: int
    blocked_reason: str | None


def desired_rows(configs: Iterable[IntegrationConfig], *, tenant_active: bool) -> list[Desired]:
    """What the schedule should say about every operation of every integration."""
    return [desired_row(cfg, op, tenant_active=tenant_active)
            for cfg in configs for op in Operation]


def desired_row(cfg: IntegrationConfig, op: Operation, *, tenant_active: bool) -> Desired:
    setting = cfg.operations[op]
    wanted = cfg.is_active and cfg.auto_sync and setting.enabled
    return Desired(
        integration_id=cfg.id,
        operation=op,
        enabled=tenant_active and cfg.runs_automatically(op),
        interval=max(1, setting.interval_minutes),
        blocked_reason=cfg.blocked_reason(op) if wanted else None,
    )


@dataclass(frozen=True, slots=True)
class RowSettings:
    """What one schedule row should say, as a run's settings read has it."""

    enabled: bool
    interval: int
    offset: int
    blocked_reason: str | None

    @classmethod
    def of(cls, cfg: IntegrationConfig, operation: Operation, *, tenant_id: int,
           tenant_active: bool) -> RowSettings:
        want = desired_row(cfg, operation, tenant_active=tenant_active)
        return cls(want.enabled, want.interval, offset_for(tenant_id, want.interval),
                   _fit(want.blocked_reason, 255))


@dataclass(slots=True)
class SyncCounts:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    due_now: int = 0  # rows new or switched back on: due at once


def sync_rows(
    conn: Connection,
    tenant_id: int,
    desired: Sequence[Desired],
    now: datetime,
    *,
    integration_ids: Sequence[int] | None = None,
) -> SyncCounts:
    """Make the tenant's rows (or only those of `integration_ids`) say what `desired` says.

    Cheap when nothing changed (one SELECT, no write). Rows of integrations not in `desired`
    within the scope are deleted (the integration was removed from the ERP).
    """
    counts = SyncCounts()
    stmt = select(schedules).where(schedules.c.tenant_id == tenant_id)
    if integration_ids is not None:
        stmt = stmt.where(schedules.c.integration_id.in_(list(integration_ids)))
    existing = {(r.integration_id, r.operation): r for r in conn.execute(stmt)}
    wanted = {(d.integration_id, d.operation.value): d for d in desired}

    new_rows = []
    for key, want in wanted.items():
        row = existing.get(key)
        offset = offset_for(tenant_id, want.interval)
        if row is None:
            new_rows.append(dict(
                tenant_id=tenant_id, integration_id=want.integration_id,
                operation=want.operation.value, interval_minutes=want.interval,
                enabled=want.enabled, blocked_reason=_fit(want.blocked_reason, 255),
                # A new row that may run is due now: the first run starts at the next tick.
                next_due_at=now if want.enabled else next_slot(now, want.interval, offset),
                slot_offset=offset, consecutive_failures=0,
            ))
            continue
        changes = _changes(row, want, offset, now)
        if changes.get("next_due_at") == now and changes.get("enabled"):
            counts.due_now += 1
        if changes:
            conn.execute(update(schedules).where(schedules.c.id == row.id).values(**changes))
            counts.updated += 1
    if new_rows:
        conn.execute(insert(schedules), new_rows)
        counts.inserted = len(new_rows)
        counts.due_now += sum(1 for row in new_rows if row["enabled"])

    gone = [row.id for key, row in existing.items() if key not in wanted]
    if gone:
        conn.execute(delete(schedules).where(schedules.c.id.in_(gone)))
        counts.deleted = len(gone)
    return counts


def _changes(row: Row[Any], want: Desired, offset: int, now: datetime) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    blocked = _fit(want.blocked_reason, 255)
    if row.blocked_reason != blocked:
        changes["blocked_reason"] = blocked
    if bool(row.enabled) != want.enabled:
        changes["enabled"] = want.enabled
    idle = row.queued_at is None and row.running_since is None  # no message in flight
    if row.interval_minutes != want.interval or row.slot_offset != offset:
        changes.update(interval_minutes=want.interval, slot_offset=offset)
        if idle:  # a shorter interval applies now; a longer one after the next run
            since = row.last_finished_at or now
            changes["next_due_at"] = min(row.next_due_at, next_slot(since, want.interval, offset))
    if want.enabled and not row.enabled and idle:
        changes["next_due_at"] = now  # switched back on: run at the next tick
    return changes


def disable_inactive_tenants(conn: Connection) -> int:
    """A tenant switched off stops at once: its rows are disabled without reading its database,
    and it is re-read at the first tick after it is switched on again."""
    inactive = select(tenants.c.id).where(tenants.c.is_active == false())
    disabled = conn.execute(
        update(schedules)
        .where(schedules.c.enabled == true(), schedules.c.tenant_id.in_(inactive))
        .values(enabled=False)
    ).rowcount
    conn.execute(
        update(tenants)
        .where(tenants.c.is_active == false(), tenants.c.settings_due_at.is_not(None))
        .values(settings_due_at=None)
    )
    return int(disabled or 0)


def forget_old_deliveries(conn: Connection, now: datetime, *, older_than: timedelta) -> int:
    """Delivery counts of messages that died and never came back (purged, expired): a day
    later they can only mislead. Parked ones stay: `status` counts them."""
    return int(conn.execute(
        delete(message_deliveries).where(
            message_deliveries.c.parked_at.is_(None),
            message_deliveries.c.last_seen_at < now - older_than,
        )
    ).rowcount or 0)


def disable_tenant(conn: Connection, tenant_id: int) -> None:
    conn.execute(
        update(schedules)
        .where(schedules.c.tenant_id == tenant_id, schedules.c.enabled == true())
        .values(enabled=False)
    )


# -- the tick: claiming ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    job: SyncJob


def claim_due(
    conn: Connection,
    now: datetime,
    *,
    limit: int,
    config: ScheduleConfig = ScheduleConfig(),
    tenant_id: int | None = None,
) -> list[Claimed]:
    """Claim up to `limit` due rows (of one tenant, or all) in one atomic statement (see
    shared.control.claim)."""
    s = schedules
    due = and_(
        (s.c.tenant_id == tenant_id) if tenant_id is not None else true(),
        s.c.enabled == true(),
        s.c.next_due_at <= now,
        or_(s.c.queued_at.is_(None), s.c.queued_at <= now - config.queue_ttl),
        or_(s.c.running_since.is_(None), s.c.running_since <= now - config.run_ttl),
    )
    rows = claim_rows(
        conn, s, due,
        [
            (s.c.queued_due_at, s.c.next_due_at),  # first: it keeps the old due time
            (s.c.queued_at, now),
            (s.c.next_due_at, next_slot_sql(now, s.c.interval_minutes, s.c.slot_offset)),
        ],
        [s.c.id, s.c.tenant_id, s.c.integration_id, s.c.operation, s.c.queued_due_at],
        order_by=s.c.next_due_at, limit=limit,
    )
    claimed = []
    for row in rows:
        try:
            op = Operation(row.operation)
        except ValueError:
            continue  # written by a newer version; not ours to run
        claimed.append(Claimed(row.id, SyncJob(row.tenant_id, row.integration_id, op,
                                               row.queued_due_at)))
    return claimed


def unclaim(conn: Connection, claimed: Sequence[Claimed]) -> None:
    """Rows whose messages were not published: due again, at the time they were due."""
    if not claimed:
        return
    s = schedules
    conn.execute(
        update(s)
        .where(s.c.id.in_([c.id for c in claimed]), s.c.queued_at.is_not(None),
               s.c.running_since.is_(None))
        .ordered_values(
            (s.c.next_due_at, s.c.queued_due_at),  # first: it reads the old value
            (s.c.queued_at, None),
            (s.c.queued_due_at, None),
        )
    )


def claim_refreshes(
    conn: Connection, now: datetime, *, limit: int, config: ScheduleConfig = ScheduleConfig()
) -> list[int]:
    """Active tenants whose settings are due to be re-read; each next one `refresh_minutes`
    later on its own slot (`offset_for` the tenant id), so each pass of the tick reads a slot's
    share of them, not all."""
    t = tenants
    period = max(1, config.refresh_minutes)
    rows = claim_rows(
        conn, t,
        and_(t.c.is_active == true(),
             or_(t.c.settings_due_at.is_(None), t.c.settings_due_at <= now)),
        [(t.c.settings_due_at, next_slot_sql(now, literal(period), offset_sql(t.c.id, period)))],
        [t.c.id],
        order_by=t.c.id, limit=limit,
    )
    return [row.id for row in rows]


def unclaim_refreshes(conn: Connection, tenant_ids: Sequence[int]) -> None:
    if tenant_ids:
        conn.execute(
            update(tenants).where(tenants.c.id.in_(list(tenant_ids))).values(settings_due_at=None)
        )


class Due(enum.Enum):
    """What asking for a run now found (`make_due_now`)."""

    DUE = "due"  # the row is due now: the next claim takes it
    BUSY = "busy"  # already queued or running: that run is the one asked for
    OFF = "off"  # the schedule does not run it (not automatic, blocked, or no such row)


def make_due_now(
    conn: Connection, tenant_id: int, integration_id: int, operation: Operation, now: datetime,
    *, config: ScheduleConfig = ScheduleConfig(),
) -> Due:
    """Make one row due now, as an operator's "Run now": only an enabled row (a blocked one —
    the product import/export rule, a configuration error — stays blocked), and only when no
    message of it is in flight (a lease would turn a second run away anyway)."""
    s = schedules.c
    where = (s.tenant_id == tenant_id, s.integration_id == integration_id,
             s.operation == operation.value)
    row = conn.execute(select(schedules.c.enabled).where(*where)).first()
    if row is None or not row.enabled:
        return Due.OFF
    done = conn.execute(
        update(schedules).where(
            *where, s.enabled == true(),
            or_(s.queued_at.is_(None), s.queued_at <= now - config.queue_ttl),
            or_(s.running_since.is_(None), s.running_since <= now - config.run_ttl),
        ).values(next_due_at=now)
    ).rowcount
    return Due.DUE if done else Due.BUSY


class Poke(enum.Enum):
    """What a shop webhook's poke found (`poke`)."""

    DUE = "due"  # due by the asked time (made so now, or it already was): the next claim takes it
    QUEUED = "queued"  # a message is queued and not started: that run sees the new order
    RUNNING = "running"  # a run is under way and may have read the shop before the order came
    OFF = "off"  # the schedule does not run it automatically (or no such row)


def poke(
    conn: Connection, tenant_id: int, integration_id: int, operation: Operation, at: datetime,
    *, config: ScheduleConfig = ScheduleConfig(),
) -> Poke:
    """Make one row due by `at` (never later than it already is), for a shop's webhook: only
    an enabled row (so is_active, auto_sync and the tenant's switch are honoured), and only when
    no message of it is queued or running, so a burst of hooks coalesces into one run."""
    s = schedules
    where = (s.c.tenant_id == tenant_id, s.c.integration_id == integration_id,
             s.c.operation == operation.value)
    row = conn.execute(select(s.c.enabled, s.c.next_due_at, s.c.queued_at, s.c.running_since)
                       .where(*where)).first()
    if row is None or not row.enabled:
        return Poke.OFF
    if row.running_since is not None and row.running_since > at - config.run_ttl:
        return Poke.RUNNING
    if row.queued_at is not None and row.queued_at > at - config.queue_ttl:
        return Poke.QUEUED
    if row.next_due_at <= at:
        return Poke.DUE
    conn.execute(update(s).where(*where, s.c.enabled == true(), s.c.next_due_at > at)
                 .values(next_due_at=at))
    return Poke.DUE


# -- the worker: starting and reporting ----------------------------------------------------------


class Start(enum.Enum):
    GO = "go"
    STALE = "stale"  # another due time is queued now, or this one already ran
    MISSING = "missing"  # no such row: the integration is not this tenant's (any more)
    NO_TENANT = "no_tenant"  # no such tenant
    INACTIVE = "inactive"  # the tenant is switched off: nothing was marked


@dataclass(frozen=True, slots=True)
class Started:
    status: Start
    schedule_id: int | None = None
    #: The tenant's row (`start_job`), read in the same statement as the schedule row.
    tenant: Row[Any] | None = None


def start_run(conn: Connection, job: SyncJob, now: datetime) -> Started:
    """Mark the row running if the message still stands for its queued due time.

    A redelivered message (its worker died) still matches, so it runs again and the lease
    decides; a duplicate that arrives after its twin finished does not.
    """
    s = schedules
    row = conn.execute(select(s.c.id, s.c.queued_due_at).where(_row_of(job))).first()
    return _mark(conn, job, row, now)


#: start_job's one-statement form (PostgreSQL: UPDATE … FROM … RETURNING the joined tenant);
#: otherwise, or when it finds no row to start, the SELECT below says why.
_START = (
    update(schedules)
    .where(tenants.c.id == bindparam("b_tenant_id"), tenants.c.is_active.is_(true()),
           schedules.c.tenant_id == tenants.c.id,
           schedules.c.integration_id == bindparam("b_integration_id"),
           schedules.c.operation == bindparam("b_operation"),
           schedules.c.queued_due_at == bindparam("b_due_at", type_=DateTime()))
    .values(running_since=bindparam("b_now", type_=DateTime()),
            last_started_at=bindparam("b_now", type_=DateTime()))
    .returning(*tenants.c, schedules.c.id.label("schedule_id"), schedules.c.queued_due_at)
)


def start_job(conn: Connection, job: SyncJob, now: datetime) -> Started:
    """`start_run` for a worker that does not know the tenant yet: the tenant and its schedule
    row in one statement, then the row marked running when the tenant is active."""
    s = schedules
    if conn.dialect.update_returning and conn.dialect.name == "postgresql":
        # The usual case in one round trip: an active tenant, its row queued for this due time.
        row = conn.execute(_START, dict(
            b_tenant_id=job.tenant_id, b_integration_id=job.integration_id,
            b_operation=job.operation.value, b_due_at=job.due_at, b_now=now)).first()
        if row is not None:
            return Started(Start.GO, row.schedule_id, row)
    row = conn.execute(
        select(tenants, s.c.id.label("schedule_id"), s.c.queued_due_at)
        .select_from(tenants.outerjoin(s, _row_of(job)))
        .where(tenants.c.id == job.tenant_id)
    ).first()
    if row is None:
        return Started(Start.NO_TENANT)
    if not row.is_active:
        return Started(Start.INACTIVE, row.schedule_id, row)
    mark = None if row.schedule_id is None else (row.schedule_id, row.queued_due_at)
    return replace(_mark(conn, job, mark, now), tenant=row)


def _row_of(job: SyncJob) -> ColumnElement[bool]:
    s = schedules
    return and_(s.c.tenant_id == job.tenant_id, s.c.integration_id == job.integration_id,
                s.c.operation == job.operation.value)


def _mark(conn: Connection, job: SyncJob, row: Any, now: datetime) -> Started:
    """`row` = (schedule id, queued due time) or None."""
    if row is None:
        return Started(Start.MISSING)
    schedule_id, queued_due_at = row
    if queued_due_at is None or queued_due_at != job.due_at:
        return Started(Start.STALE, schedule_id)
    conn.execute(update(schedules).where(schedules.c.id == schedule_id)
                 .values(running_since=now, last_started_at=now))
    return Started(Start.GO, schedule_id)


def report_run(
    conn: Connection,
    schedule_id: int,
    *,
    outcome: str,
    error: str | None,
    finished_at: datetime,
    due_again_now: bool = False,
    due_at: datetime | None = None,
    kept: Summary | None = None,
    settings: RowSettings | None = None,
) -> None:
    """Record a run's outcome and free the row for the next claim.

    `settings`: the row's own settings as the run read them from the ERP, written in the same
    statement (the other operations' rows follow at the tenant's next refresh; a run no longer
    reads and compares them all, which cost an idle run a round trip).

    A `partial` run went through (its failed items are kept for retry), so like `ok` it ends a
    failure episode; the retry set's own alert follows `kept`, the set as the run left it.

    next_due_at is the next slot after the run's end (with the interval the row has now,
    refreshed from the settings this run read), or now when the run was cut short by a
    worker shutdown, so that another worker picks it up at the next tick, or `due_at`.
    """
    s = schedules
    next_due: Any = due_at or (
        finished_at if due_again_now
        else next_slot_sql(finished_at, s.c.interval_minutes, s.c.slot_offset) if settings is None
        else next_slot(finished_at, settings.interval, settings.offset)
    )
    values: dict[str, Any] = dict(
        last_finished_at=finished_at,
        last_outcome=outcome,
        last_error=_fit(error, ERROR_CHARS),
        running_since=None,
        queued_at=None,
        queued_due_at=None,
        next_due_at=next_due,
    )
    if settings is not None:
        values.update(enabled=settings.enabled, interval_minutes=settings.interval,
                      slot_offset=settings.offset, blocked_reason=settings.blocked_reason)
    if kept is not None:
        values.update(kept_retry=kept.retry, kept_attention=kept.attention,
                      kept_since=kept.oldest_retry)
        if kept.oldest_retry is None:
            values["kept_alerted_at"] = None  # nothing waits: the next wait is a new episode
    if outcome in ("ok", "partial"):
        # A success ends the episode: the next failure streak gets its own alert.
        values.update(last_success_at=finished_at, consecutive_failures=0, failing_since=None,
                      alerted_at=None)
    elif outcome in ("failed", "parked"):
        values["consecutive_failures"] = s.c.consecutive_failures + 1
        values["failing_since"] = func.coalesce(s.c.failing_since, finished_at)
    if any(isinstance(value, ColumnElement) for value in values.values()):
        conn.execute(update(s).where(s.c.id == schedule_id).values(**values))
    else:  # plain values (a success with its row's settings): the statement built once
        conn.execute(_REPORT, dict(values, b_id=schedule_id))


_REPORT = update(schedules).where(schedules.c.id == bindparam("b_id"))


def report_job(
    conn: Connection,
    job: SyncJob,
    *,
    outcome: str,
    error: str | None,
    finished_at: datetime,
    due_at: datetime | None = None,
) -> None:
    """`report_run` for a job known only by its ids (a parked message)."""
    row_id = conn.execute(
        select(schedules.c.id).where(
            schedules.c.tenant_id == job.tenant_id,
            schedules.c.integration_id == job.integration_id,
            schedules.c.operation == job.operation.value,
        )
    ).scalar()
    if row_id is not None:
        report_run(conn, row_id, outcome=outcome, error=error, finished_at=finished_at,
                   due_at=due_at)


def _fit(text: str | None, size: int) -> str | None:
    return None if text is None else text[:size]
