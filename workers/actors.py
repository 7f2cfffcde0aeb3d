"""The sync actors, one per queue kind (`orders`, `stock`, `catalog`), all thin.

A message is ids only (shared.jobs). `process_sync` checks that the tenant is registered and
active and that the schedule knows this integration as the tenant's, marks the row running,
calls `run_operation` (lease → operation → record, in the tenant DB), re-reads the
integration's settings into its schedule rows and reports the outcome there. A run cut short
by a worker shutdown (SIGTERM) stops at an item boundary and is due again at the next tick.
Everything after the tenant is known runs in the run's Sentry scope (tenant, integration and
operation tags); metrics, alerts and the run's one Sentry event are workers.reporting's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage, TimeLimitExceeded
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.control.refresh import refresh_integration
from shared.control.registry import Registry, Tenant, db_error_line, tenant_of
from shared.control.runtime import get_registry
from shared.control.schedule import (
    RowSettings,
    Start,
    Started,
    disable_tenant,
    now_s,
    report_run,
    start_job,
)
from shared.control.service_log import REFUSED, record_event
from shared.control.service_state import write_state_after_run
from shared.db import autocommit
from shared.erp.integrations import IntegrationConfig, load_integration
from shared.jobs import CATALOG, ORDERS, STOCK, SYNC_ACTORS, SyncJob
from shared.redact import redact
from shared.telemetry.sentry import run_scope
from workers import runner
from workers.broker import ensure_broker
from workers.engine.safety import SafetyLimits
from workers.middleware.graceful_stop import StopRequested, check_stop
from workers.reporting import alert_or_report, observe

log = logging.getLogger(__name__)

ensure_broker()

#: A run's own time limit (seconds); dramatiq's TimeLimit (20 min) is only the backstop.
RUN_TIME_LIMIT_S = 15 * 60

RunFn = Callable[..., Any]  # workers.runner.run_operation's signature


def process_sync(
    tenant_id: Any,
    integration_id: Any,
    operation: Any,
    due_at: Any,
    *,
    registry: Registry | None = None,
    run: RunFn | None = None,
    holder: str | None = None,
) -> str:
    """Carry out one sync message; returns what happened (ok, failed, skipped, stale, refused,
    interrupted) for logs and tests."""
    registry = registry or get_registry()
    now = now_s()
    try:
        job = SyncJob.from_args(tenant_id, integration_id, operation, due_at)
    except (TypeError, ValueError) as exc:
        return _refuse(registry, f"malformed sync message: {exc}", now)

    # The tenant, its schedule row and the row marked running: one statement and an update.
    with autocommit(registry.engine) as conn:  # its parts need no common transaction
        started = start_job(conn, job, now)
        if started.status is Start.INACTIVE:
            disable_tenant(conn, job.tenant_id)  # the tick would too; no need to wait for it
    if started.status is Start.NO_TENANT:
        return _refuse(registry, f"tenant #{job.tenant_id} is not registered", now, job)
    tenant = tenant_of(started.tenant)
    if started.status is Start.INACTIVE:
        return _refuse(registry, f"tenant {tenant.name} is inactive", now, job)
    with run_scope(tenant.name, job.integration_id, job.operation.value):
        return _run_job(registry, tenant, job, started, now, run=run, holder=holder)


def _run_job(
    registry: Registry, tenant: Tenant, job: SyncJob, started: Started, now: datetime, *,
    run: RunFn | None, holder: str | None,
) -> str:
    if started.status is Start.MISSING:
        return _refuse(
            registry, f"integration #{job.integration_id} is not one of tenant {tenant.name}'s "
            f"scheduled integrations", now, job,
        )
    if started.status is Start.STALE:
        log.info("%s: stale message for %s (another due time is queued or it already ran)",
                 job.operation.value, job.due_at)
        return "stale"
    assert started.schedule_id is not None

    if run is None:
        run = runner.run_operation  # looked up per message: a test worker may replace it
    engine = registry.tenant_engine(tenant)
    interrupted, result, clock = False, None, time.monotonic()
    try:
        result = run(
            engine, job.integration_id, job.operation, trigger="schedule",
            event_history=tenant.event_history, holder=holder, progress=check_stop,
            time_limit_s=RUN_TIME_LIMIT_S, safety=SafetyLimits.from_settings(registry.settings),
        )
        outcome, error, finished = result.outcome, result.error, _naive(result.finished_at)
    except StopRequested:
        # The run recorded itself as interrupted and released its lease.
        interrupted = True
        outcome, error, finished = "failed", "interrupted: the worker was stopping", now_s()
    except TimeLimitExceeded:
        # dramatiq's backstop fired (the run's own limit did not: a call blocked in C code).
        # Recorded like any failure; no dramatiq retry: the next slot is the retry.
        outcome, error, finished = "failed", "dramatiq's time limit stopped the run", now_s()
    except (SQLAlchemyError, OSError) as exc:  # the tenant DB is unreachable: nothing recorded
        outcome, error, finished = "failed", f"cannot run: {db_error_line(exc)}", now_s()

    # The settings this run read, rather than a second read of the tenant database.
    read = (result.config,) if result is not None and result.config_read else None
    if read is None:
        read = _reread(engine, job.integration_id)
    error = redact(error) if error else error  # a driver may echo the URL it could not reach
    kept = result.kept if result is not None else None
    (cfg,) = read if read is not None else (None,)
    # The row's own settings ride on the report (one UPDATE); its siblings follow at the
    # tenant's next refresh. An integration gone from the ERP loses all its rows now.
    settings = None if cfg is None else RowSettings.of(
        cfg, job.operation, tenant_id=tenant.id, tenant_active=tenant.is_active)
    gone = read is not None and cfg is None
    with registry.engine.begin() if gone else autocommit(registry.engine) as conn:
        if gone:
            refresh_integration(registry, tenant, engine, job.integration_id, now=finished,
                                read=read, conn=conn)
        report_run(conn, started.schedule_id, outcome=outcome, error=error,
                   finished_at=finished, due_again_now=interrupted, kept=kept,
                   settings=settings)
    write_state_after_run(registry, tenant, engine, finished)  # for the ERP; once a minute
    observe(job, "interrupted" if interrupted else outcome, time.monotonic() - clock, result)
    if outcome == "failed":
        alert_or_report(registry, tenant, engine, job, started.schedule_id, error=error,
                        interrupted=interrupted,
                        safety_stop=result is not None and result.safety_stop,
                        config_error=result is not None and result.config_error)
    log.info("%s tenant=%s integration=%s: %s%s", job.operation.value, tenant.name,
             job.integration_id, outcome, f" ({error})" if error else "")
    return "interrupted" if interrupted else outcome


def _reread(engine: Engine, integration_id: int) -> tuple[IntegrationConfig | None] | None:
    """The integration's settings when the run did not read them; None if they cannot be."""
    try:
        with engine.connect() as conn:
            return (load_integration(conn, integration_id),)
    except SQLAlchemyError as exc:
        log.warning("could not re-read integration %s's settings: %s", integration_id,
                    db_error_line(exc))
        return None


def _refuse(registry: Registry, reason: str, now: datetime, job: SyncJob | None = None) -> str:
    log.warning("refused: %s", reason)
    with registry.engine.begin() as conn:
        record_event(
            conn, REFUSED, reason, at=now, level="warning",
            tenant_id=job.tenant_id if job else None,
            integration_id=job.integration_id if job else None,
            operation=job.operation.value if job else None,
            message_id=_current_message_id(),
        )
    return "refused"


def _current_message_id() -> str | None:
    message = CurrentMessage.get_current_message()
    return message.message_id if message is not None else None


def _naive(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def _sync_actor(queue: str) -> Any:
    def sync(tenant_id: int, integration_id: int, operation: str, due_at: str) -> None:
        process_sync(tenant_id, integration_id, operation, due_at)

    sync.__name__ = sync.__qualname__ = SYNC_ACTORS[queue]
    return dramatiq.actor(actor_name=SYNC_ACTORS[queue], queue_name=queue)(sync)


sync_orders = _sync_actor(ORDERS)
sync_stock = _sync_actor(STOCK)
sync_catalog = _sync_actor(CATALOG)
