"""Fixtures for the operating side: Sentry with a capturing transport, a StubBroker worker with
our middleware, a webhook receiver on 127.0.0.1, free ports, and schedule helpers.

The control DB, RabbitMQ vhost and WooCommerce sandbox fixtures are the service tests' own.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dramatiq
import pytest
import sentry_sdk
from dramatiq.brokers.stub import StubBroker
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport
from sqlalchemy import select, update

from shared.control.schedule import claim_due, now_s
from shared.control.tables import schedules
from shared.erp.retry_set import Summary
from shared.jobs import SyncJob
from shared.telemetry.sentry import init_sentry
from tests.service import conftest as service_fixtures
from tests.service.conftest import Control, FakeResult
from workers.domain import Operation

# The service tests' fixtures, used here too: assigned, not imported by name, so the helpers'
# `control` parameters below do not shadow an import.
any_control = service_fixtures.any_control
control = service_fixtures.control
shop = service_fixtures.shop
vhost = service_fixtures.vhost

class CapturingTransport(Transport):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            if item.type == "event":
                self.events.append(item.payload.json)


@pytest.fixture
def sentry_events() -> Iterator[list[dict[str, Any]]]:
    """Sentry on, events captured in a list (a broker built meanwhile gets its middleware)."""
    transport = CapturingTransport()
    init_sentry(None, transport=transport)
    yield transport.events
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # a disabled client again for the rest of the suite


@dataclass
class StubWorker:
    """A StubBroker with the service's middleware and a dramatiq Worker on it."""

    broker: StubBroker
    actors: dict[str, Any] = field(default_factory=dict)

    def sync_actor(self, queue: str, **options: Any) -> Any:
        """The real sync actor's function, declared on this broker (no retries by default)."""
        from workers import actors

        real = {"orders": actors.sync_orders, "stock": actors.sync_stock,
                "catalog": actors.sync_catalog}[queue]
        options.setdefault("max_retries", 0)
        actor = dramatiq.actor(real.fn, broker=self.broker, actor_name=real.actor_name,
                               queue_name=queue, **options)
        self.actors[queue] = actor
        return actor

    def run(self, queue: str, *args: Any) -> None:
        """Send one message and wait until the worker is done with it."""
        self.actors[queue].send(*args)
        self.broker.join(queue, fail_fast=False)


@pytest.fixture
def stub_worker() -> Iterator[Callable[[], StubWorker]]:
    """Build (after `sentry_events`, if the test wants Sentry) a StubBroker worker."""
    from workers.broker import build_stub_broker

    made: list[tuple[StubBroker, dramatiq.Worker]] = []

    def make() -> StubWorker:
        broker = build_stub_broker()
        worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
        worker.start()
        made.append((broker, worker))
        return StubWorker(broker)

    yield make
    for broker, worker in made:
        worker.stop()
        broker.close()


# -- webhook receiver ------------------------------------------------------------------------


@dataclass
class Receiver:
    url: str
    posts: list[dict[str, Any]] = field(default_factory=list)
    status: int = 204


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    """A tiny HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it."""
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.posts.append({"path": self.path, "content_type": self.headers.get(
                "Content-Type"), "json": json.loads(body)})
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T0K3N-in-path"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- schedule helpers ------------------------------------------------------------------------


def due_job(control: Control, operation: Operation, *, now: datetime | None = None) -> SyncJob:
    """Make `operation`'s row due and claim it, as the tick would; its message."""
    now = now or now_s()
    with control.registry.engine.begin() as conn:
        conn.execute(update(schedules).where(schedules.c.operation == operation.value)
                     .values(next_due_at=now - timedelta(minutes=1), queued_at=None,
                             running_since=None))
        claimed = claim_due(conn, now, limit=100)
    [job] = [c.job for c in claimed if c.job.operation is operation]
    return job


def row(control: Control, operation: Operation) -> Any:
    with control.registry.engine.connect() as conn:
        return conn.execute(
            select(schedules).where(schedules.c.operation == operation.value)
        ).one()


def set_row(control: Control, operation: Operation, **values: Any) -> None:
    with control.registry.engine.begin() as conn:
        conn.execute(update(schedules).where(schedules.c.operation == operation.value)
                     .values(**values))


class FakeRun:
    """A stand-in for run_operation with a fixed outcome (and retry set, for imports)."""

    def __init__(self, outcome: str = "ok", error: str | None = None,
                 kept: Summary | None = None) -> None:
        self.outcome, self.error, self.kept = outcome, error, kept

    def __call__(self, engine: Any, integration_id: int, operation: Operation,
                 **kw: Any) -> FakeResult:
        return FakeResult(self.outcome, self.error, datetime.now(UTC), kept=self.kept)
