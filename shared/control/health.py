"""The service's health as the control DB knows it, and the rules for "a person is needed".

`read_health` gathers, in a few queries that never touch a tenant database: the tick's last
heartbeat, the worker processes' heartbeats, parked messages, and per tenant the operations
that are overdue, running or failing, and the tenants switched off. `problems` turns that (and
the broker's queues, when `status` could read them) into the lines that make `iluo-sync
status` exit 1. Times are naive UTC, like every time in the control DB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, and_, false, func, or_, select, true

from shared.control.tables import heartbeats, message_deliveries, schedules, service_events, tenants
from shared.jobs import SYNC_QUEUES

#: The tick runs every minute; three without one is an outage, not a late minute.
TICK_STALE_AFTER = timedelta(minutes=3)
#: Workers beat every 30 s (workers.middleware.heartbeat); a process silent for 90 s is gone.
WORKER_STALE_AFTER = timedelta(seconds=90)
#: A due operation the tick has not claimed this long after its due time is overdue.
OVERDUE_AFTER = timedelta(minutes=10)
#: Parked messages this recent need a look.
PARKED_WINDOW = timedelta(hours=24)


@dataclass(slots=True)
class OperationHealth:
    integration_id: int
    operation: str
    next_due_at: datetime | None
    running_since: datetime | None
    consecutive_failures: int
    failing_since: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    alerted_at: datetime | None
    overdue: bool
    kept_retry: int = 0
    kept_attention: int = 0
    kept_since: datetime | None = None

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "integration": self.integration_id,
            "operation": self.operation,
            "next_due_at": _iso(self.next_due_at),
            "overdue": self.overdue,
            "running_since": _iso(self.running_since),
            "running_seconds": _age(now, self.running_since),
            "consecutive_failures": self.consecutive_failures,
            "failing_since": _iso(self.failing_since),
            "last_success_at": _iso(self.last_success_at),
            "last_error": self.last_error,
            "alerted_at": _iso(self.alerted_at),
            "kept": {"retry": self.kept_retry, "attention": self.kept_attention,
                     "since": _iso(self.kept_since)},
        }


@dataclass(slots=True)
class TenantHealth:
    id: int
    name: str
    active: bool
    operations: list[OperationHealth] = field(default_factory=list)

    def to_dict(self, now: datetime) -> dict[str, Any]:
        ops = self.operations
        return {
            "tenant": self.name,
            "active": self.active,
            "overdue": [o.to_dict(now) for o in ops if o.overdue],
            "running": [o.to_dict(now) for o in ops if o.running_since is not None],
            "failing": [o.to_dict(now) for o in ops if o.consecutive_failures > 0
                        or o.alerted_at is not None],
            "kept": [o.to_dict(now) for o in ops if o.kept_retry or o.kept_attention],
        }


@dataclass(slots=True)
class Health:
    now: datetime
    tick: dict[str, Any] | None
    workers: list[dict[str, Any]]
    parked_recent: list[dict[str, Any]]
    parked_total: int
    tenants: list[TenantHealth]
    tenant_count: int
    inactive_count: int

    def live_workers(self) -> list[dict[str, Any]]:
        return [w for w in self.workers if w["live"]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": _iso(self.now),
            "tick": self.tick,
            "workers": self.workers,
            "parked": {"last_24h": self.parked_recent, "total": self.parked_total},
            "tenant_count": self.tenant_count,
            "inactive_count": self.inactive_count,
            "tenants": [t.to_dict(self.now) for t in self.tenants],
        }


def read_health(conn: Connection, now: datetime) -> Health:
    return Health(
        now=now,
        tick=_tick(conn, now),
        workers=_workers(conn, now),
        parked_recent=_parked(conn, now),
        parked_total=int(conn.execute(
            select(func.count()).where(message_deliveries.c.parked_at.is_not(None))
        ).scalar() or 0),
        tenants=_tenants(conn, now),
        tenant_count=int(conn.execute(select(func.count()).select_from(tenants)).scalar() or 0),
        inactive_count=int(conn.execute(
            select(func.count()).where(tenants.c.is_active == false())
        ).scalar() or 0),
    )


def problems(
    health: Health, *, after_failures: int, broker: Any = None,
    kept_after: timedelta = timedelta(hours=1),
) -> list[str]:
    """Everything that needs a person, one line each; empty when all is well.

    Items kept for retry longer than `kept_after` are such a line; items needing attention are
    not (no run can import them by itself; `iluo-sync pending` lists them).

    `broker` is the RabbitMQ management API's answer (shared.telemetry.rabbitmq_api), None
    when the API is not configured.
    """
    found: list[str] = []
    tick = health.tick
    if tick is None:
        found.append("no tick has ever run (is the producer and a `--queues ticks` worker up?)")
    else:
        if tick["age_seconds"] > TICK_STALE_AFTER.total_seconds():
            found.append(f"no tick for {tick['age_seconds'] // 60} min (last {tick['beat_at']})")
        error = (tick.get("info") or {}).get("error")
        if error:
            found.append(f"the last tick could not publish: {error}")
    served = {q for w in health.live_workers() for q in w.get("queues") or ()}
    unserved = [queue for queue in SYNC_QUEUES if queue not in served]
    if unserved:
        found.append(f"no live worker consumes {', '.join(unserved)}")
    if health.parked_recent:
        found.append(f"{len(health.parked_recent)} message(s) parked in the last 24 h "
                     "(they kept killing workers)")
    for tenant in health.tenants:
        for op in tenant.operations:
            where = f"tenant {tenant.name}: {op.operation} of integration {op.integration_id}"
            if op.consecutive_failures >= after_failures or op.alerted_at is not None:
                since = f" since {_iso(op.failing_since)}" if op.failing_since else ""
                what = (f"failed {op.consecutive_failures} times in a row{since}"
                        if op.consecutive_failures else
                        f"has had no successful run since {_iso(op.last_success_at) or 'ever'}")
                found.append(f"{where} {what}")
            elif op.overdue:
                found.append(f"{where} is overdue (due {_iso(op.next_due_at)})")
            if op.kept_since is not None and op.kept_since <= health.now - kept_after:
                found.append(f"{where} has {op.kept_retry} item(s) kept for retry since "
                             f"{_iso(op.kept_since)} (see `iluo-sync pending {tenant.name}`)")
    if broker is not None and not broker.reachable:
        found.append(f"the RabbitMQ management API is unreachable: {broker.error}")
    return found


GREEN, AMBER, RED, OFF = "green", "amber", "red", "off"


def tenant_light(
    tenant: TenantHealth, now: datetime, *, after_failures: int,
    kept_after: timedelta = timedelta(hours=1),
) -> str:
    """One tenant's light by the rules of `problems`: red for what makes `status` exit 1 (a
    failure streak or alert, overdue, items kept too long), amber for what is worth a look
    (a failure, items kept or needing attention), green otherwise; off when switched off."""
    if not tenant.active:
        return OFF
    light = GREEN
    for op in tenant.operations:
        if (op.consecutive_failures >= after_failures or op.alerted_at is not None or op.overdue
                or (op.kept_since is not None and op.kept_since <= now - kept_after)):
            return RED
        if op.consecutive_failures or op.kept_retry or op.kept_attention:
            light = AMBER
    return light


# -- parts ----------------------------------------------------------------------------------------


def _tick(conn: Connection, now: datetime) -> dict[str, Any] | None:
    row = conn.execute(select(heartbeats).where(heartbeats.c.kind == "tick")
                       .order_by(heartbeats.c.beat_at.desc()).limit(1)).first()
    if row is None:
        return None
    return {"beat_at": _iso(row.beat_at), "age_seconds": _age(now, row.beat_at),
            "info": _info(row.info)}


def _workers(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    rows = conn.execute(select(heartbeats).where(heartbeats.c.kind == "worker")
                        .order_by(heartbeats.c.component)).all()
    found = []
    for row in rows:
        info = _info(row.info) or {}
        found.append({
            "component": row.component, "host": row.host, "pid": row.pid,
            "started_at": _iso(row.started_at), "beat_at": _iso(row.beat_at),
            "age_seconds": _age(now, row.beat_at),
            "live": now - row.beat_at <= WORKER_STALE_AFTER,
            "queues": list(info.get("queues") or []), "threads": info.get("threads"),
        })
    return found


def _parked(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    e = service_events.c
    rows = conn.execute(
        select(service_events, tenants.c.name.label("tenant"))
        .outerjoin(tenants, tenants.c.id == e.tenant_id)
        .where(e.kind == "parked", e.at >= now - PARKED_WINDOW)
        .order_by(e.at.desc()).limit(50)
    ).all()
    return [{"at": _iso(r.at), "tenant": r.tenant, "integration": r.integration_id,
             "operation": r.operation, "message_id": r.message_id, "message": r.message}
            for r in rows]


def _tenants(conn: Connection, now: datetime) -> list[TenantHealth]:
    """Tenants with anything to say: switched off, or with an operation that is overdue,
    running, failing or alerted. Healthy ones are only counted (there may be thousands)."""
    s = schedules.c
    late = now - OVERDUE_AFTER
    overdue = and_(s.enabled == true(), s.next_due_at <= late, s.queued_at.is_(None),
                   s.running_since.is_(None))
    rows = conn.execute(
        select(schedules)
        .where(or_(overdue, s.running_since.is_not(None), s.consecutive_failures > 0,
                   s.alerted_at.is_not(None), s.kept_retry > 0, s.kept_attention > 0))
        .order_by(s.tenant_id, s.integration_id, s.operation)
    ).all()
    by_tenant: dict[int, list[OperationHealth]] = {}
    for row in rows:
        by_tenant.setdefault(row.tenant_id, []).append(OperationHealth(
            integration_id=row.integration_id, operation=row.operation,
            next_due_at=row.next_due_at, running_since=row.running_since,
            consecutive_failures=int(row.consecutive_failures or 0),
            failing_since=row.failing_since, last_success_at=row.last_success_at,
            last_error=row.last_error, alerted_at=row.alerted_at,
            overdue=bool(row.enabled) and row.next_due_at <= late and row.queued_at is None
            and row.running_since is None,
            kept_retry=int(row.kept_retry or 0), kept_attention=int(row.kept_attention or 0),
            kept_since=row.kept_since,
        ))
    listed = conn.execute(
        select(tenants.c.id, tenants.c.name, tenants.c.is_active).order_by(tenants.c.name)
    ).all()
    return [TenantHealth(t.id, t.name, bool(t.is_active), by_tenant.get(t.id, []))
            for t in listed if not t.is_active or t.id in by_tenant]


def _info(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat() + "Z"


def _age(now: datetime, moment: datetime | None) -> int | None:
    return None if moment is None else max(0, int((now - moment).total_seconds()))

