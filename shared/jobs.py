"""The message contract: queue names, actor names and what a message carries.

A message carries ids only — (tenant_id, integration_id, operation, due_at) — never credentials,
settings or payloads: the worker reads everything else at run time, so a settings change applies
at the next run, and nothing secret ever sits in RabbitMQ, a dead-letter queue or a Sentry event.

Queues by kind of work, so one kind never waits behind another (dramatiq's actor priority only
orders messages already prefetched by one worker):

- ``ticks``    the minute tick (periodiq) — its own small worker group;
- ``settings`` per-tenant settings refreshes the tick fans out — consumed by that same group;
- ``orders``   import_orders, update_order_statuses;
- ``stock``    update_stock;
- ``catalog``  export_products, import_products (one lease resource, see Operation.resource).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dramatiq

from shared.operation import Operation

TICKS, SETTINGS, ORDERS, STOCK, CATALOG = "ticks", "settings", "orders", "stock", "catalog"
#: Every queue the service uses, in the order a worker with no `--queues` lists them.
QUEUES: tuple[str, ...] = (TICKS, SETTINGS, ORDERS, STOCK, CATALOG)
#: The queues of the sync workers (the tick group takes the rest).
SYNC_QUEUES: tuple[str, ...] = (ORDERS, STOCK, CATALOG)

#: Actor names, fixed here so a producer can publish without importing the worker's code.
TICK_ACTOR = "tick"
REFRESH_ACTOR = "refresh_settings"
SYNC_ACTORS: dict[str, str] = {ORDERS: "sync_orders", STOCK: "sync_stock", CATALOG: "sync_catalog"}

_QUEUE_OF: dict[Operation, str] = {
    Operation.IMPORT_ORDERS: ORDERS,
    Operation.UPDATE_ORDER_STATUSES: ORDERS,
    Operation.UPDATE_STOCK: STOCK,
    Operation.EXPORT_PRODUCTS: CATALOG,
    Operation.IMPORT_PRODUCTS: CATALOG,
}


def queue_for(operation: Operation) -> str:
    return _QUEUE_OF[operation]


def actor_for(operation: Operation) -> str:
    return SYNC_ACTORS[_QUEUE_OF[operation]]


def parse_due(text: str) -> datetime:
    """The due time as sent: naive UTC, whole seconds (the schedule's own format)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        raise ValueError(f"due_at must be naive UTC, got {text!r}")
    return moment


@dataclass(frozen=True, slots=True)
class SyncJob:
    """One due (tenant, integration, operation): what a sync message stands for."""

    tenant_id: int
    integration_id: int
    operation: Operation
    due_at: datetime  # naive UTC: the schedule slot this message was claimed for

    @property
    def queue(self) -> str:
        return queue_for(self.operation)

    @property
    def actor(self) -> str:
        return actor_for(self.operation)

    def args(self) -> tuple[int, int, str, str]:
        """Positional actor arguments: ids, the operation name and the due time in ISO form."""
        return (self.tenant_id, self.integration_id, self.operation.value, self.due_at.isoformat())

    @classmethod
    def from_args(cls, tenant_id: Any, integration_id: Any, operation: Any, due_at: Any) -> SyncJob:
        """Validate what came off the wire: a malformed message raises ValueError."""
        if not isinstance(tenant_id, int) or not isinstance(integration_id, int):
            raise ValueError("tenant_id and integration_id must be integers")
        if not isinstance(operation, str) or not isinstance(due_at, str):
            raise ValueError("operation and due_at must be strings")
        return cls(tenant_id, integration_id, Operation.parse(operation), parse_due(due_at))

    def message(self) -> dramatiq.Message[Any]:
        """The dramatiq message, built without the actor object so a publisher needs no actor
        module imported (the tick, benchmarks)."""
        return dramatiq.Message(
            queue_name=self.queue, actor_name=self.actor, args=self.args(), kwargs={}, options={}
        )


def refresh_message(tenant_id: int) -> dramatiq.Message[Any]:
    """Re-read one tenant's integration settings into the schedule."""
    return dramatiq.Message(
        queue_name=SETTINGS, actor_name=REFRESH_ACTOR, args=(tenant_id,), kwargs={}, options={}
    )
