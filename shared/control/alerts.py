"""Alerts: the operations that need a person, each claimed once per episode.

An episode starts with a failure, or with a success that lies too far back, and ends with the
next success (`report_run` clears `alerted_at` and `failing_since`). Two triggers:

- FAILURES: `consecutive_failures` reached `alert_after_failures`. The worker checks its own row
  right after reporting a run, so the alert comes with the run that crossed the line; every tick
  checks all rows as well, since a message parked by DeliveryLimit never reaches an actor.
- NO_SUCCESS: no successful run for `alert_after_intervals` times the row's interval, counted
  from the last success (or, when there never was one, from the first failure). This catches
  what never fails but never gets done: workers down, messages stuck, runs always skipped. A row
  whose run is in progress is left alone (a long full pass is not an outage); a row that never
  ran at all has nothing to count from and shows as overdue in `status` instead.

A third trigger has its own episode: KEPT, an item waiting in the retry set longer than
ILUO_SYNC_PENDING_ALERT_MINUTES (`kept_since`, copied from the tenant's set by the worker), claimed
through `kept_alerted_at` and ended when nothing waits any more. Items needing attention page
nobody: no run can import them by itself, and `pending` lists them.

A fourth comes from the worker alone: SAFETY_STOP, a run that stopped at a safety valve
(workers.engine.safety) before writing. It needs a person at once, so it is claimed on the first
such run, in the FAILURES/NO_SUCCESS episode (`alerted_at`): the next success ends it.

A fifth, also from the worker: CONFIG_ERROR, a run that failed because the integration needs a
person before any run can succeed (a marketplace seller's authorisation ended: the connector
raises ShopConfigError). Claimed at once like SAFETY_STOP, in the same episode.

A claim sets `alerted_at` in the statement that finds the row (shared.control.claim), so two
ticks, or a tick and a worker, never raise the same alert twice. Only enabled rows are claimed by
the tick: an operation switched off needs nobody. Raising an alert (history, log, Sentry,
webhook) is shared.telemetry.alerting's job.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, and_, func, or_, true

from shared.control.claim import claim_rows
from shared.control.slots import add_minutes
from shared.control.tables import schedules
from shared.settings import Settings

FAILURES, NO_SUCCESS, KEPT = "consecutive_failures", "no_success", "items_kept"
SAFETY_STOP = "safety_stop"
CONFIG_ERROR = "config_error"

#: Alerts one tick raises at most; the next tick raises the rest (a mass outage stays bounded).
MAX_ALERTS_PER_TICK = 200
RUN_TTL = timedelta(minutes=25)


@dataclass(frozen=True, slots=True)
class AlertRules:
    after_failures: int = 3
    after_intervals: int = 6
    #: A run older than this is dead, not in progress (ScheduleConfig.run_ttl).
    run_ttl: timedelta = RUN_TTL
    #: An item kept for retry longer than this needs a person.
    kept_after: timedelta = timedelta(hours=1)

    @classmethod
    def from_settings(cls, settings: Settings, *, run_ttl: timedelta | None = None) -> AlertRules:
        return cls(settings.alert_after_failures, settings.alert_after_intervals,
                   run_ttl or RUN_TTL, timedelta(minutes=settings.pending_alert_minutes))


@dataclass(frozen=True, slots=True)
class Alert:
    schedule_id: int
    tenant_id: int
    integration_id: int
    operation: str
    reason: str  # FAILURES | NO_SUCCESS | KEPT | SAFETY_STOP | CONFIG_ERROR
    consecutive_failures: int
    last_error: str | None
    #: Since when the operation has had no success: the first failure of the streak for
    #: FAILURES, the last success (or the first failure if none) for NO_SUCCESS.
    since: datetime | None
    interval_minutes: int
    at: datetime
    kept: int = 0  # KEPT: how many items wait in the retry set

    def describe(self) -> str:
        if self.reason == SAFETY_STOP:
            return (f"{self.operation} of integration {self.integration_id} stopped at a safety "
                    f"valve and wrote nothing: {self.last_error or 'no details'}")
        if self.reason == CONFIG_ERROR:
            return (f"{self.operation} of integration {self.integration_id} cannot run until "
                    f"its configuration is fixed: {self.last_error or 'no details'}")
        if self.reason == KEPT:
            text = (f"has {self.kept} item(s) kept for retry that the ERP has not taken "
                    f"(see `iluo-sync pending`)")
        elif self.reason == FAILURES:
            text = f"failed {self.consecutive_failures} times in a row"
        else:
            text = (f"no successful run for over {self._intervals()} intervals of "
                    f"{self.interval_minutes} min")
        if self.since is not None:
            text += f" (since {self.since:%Y-%m-%d %H:%M} UTC)"
        if self.last_error:
            text += f"; last error: {self.last_error}"
        return f"{self.operation} of integration {self.integration_id} {text}"

    def _intervals(self) -> int:
        if self.since is None or self.interval_minutes <= 0:
            return 0
        return int((self.at - self.since).total_seconds() // 60 // self.interval_minutes)

    def payload(self, tenant: str) -> dict[str, Any]:
        """The webhook's JSON body."""
        return {
            "tenant": tenant,
            "integration": self.integration_id,
            "operation": self.operation,
            "reason": self.reason,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "kept": self.kept,
            "since": self.since.isoformat() + "Z" if self.since else None,
            "at": self.at.isoformat() + "Z",
            "message": self.describe(),
        }


_RETURNING = (
    schedules.c.id, schedules.c.tenant_id, schedules.c.integration_id, schedules.c.operation,
    schedules.c.consecutive_failures, schedules.c.last_error, schedules.c.failing_since,
    schedules.c.last_success_at, schedules.c.interval_minutes,
)


def claim_failure_alert(
    conn: Connection, schedule_id: int, now: datetime, rules: AlertRules
) -> Alert | None:
    """The worker's check after reporting a failed run: this row's alert, if it is due now."""
    s = schedules
    rows = claim_rows(
        conn, s,
        and_(s.c.id == schedule_id, s.c.alerted_at.is_(None),
             s.c.consecutive_failures >= rules.after_failures),
        [(s.c.alerted_at, now)], _RETURNING, order_by=s.c.id, limit=1,
    )
    return _alert(rows[0], now, rules) if rows else None


def claim_safety_alert(
    conn: Connection, schedule_id: int, now: datetime, rules: AlertRules
) -> Alert | None:
    """The worker's check after reporting a run stopped by a safety valve: its alert now,
    unless this episode has had one already."""
    s = schedules
    rows = claim_rows(
        conn, s, and_(s.c.id == schedule_id, s.c.alerted_at.is_(None)),
        [(s.c.alerted_at, now)], _RETURNING, order_by=s.c.id, limit=1,
    )
    return replace(_alert(rows[0], now, rules), reason=SAFETY_STOP) if rows else None


def claim_config_alert(
    conn: Connection, schedule_id: int, now: datetime, rules: AlertRules
) -> Alert | None:
    """As claim_safety_alert, for a run that failed on a configuration only a person can fix."""
    alert = claim_safety_alert(conn, schedule_id, now, rules)
    return replace(alert, reason=CONFIG_ERROR) if alert is not None else None


def claim_due_alerts(
    conn: Connection, now: datetime, rules: AlertRules, *, limit: int = MAX_ALERTS_PER_TICK
) -> list[Alert]:
    """The tick's check over every enabled row: one statement, cheap on the control DB."""
    s = schedules
    since = func.coalesce(s.c.last_success_at, s.c.failing_since)
    no_success = and_(
        since.is_not(None),
        add_minutes(since, s.c.interval_minutes * rules.after_intervals) <= now,
        or_(s.c.running_since.is_(None), s.c.running_since <= now - rules.run_ttl),
    )
    rows = claim_rows(
        conn, s,
        and_(s.c.enabled == true(), s.c.alerted_at.is_(None),
             or_(s.c.consecutive_failures >= rules.after_failures, no_success)),
        [(s.c.alerted_at, now)], _RETURNING, order_by=s.c.id, limit=limit,
    )
    return [_alert(row, now, rules) for row in rows]


def claim_kept_alerts(
    conn: Connection, now: datetime, rules: AlertRules, *, limit: int = MAX_ALERTS_PER_TICK
) -> list[Alert]:
    """The tick's check for items waiting in a retry set too long (one statement)."""
    s = schedules
    rows = claim_rows(
        conn, s,
        and_(s.c.kept_alerted_at.is_(None), s.c.kept_since.is_not(None),
             s.c.kept_since <= now - rules.kept_after),
        [(s.c.kept_alerted_at, now)], (*_RETURNING, s.c.kept_retry, s.c.kept_since),
        order_by=s.c.id, limit=limit,
    )
    return [Alert(
        schedule_id=row.id, tenant_id=row.tenant_id, integration_id=row.integration_id,
        operation=row.operation, reason=KEPT, consecutive_failures=int(row.consecutive_failures),
        last_error=None, since=row.kept_since, interval_minutes=int(row.interval_minutes),
        at=now, kept=int(row.kept_retry),
    ) for row in rows]


def _alert(row: Row[Any], now: datetime, rules: AlertRules) -> Alert:
    failing = row.consecutive_failures >= rules.after_failures
    return Alert(
        schedule_id=row.id,
        tenant_id=row.tenant_id,
        integration_id=row.integration_id,
        operation=row.operation,
        reason=FAILURES if failing else NO_SUCCESS,
        consecutive_failures=int(row.consecutive_failures or 0),
        last_error=row.last_error,
        since=row.failing_since if failing else (row.last_success_at or row.failing_since),
        interval_minutes=int(row.interval_minutes),
        at=now,
    )
