"""The console against real things: a control DB on PostgreSQL, tenant ERP databases, a
private RabbitMQ vhost, a WooCommerce sandbox shop, and for the browser a real uvicorn server
and dramatiq worker threads consuming what Run now publishes."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import pytest
import uvicorn
from cryptography.fernet import Fernet
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.console.accounts import add_user
from app.console.web import create_app
from shared.broker import build_broker
from shared.control.refresh import refresh_tenant
from shared.control.registry import Registry, Tenant
from shared.control.runtime import use_registry
from shared.control.schedule import now_s
from shared.db import make_engine
from shared.erp.demo import create_erp_schema, fill_demo
from shared.jobs import SYNC_QUEUES
from shared.settings import Settings
from tests.rabbit import RABBIT, private_vhost
from workers import actors
from workers import broker as worker_broker
from workers.shops.woocommerce.sandbox import WooCommerceSandbox

CK, CS = "ck_console_test", "cs_console_test"
OPERATOR, OPERATOR_PASSWORD = "operator", "operator-password-1"


@dataclass
class Site:
    """A control DB with tenants, a sandbox shop, a broker on a private vhost, the console."""

    registry: Registry
    vhost: str
    broker: RabbitmqBroker
    shop: WooCommerceSandbox
    shop_url: str
    make_database: Callable[[str], str]
    app: Starlette
    engines: dict[str, Engine] = field(default_factory=dict)

    def erp(self, backend: str = "sqlite", *, products: int = 6) -> tuple[str, Engine]:
        """A fresh ERP database whose integration points at the sandbox shop."""
        url = self.make_database(backend)
        engine = make_engine(url)
        create_erp_schema(engine)
        fill_demo(engine, base_url=self.shop_url, api_key=CK, api_secret=CS,
                  products=products)
        return url, engine

    def add_tenant(self, name: str, backend: str = "sqlite") -> tuple[Tenant, Engine]:
        url, engine = self.erp(backend)
        tenant = self.registry.add(name, url)
        refresh_tenant(self.registry, tenant.id)
        self.engines[name] = engine
        return tenant, engine

    def add_user(self, name: str, password: str, tenant: Tenant | None = None) -> None:
        with self.registry.engine.begin() as conn:
            add_user(conn, name, password, tenant_id=tenant.id if tenant else None, now=now_s())

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="http://127.0.0.1")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def log_in(client: TestClient, name: str, password: str) -> Any:
    page = client.get("/login")
    return client.post("/login", data={"name": name, "password": password,
                                       "csrf": csrf_of(page.text)}, follow_redirects=False)


@pytest.fixture
def site(make_database: Callable[[str], str]) -> Iterator[Site]:
    with private_vhost("iluo_console") as name:
        yield from _site(name, make_database)


def _site(name: str, make_database: Callable[[str], str]) -> Iterator[Site]:
    settings = Settings(control_db=make_database("postgresql"),
                        secret_key=Fernet.generate_key().decode(), rabbitmq_api="")
    registry = Registry(settings)
    use_registry(registry)
    broker = build_broker(settings, url=RABBIT + name)
    shop = WooCommerceSandbox(CK, CS, site_timezone="Europe/Warsaw")
    handle = shop.serve("127.0.0.1", 0)
    site = Site(registry, RABBIT + name, broker, shop, handle.base_url, make_database,
                create_app(registry, broker))
    site.add_user(OPERATOR, OPERATOR_PASSWORD)
    try:
        yield site
    finally:
        handle.stop()
        broker.close()
        use_registry(None)
        for engine in site.engines.values():
            engine.dispose()
        registry.close()


@dataclass
class Served:
    url: str
    site: Site


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(site: Site) -> Iterator[Served]:
    """The console on a real port (uvicorn in a thread) and a dramatiq worker with the real
    sync actors and the workers' middleware, consuming the site's vhost."""
    consuming = worker_broker.build_broker(site.registry.settings, url=site.vhost)
    for queue in SYNC_QUEUES:
        real = {"orders": actors.sync_orders, "stock": actors.sync_stock,
                "catalog": actors.sync_catalog}[queue]
        dramatiq.actor(real.fn, broker=consuming, actor_name=real.actor_name, queue_name=queue)
    worker = dramatiq.Worker(consuming, worker_threads=2, worker_timeout=200)
    worker.start()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(site.app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, name="console", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the console did not start"
    try:
        yield Served(f"http://127.0.0.1:{port}", site)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        worker.stop()
        consuming.close()
