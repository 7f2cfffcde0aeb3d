"""The tick's work, on every slot: refresh what is stale, claim what is due, publish it.

periodiq wakes the tick once a minute; `run_minute` then makes one pass at once and one at the
start of each later slot of that minute (shared.control.slots: 15 s apart), so the rows of a
slot are published as it begins. Each pass is a whole tick (`run_tick`): cheap when nothing is
due, and the same code whether it runs on the minute or at :45.

periodiq is only the clock (it sends duplicate ticks with two producers and never replays a
missed minute); the control database decides what is due. So a tick (each pass):

1. disables the rows of tenants switched off (control DB only, no tenant DB read);
2. claims the tenants whose settings are due to be re-read (each on its own slot, every
   `refresh_minutes`) and publishes one `refresh_settings` message each, so 10,000 tenants are
   read a third at a time by the tick worker group, never all in one minute;
3. claims due schedule rows in atomic batches and publishes one message per row, a whole batch
   in flight on one confirm-mode channel (shared.publisher): a row stays claimed only when
   RabbitMQ confirmed its message; one it refused or never answered is un-claimed (due
   again) while its batch neighbours stand, and the pass stops claiming;
4. raises the alerts that are due (shared.control.alerts: N failures in a row, or no success
   for M intervals; one per episode), reports the integrations blocked by a configuration
   error, and beats its heartbeat.

Metrics (shared.telemetry.metrics): ticks, rows claimed, the lag between a row's due time and
its claim, and the longest failure streak of any enabled row.

A duplicate tick finds nothing left to claim; after downtime each row runs once, not N times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from dramatiq import Message
from dramatiq.broker import Broker
from sqlalchemy import Connection, func, select, true

from shared.control.alerts import AlertRules, claim_due_alerts, claim_kept_alerts
from shared.control.claim import in_claim_transaction
from shared.control.refresh import refresh_tenant
from shared.control.registry import Registry
from shared.control.schedule import (
    Claimed,
    ScheduleConfig,
    claim_due,
    claim_refreshes,
    disable_inactive_tenants,
    forget_old_deliveries,
    now_s,
    unclaim,
    unclaim_refreshes,
)
from shared.control.service_log import beat, claim_minute
from shared.control.slots import SLOTS_PER_MINUTE, epoch_slot, slot_start
from shared.control.tables import schedules
from shared.jobs import refresh_message
from shared.publisher import EnqueuePublisher, Publisher, publisher_for
from shared.telemetry.alerting import raise_alerts
from shared.telemetry.metrics import CLAIMED, FAILING, SCHEDULE_LAG, TICKS

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(slots=True)
class TickReport:
    at: datetime
    disabled: int = 0
    refreshes: int = 0
    claimed: int = 0
    published: int = 0
    blocked: int = 0
    alerts: int = 0
    seconds: float = 0.0
    error: str | None = None
    blocked_detail: list[str] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        data.pop("blocked_detail")
        return data


class PublishFailed(Exception):
    """The broker did not take a message (after dramatiq's own retries)."""

    claimed = published = 0


def run_minute(
    registry: Registry,
    broker: Broker,
    *,
    wait: Callable[[float], bool],
    clock: Callable[[], datetime] = now_s,
) -> list[TickReport]:
    """The tick message's minute: a pass now, then one as each later slot of the minute begins.

    `wait(seconds)` sleeps and answers True when the worker is stopping (then no further pass:
    the next tick picks up). A slot that began before a pass (a late tick, a slow pass) gets no
    pass of its own: that pass claimed its rows. Of the ticks of one minute (two producers send
    two), only the first to claim the minute makes the later passes; the others make their
    first pass, which finds nothing due, and free their thread.
    """
    first = clock()
    reports = [run_tick(registry, broker, now=first)]
    served = epoch_slot(first)  # a pass claims what is due up to its own time
    minute = served // SLOTS_PER_MINUTE * SLOTS_PER_MINUTE
    ends = minute + SLOTS_PER_MINUTE  # the next minute's first slot
    if served + 1 < ends:
        with registry.engine.begin() as conn:
            if not claim_minute(conn, slot_start(minute)):
                return reports  # another tick serves this minute's slots
    while served + 1 < ends:
        if wait(max(0.0, (slot_start(served + 1) - clock()).total_seconds())):
            break
        now = clock()
        reports.append(run_tick(registry, broker, now=now))
        served = epoch_slot(now)
    return reports


def run_tick(
    registry: Registry,
    broker: Broker,
    *,
    now: datetime | None = None,
    config: ScheduleConfig | None = None,
) -> TickReport:
    config = config or ScheduleConfig.from_env()
    started = time.monotonic()
    report = TickReport(at=now or now_s())
    engine = registry.engine
    try:
        with engine.begin() as conn:
            report.disabled = disable_inactive_tenants(conn)
            forget_old_deliveries(conn, report.at, older_than=timedelta(days=1))
        with publisher_for(broker) as publisher:  # one connection for the tick's batches
            report.refreshes = _refresh_stale_tenants(engine, publisher, report.at, config)
            report.claimed, report.published = publish_due(
                engine, broker, report.at, config, publisher=publisher)
    except PublishFailed as exc:
        report.claimed, report.published = exc.claimed, exc.published
        report.error = str(exc)
        log.error("tick: %s; the rows not published are due again", exc)
    finally:
        report.alerts = _raise_due_alerts(registry, report.at, config)
        report.seconds = round(time.monotonic() - started, 3)
        with engine.begin() as conn:
            report.blocked_detail = _blocked(conn)
            report.blocked = len(report.blocked_detail)
            beat(conn, "tick", "tick", at=report.at, info=report.info())
    if report.blocked:
        shown = "; ".join(report.blocked_detail[:10])
        more = f" (+{report.blocked - 10} more)" if report.blocked > 10 else ""
        log.warning("tick: %d integration(s) blocked by configuration errors: %s%s",
                    report.blocked, shown, more)
    log.info("tick: %d refresh(es), %d claimed, %d published in %.3fs",
             report.refreshes, report.claimed, report.published, report.seconds)
    TICKS.inc()
    return report


def publish_due(
    engine: Any, broker: Broker, now: datetime, config: ScheduleConfig, *,
    tenant_id: int | None = None, publisher: Publisher | None = None,
) -> tuple[int, int]:
    """Claim due rows batch by batch and publish each batch; while RabbitMQ confirms one batch
    the next is claimed (at most two in flight). A row whose message is not confirmed is due
    again, and then no further batch is claimed this time (PublishFailed says how many)."""
    if publisher is None:
        with publisher_for(broker) as own:
            return publish_due(engine, broker, now, config, tenant_id=tenant_id, publisher=own)
    claimed = published = 0
    refused: list[str] = []
    flight: list[tuple[list[Claimed], int | None]] = []

    def land() -> None:
        nonlocal published
        batch, ticket = flight.pop(0)
        done, problem = _settle(publisher, ticket, batch, partial(_unclaim, engine),
                                "claimed row(s)")
        CLAIMED.inc(done)
        published += done
        if problem:
            refused.append(problem)

    while claimed < config.max_claims_per_tick and not refused:
        limit = min(config.claim_batch, config.max_claims_per_tick - claimed)
        batch = in_claim_transaction(engine, partial(
            claim_due, now=now, limit=limit, config=config, tenant_id=tenant_id))
        if not batch:
            break
        claimed += len(batch)
        for row in batch:
            SCHEDULE_LAG.observe(max(0.0, (now - row.job.due_at).total_seconds()))
        flight.append((batch, _send(publisher, [row.job.message() for row in batch], refused)))
        if len(flight) > 1 or refused:
            land()
        if len(batch) < config.claim_batch:
            break
    while flight:
        land()
    if refused:
        failure = PublishFailed("; ".join(refused))
        failure.claimed, failure.published = claimed, published
        raise failure
    return claimed, published


def refresh_and_publish(registry: Registry, broker: Broker, tenant_id: int) -> None:
    """The `refresh_settings` actor's work: re-read a tenant; rows that became due at once
    (a new tenant or integration, automatic sync switched back on) are claimed and published
    now instead of at the next tick, so a newly added shop starts syncing within seconds."""
    now = now_s()
    counts = refresh_tenant(registry, tenant_id, now=now)
    if counts is not None and counts.due_now:
        config = ScheduleConfig.from_env()
        try:
            # A tenant's few rows: through the thread's own connection, one confirm each,
            # rather than a new connection per refresh (which kept the refresh message unacked
            # several times longer).
            publish_due(registry.engine, broker, now, config, tenant_id=tenant_id,
                        publisher=EnqueuePublisher(broker))
        except PublishFailed as exc:
            log.error("refresh of tenant #%s: %s; the tick will publish them", tenant_id, exc)


def _send(publisher: Publisher, messages: Sequence[Message[Any]], problems: list[str],
          ) -> int | None:
    """A batch's ticket, or None (and the problem noted) when it could not even be sent."""
    try:
        return publisher.send(messages)
    except Exception as exc:  # no connection: nothing of this batch counts as published
        problems.append(f"publishing failed ({type(exc).__name__}: {exc})")
        return None


def _settle(
    publisher: Publisher, ticket: int | None, items: Sequence[T],
    release: Callable[[list[T]], None], what: str,
) -> tuple[int, str | None]:
    """Wait for a batch's confirms; the items whose messages RabbitMQ did not confirm are
    released (due again). Answers how many stand, and what went wrong if anything did."""
    try:
        confirmed = [False] * len(items) if ticket is None else publisher.settle(ticket)
    except Exception:
        log.warning("publishing: waiting for confirms failed", exc_info=True)
        confirmed = [False] * len(items)
    refused = [item for item, ok in zip(items, confirmed, strict=True) if not ok]
    if not refused:
        return len(items), None
    release(refused)
    return len(items) - len(refused), (
        f"{len(refused)} of {len(items)} message(s) not confirmed by RabbitMQ; "
        f"{len(refused)} {what} released, due again")


def _unclaim(engine: Any, rows: list[Claimed]) -> None:
    with engine.begin() as conn:
        unclaim(conn, rows)


def _unclaim_refreshes(engine: Any, tenant_ids: list[int]) -> None:
    with engine.begin() as conn:
        unclaim_refreshes(conn, tenant_ids)


def _refresh_stale_tenants(
    engine: Any, publisher: Publisher, now: datetime, config: ScheduleConfig
) -> int:
    tenant_ids = in_claim_transaction(engine, lambda conn: claim_refreshes(
        conn, now, limit=config.max_refreshes_per_tick, config=config))
    if tenant_ids:
        problems: list[str] = []
        ticket = _send(publisher, [refresh_message(t) for t in tenant_ids], problems)
        _, problem = _settle(publisher, ticket, tenant_ids, partial(_unclaim_refreshes, engine),
                             "settings refresh(es)")
        if problem:
            problems.append(problem)
        if problems:
            raise PublishFailed("; ".join(problems))
    return len(tenant_ids)


def _raise_due_alerts(registry: Registry, now: datetime, config: ScheduleConfig) -> int:
    """Alerts that are due, each once per episode; a failure here never fails the tick."""
    try:
        rules = AlertRules.from_settings(registry.settings, run_ttl=config.run_ttl)
        with registry.engine.begin() as conn:
            alerts = claim_due_alerts(conn, now, rules) + claim_kept_alerts(conn, now, rules)
            worst = conn.execute(
                select(func.max(schedules.c.consecutive_failures))
                .where(schedules.c.enabled == true())
            ).scalar()
        FAILING.set(int(worst or 0))
        return raise_alerts(registry, alerts)
    except Exception:
        log.exception("tick: the alert check failed; the next tick tries again")
        return 0


def _blocked(conn: Connection) -> list[str]:
    """Integrations that would run but are blocked: cheap, from the schedule alone."""
    rows = conn.execute(
        select(schedules.c.tenant_id, schedules.c.integration_id, schedules.c.blocked_reason)
        .where(schedules.c.blocked_reason.is_not(None))
        .distinct()
        .order_by(schedules.c.tenant_id, schedules.c.integration_id)
    ).all()
    seen: dict[tuple[int, int], str] = {}
    for row in rows:
        seen.setdefault((row.tenant_id, row.integration_id), row.blocked_reason)
    return [f"tenant #{t} integration #{i}: {reason}" for (t, i), reason in seen.items()]

