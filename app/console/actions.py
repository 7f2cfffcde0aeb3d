"""What the console's buttons do, each recorded in the control DB's service events with the
name of the user who pressed it (kind `console`)."""

from __future__ import annotations

from datetime import datetime

from dramatiq.broker import Broker

from app.console.accounts import User
from producers.tick import PublishFailed, publish_due
from shared.control.registry import Registry, Tenant
from shared.control.schedule import Due, ScheduleConfig, make_due_now
from shared.control.service_log import record_event
from shared.operation import Operation

CONSOLE = "console"


def record(registry: Registry, user: User | str, what: str, now: datetime, *,
           tenant_id: int | None = None, integration_id: int | None = None,
           operation: str | None = None, level: str = "info") -> None:
    name = user.name if isinstance(user, User) else user
    with registry.engine.begin() as conn:
        record_event(conn, CONSOLE, f"{name}: {what}", at=now, level=level, tenant_id=tenant_id,
                     integration_id=integration_id, operation=operation)


def run_now(
    registry: Registry, broker: Broker, user: User, tenant: Tenant, integration_id: int,
    operation: Operation, now: datetime,
) -> Due:
    """Make the row due and publish it as the tick would (claimed in the control DB, so a
    tick at the same moment cannot send it twice); the worker takes the lease as for any run."""
    config = ScheduleConfig.from_env()
    with registry.engine.begin() as conn:
        found = make_due_now(conn, tenant.id, integration_id, operation, now, config=config)
    if found is Due.DUE:
        try:
            publish_due(registry.engine, broker, now, config, tenant_id=tenant.id)
        except PublishFailed:  # the rows are due again: the next tick sends them
            pass
    record(registry, user, f"run now {operation.cli_name} of integration {integration_id}: "
           f"{found.value}", now, tenant_id=tenant.id, integration_id=integration_id,
           operation=operation.value)
    return found
