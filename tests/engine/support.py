"""Shared test support for the engine and operation tests.

`woo`: a WooCommerce sandbox served over real HTTP on 127.0.0.1, with request counting.
`erp`: the demo ERP (SQLite or PostgreSQL, from the root conftest) whose integration 1 points
at that sandbox. `run(erp, op, ...)` runs an operation through the real WooCommerce client,
with retry back-off sleeps skipped so fault-injection tests stay fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, text, update

from shared.erp import schema as erp_schema
from shared.erp.sync_tables import sync_cursors, sync_events
from workers.domain import Operation
from workers.engine.runner import RunResult, run_operation
from workers.ports import ShopClient, ShopConnection
from workers.shops.sandbox import SandboxHandle
from workers.shops.woocommerce.client import WooCommerceClient
from workers.shops.woocommerce.sandbox import WooCommerceSandbox

KEY, SECRET = "ck_test_0123456789", "cs_test_0123456789"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Shop:
    sandbox: WooCommerceSandbox
    handle: SandboxHandle

    @property
    def base_url(self) -> str:
        return self.handle.base_url

    def writes(self, path: str | None = None) -> int:
        return sum(self.sandbox.log.count(m, path) for m in WRITE_METHODS)

    def reads(self, path: str | None = None) -> int:
        return self.sandbox.log.count("GET", path)

    def calls(self) -> int:
        return len(self.sandbox.log)

    def add_orders(self, n: int, *, sku: str = "DEMO-0001", status: str = "processing",
                   start: datetime | None = None, step: timedelta = timedelta(seconds=1),
                   **fields: Any) -> list[dict[str, Any]]:
        """`n` orders, created `step` apart from `start` (default: 10 minutes ago)."""
        start = start or ago(minutes=10)
        return [self.sandbox.add_order([(sku, 1, "12.30")], status=status,
                                       created=start + i * step, **fields) for i in range(n)]


def ago(**delta: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(**delta)


def no_sleep_factory(transport: httpx.BaseTransport | None = None) -> Callable[[ShopConnection], ShopClient]:
    """The real client over real HTTP, minus the back-off sleeps (and with an optional seam)."""
    def factory(conn: ShopConnection) -> ShopClient:
        return WooCommerceClient(conn, transport=transport, sleep=lambda _s: None)
    return factory


def run(engine: Engine, operation: Operation | str, **kwargs: Any) -> RunResult:
    kwargs.setdefault("shop_factory", no_sleep_factory())
    return run_operation(engine, 1, Operation.parse(operation) if isinstance(operation, str)
                         else operation, **kwargs)


def fix_sequences(engine: Engine) -> None:
    """The demo inserts explicit ids; on PostgreSQL move the sequences past them."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for table in ("products", "warehouses", "labels", "order_statuses", "shop_integrations"):
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            ))


def point_at(engine: Engine, shop: Shop, *, key: str = KEY, secret: str = SECRET) -> None:
    with engine.begin() as conn:
        conn.execute(update(erp_schema.shop_integrations)
                     .where(erp_schema.shop_integrations.c.id == 1)
                     .values(base_url=shop.base_url, api_key=key, api_secret=secret))


@pytest.fixture
def woo() -> Iterator[Shop]:
    sandbox = WooCommerceSandbox(KEY, SECRET, site_timezone="Europe/Warsaw")
    handle = sandbox.serve(host="127.0.0.1", port=0)
    try:
        yield Shop(sandbox, handle)
    finally:
        handle.stop()


@pytest.fixture
def erp(erp_engine: Engine, woo: Shop) -> Engine:
    fix_sequences(erp_engine)
    point_at(erp_engine, woo)
    return erp_engine


# -- reading the ERP back -------------------------------------------------------------------------


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def rows(engine: Engine, stmt: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(stmt).all())


def cursor(engine: Engine, name: str) -> datetime | None:
    with engine.connect() as conn:
        value = conn.execute(select(sync_cursors.c.value).where(
            sync_cursors.c.integration_id == 1, sync_cursors.c.name == name)).scalar()
    return None if value is None else value.replace(tzinfo=UTC)


def events(engine: Engine, *where: Any) -> list[Any]:
    return rows(engine, select(sync_events).where(*where).order_by(sync_events.c.id))


def money(value: str) -> Decimal:
    return Decimal(value)
