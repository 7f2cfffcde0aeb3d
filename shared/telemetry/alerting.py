"""Raising an alert claimed in the control DB (shared.control.alerts): four ways to be seen.

1. an `alert` event (level error) in the tenant's own history, next to the runs it is about;
2. a log line at ERROR;
3. a Sentry event tagged with tenant, integration and operation (and the alert's reason);
4. a JSON POST to the operator's webhook, when one is set.

Each is tried on its own: the tenant database may well be the thing that is down, and none of
them may break the run or the tick that raised the alert.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import Engine, insert

from shared.control.alerts import Alert
from shared.control.registry import Registry, db_error_line
from shared.erp.sync_tables import sync_events
from shared.redact import redact
from shared.settings import Settings
from shared.telemetry.sentry import report_alert
from shared.telemetry.webhook import post_alert

log = logging.getLogger(__name__)

ALERT_KIND = "alert"


def raise_alert(
    alert: Alert, tenant: str, *, engine: Engine | None, settings: Settings, webhook: bool = True
) -> bool:
    """Raise one alert; False when the webhook was tried and failed."""
    text = redact(alert.describe())
    log.error("ALERT tenant %s: %s", tenant, text)
    if engine is not None:
        record_alert(engine, alert, text)
    try:
        report_alert(tenant, alert.integration_id, alert.operation, alert.reason, text)
    except Exception:  # Sentry's own trouble is not the run's
        log.warning("could not report the alert to Sentry", exc_info=True)
    url = settings.alert_webhook.get_secret_value() if settings.alert_webhook else ""
    if not (webhook and url):
        return True
    return post_alert(url, {k: redact(v) if isinstance(v, str) else v
                            for k, v in alert.payload(tenant).items()})


def record_alert(engine: Engine, alert: Alert, text: str) -> bool:
    """The `alert` row in the tenant's history (always kept: it is an error, see RunRecorder)."""
    try:
        with engine.begin() as conn:
            conn.execute(insert(sync_events).values(
                run_id=None, integration_id=alert.integration_id, operation=alert.operation,
                at=alert.at, level="error", kind=ALERT_KIND,
                message=text.replace("\x00", "\\x00"),
            ))
    except Exception as exc:
        log.warning("could not record the alert in the tenant's history: %s", db_error_line(exc))
        return False
    return True


def raise_alerts(registry: Registry, alerts: Iterable[Alert]) -> int:
    """The tick's alerts, with each tenant's name and database looked up once. After one failed
    webhook POST the rest of the batch skips it: in a mass outage, a dead receiver times 200
    alerts would otherwise hold the tick for minutes."""
    tenants: dict[int, tuple[str, Engine | None]] = {}
    raised, webhook = 0, True
    for alert in alerts:
        if alert.tenant_id not in tenants:
            tenants[alert.tenant_id] = _tenant(registry, alert.tenant_id)
        name, engine = tenants[alert.tenant_id]
        if not raise_alert(alert, name, engine=engine, settings=registry.settings,
                           webhook=webhook):
            webhook = False
        raised += 1
    if not webhook:
        log.warning("alert webhook: skipped for the rest of this tick's alerts after a failure")
    return raised


def _tenant(registry: Registry, tenant_id: int) -> tuple[str, Engine | None]:
    tenant = registry.get_by_id(tenant_id)
    if tenant is None:
        return f"#{tenant_id}", None
    try:
        return tenant.name, registry.tenant_engine(tenant)
    except Exception as exc:  # a bad stored password, a missing driver: the alert goes out anyway
        log.warning("tenant %s: no history for its alert (%s)", tenant.name, db_error_line(exc))
        return tenant.name, None
