"""The receiver against real things: a control DB on PostgreSQL, a tenant ERP database whose
integration points at a WooCommerce sandbox, a private RabbitMQ vhost; the receiver through
Starlette's test client, or on a real port for the sandbox to deliver to."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.fernet import Fernet
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from app.webhooks import store
from app.webhooks.receiver import Limits, Receiver, create_app
from app.webhooks.signatures import woo_signature
from shared.broker import build_broker
from shared.control.refresh import refresh_tenant
from shared.control.registry import Registry, Tenant
from shared.control.runtime import use_registry
from shared.control.schedule import now_s
from shared.control.tables import schedules
from shared.db import make_engine
from shared.erp.demo import create_erp_schema, fill_demo
from shared.jobs import ORDERS
from shared.settings import Settings
from tests.console.conftest import CK, CS
from tests.rabbit import RABBIT, private_vhost
from tests.webhooks.harness import RealWorker, Served
from workers.shops.shoper.sandbox import ShoperSandbox
from workers.shops.woocommerce.sandbox import WooCommerceSandbox

INTEGRATION = 1
SHOPER_LOGIN, SHOPER_PASSWORD = "webapi", "webapi-secret"


@dataclass
class Hooked:
    registry: Registry
    vhost: str
    broker: RabbitmqBroker
    shop: Any  # WooCommerceSandbox or ShoperSandbox: both keep their webhooks in `.hooks`
    tenant: Tenant
    erp: Engine
    token: str
    secret: str
    limits: Limits
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self, limits: Limits | None = None) -> TestClient:
        return TestClient(create_app(self.registry, self.broker, limits or self.limits),
                          base_url="http://127.0.0.1")

    def signed(self, body: bytes, *, topic: str = "order.created",
               secret: str | None = None) -> dict[str, str]:
        return {"Content-Type": "application/json", "X-WC-Webhook-Topic": topic,
                "X-WC-Webhook-Signature": woo_signature(secret or self.secret, body)}

    def row(self) -> Any:
        with self.registry.engine.connect() as conn:
            return conn.execute(select(schedules).where(
                schedules.c.tenant_id == self.tenant.id,
                schedules.c.integration_id == INTEGRATION,
                schedules.c.operation == "import_orders")).one()

    def queued_messages(self) -> int:
        return int(self.broker.get_queue_message_counts(ORDERS)[0])

    def wait(self, what: Callable[[], bool], timeout: float = 90.0) -> bool:
        """Poll until `what` holds (a deadline so a failure ends, never a timing assertion)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if what():
                return True
            time.sleep(0.05)
        return what()


@pytest.fixture
def hooked(request: pytest.FixtureRequest,
           make_database: Callable[[str], str]) -> Iterator[Hooked]:
    """Parametrise indirectly with "shoper" for a Shoper sandbox; WooCommerce otherwise."""
    with private_vhost("iluo_hooks") as name:
        yield from _hooked(request, name, make_database)


def _hooked(request: pytest.FixtureRequest, name: str,
            make_database: Callable[[str], str]) -> Iterator[Hooked]:
    settings = Settings(control_db=make_database("postgresql"),
                        secret_key=Fernet.generate_key().decode(), rabbitmq_api="")
    registry = Registry(settings)
    use_registry(registry)
    broker = build_broker(settings, url=RABBIT + name)
    broker.declare_queue(ORDERS, ensure=True)
    platform = getattr(request, "param", "woocommerce")
    shop: WooCommerceSandbox | ShoperSandbox = (
        ShoperSandbox(SHOPER_LOGIN, SHOPER_PASSWORD) if platform == "shoper"
        else WooCommerceSandbox(CK, CS, site_timezone="Europe/Warsaw"))
    key, secret_key = (SHOPER_LOGIN, SHOPER_PASSWORD) if platform == "shoper" else (CK, CS)
    handle = shop.serve("127.0.0.1", 0)
    url = make_database("sqlite")
    erp = make_engine(url)
    create_erp_schema(erp)
    fill_demo(erp, platform=platform, base_url=handle.base_url, api_key=key,
              api_secret=secret_key, products=4)
    tenant = registry.add("shop", url)
    refresh_tenant(registry, tenant.id)
    with registry.tenant_engine(tenant).begin() as conn:
        token, secret = store.create(conn, registry.box, tenant.id, INTEGRATION, now_s())
    # Not due for minutes, as after a scheduled run: only a poke can make it due now.
    with registry.engine.begin() as conn:
        conn.execute(schedules.update().values(next_due_at=now_s().replace(year=2100)))
    try:
        yield Hooked(registry, RABBIT + name, broker, shop, tenant, erp, token, secret,
                     Limits(debounce=0.2))
    finally:
        handle.stop()
        broker.close()
        use_registry(None)
        erp.dispose()
        registry.close()


@pytest.fixture
def worker(hooked: Hooked) -> Iterator[RealWorker]:
    """A dramatiq worker running the real sync actors on the test's vhost."""
    running = RealWorker.start(hooked.registry.settings, hooked.vhost)
    try:
        yield running
    finally:
        running.stop()


@dataclass
class Live:
    """The receiver on a real port and a dramatiq worker running the real sync actors."""

    url: str
    hooked: Hooked
    receiver: Receiver

    def settled(self) -> bool:
        """The shop has sent everything, the receiver has published everything, and no run
        is queued or under way: nothing more will happen without a new order."""
        row = self.hooked.row()
        return (self.hooked.shop.hooks.idle() and self.receiver.idle()
                and row.queued_at is None and row.running_since is None)


@pytest.fixture
def live(hooked: Hooked, worker: RealWorker) -> Iterator[Live]:
    app = create_app(hooked.registry, hooked.broker, hooked.limits)
    served = Served.start(app)
    try:
        yield Live(served.url, hooked, app.state.receiver)
    finally:
        served.stop()
