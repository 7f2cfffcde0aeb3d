"""The worker side of the broker: our middleware around the message middleware every process
carries (shared.broker), and `setup`, the entry point of `dramatiq workers.broker:setup …`.

- DeliveryLimit parks a message that keeps killing workers;
- GracefulStop lets a run stop at an item boundary on SIGTERM;
- WorkerHeartbeat feeds `status`;
- Metrics counts messages for Prometheus and serves ILUO_SYNC_METRICS_PORT in each worker
  process;
- CurrentMessage lets an actor name the message it refuses;
- PrefetchFit divides the prefetch over the queues a worker consumes, so no delivered message
  waits unacked behind long runs (RabbitMQ's consumer timeout counts from delivery).
"""

from __future__ import annotations

import dramatiq
from dramatiq import broker as broker_module
from dramatiq.broker import Broker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Middleware
from sqlalchemy import Engine

from shared import broker as shared_broker
from shared.control.runtime import get_registry
from shared.settings import Settings, get_settings
from workers.middleware import DeliveryLimit, GracefulStop, Metrics, PrefetchFit, WorkerHeartbeat
from workers.middleware.delivery_limit import MAX_DELIVERIES


def _control_engine() -> Engine:
    """The control DB, reached through the process registry when a hook needs it."""
    return get_registry().engine


def service_middleware(max_deliveries: int | None = None) -> list[Middleware]:
    """A worker's middleware stack, in order."""
    return [
        # Its after-hooks run last, once Retries and DeliveryLimit have decided a message's fate.
        Metrics(get_settings),
        # A parked message must not start anything else (timers, retries).
        DeliveryLimit(_control_engine, max_deliveries=max_deliveries or MAX_DELIVERIES),
        *shared_broker.message_middleware(),
        GracefulStop(),
        CurrentMessage(),
        WorkerHeartbeat(_control_engine),
        PrefetchFit(),  # before the consumers start: no message waits behind long runs
    ]


def build_broker(settings: Settings | None = None, *, url: str | None = None) -> RabbitmqBroker:
    """A worker's RabbitMQ broker (not yet made the global one)."""
    return shared_broker.build_broker(settings, url=url, middleware=service_middleware())


def build_stub_broker() -> StubBroker:
    """dramatiq's in-process broker with a worker's middleware: the demo, with no RabbitMQ."""
    return shared_broker.build_stub_broker(service_middleware())


def setup() -> None:
    """Entry point for `dramatiq workers.broker:setup …`: the worker process's global broker."""
    shared_broker.setup(service_middleware())


def ensure_broker() -> Broker:
    """The global broker; a worker's, built from settings, if no entry point has set one."""
    if broker_module.global_broker is None:
        setup()
    return dramatiq.get_broker()
