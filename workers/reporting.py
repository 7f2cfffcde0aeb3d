"""What a sync actor tells ops once its run is recorded: metrics, then an alert or a Sentry event.

Called by `process_sync` after `report_run`, inside the run's Sentry scope. One failing run makes
exactly one Sentry event: the alert's, when this failure opened an alert episode
(shared.control.alerts), otherwise `report_failed_run`'s. An interrupted run (the worker was
stopping) is no error of the shop's or ours, so it reports nothing to Sentry; it still counts
towards an alert, as the schedule counts it as a failure.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.control.alerts import (
    AlertRules,
    claim_config_alert,
    claim_failure_alert,
    claim_safety_alert,
)
from shared.control.registry import Registry, Tenant
from shared.control.schedule import now_s
from shared.jobs import SyncJob
from shared.telemetry.alerting import raise_alert
from shared.telemetry.metrics import observe_run, observe_shop_calls
from shared.telemetry.sentry import report_failed_run

log = logging.getLogger(__name__)


def observe(job: SyncJob, outcome: str, seconds: float, result: Any) -> None:
    """Runs by outcome, duration, items and shop calls (a stand-in result may lack the last)."""
    observe_run(job.operation.value, outcome, seconds, dict(getattr(result, "counts", None) or {}))
    calls, platform = getattr(result, "shop_calls", None), getattr(result, "platform", None)
    if calls and platform:
        observe_shop_calls(platform, calls)


def alert_or_report(
    registry: Registry,
    tenant: Tenant,
    engine: Any,
    job: SyncJob,
    schedule_id: int,
    *,
    error: str | None,
    interrupted: bool,
    safety_stop: bool = False,
    config_error: bool = False,
) -> None:
    """A failed run: raise its alert if this failure is the one that crossed the threshold
    (a safety stop or a configuration error crosses it at once), else report the failure (one
    event either way)."""
    rules = AlertRules.from_settings(registry.settings)
    claim = (claim_safety_alert if safety_stop
             else claim_config_alert if config_error else claim_failure_alert)
    try:
        with registry.engine.begin() as conn:
            alert = claim(conn, schedule_id, now_s(), rules)
    except Exception:  # the tick's check is the backstop
        log.warning("could not check whether %s needs an alert", job.operation.value,
                    exc_info=True)
        alert = None
    if alert is not None:
        raise_alert(alert, tenant.name, engine=engine, settings=registry.settings)
    elif not interrupted:
        report_failed_run(tenant.name, job.integration_id, job.operation.value, error or "")
