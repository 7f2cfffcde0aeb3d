"""Shared test support for the engine and operation tests.

`woo`: a WooCommerce sandbox served over real HTTP on 127.0.0.1, with request counting.
`erp`: the demo ERP (SQLite or PostgreSQL, from the root conftest) whose integration 1 points
at that sandbox. `run(erp, op, ...)` runs an operation through the real WooCommerce client,
with retry back-off sleeps skipped so fault-injection tests stay fast.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, func, select, text, update

from shared.db import make_engine
from shared.erp import schema as erp_schema
from shared.erp.demo import create_erp_schema, fill_demo
from shared.erp.schema import erp_metadata
from shared.erp.sync_tables import sync_cursors, sync_events, sync_metadata
from shared.migrate import TENANT, upgrade
from workers.domain import Operation
from workers.ports import ShopClient, ShopConnection
from workers.runner import RunResult, run_operation
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
        """`n` orders, created `step` apart from `start` (default: 10 minutes ago), of a product
        the shop carries (WooCommerce gives a line of a product it lacks no SKU at all)."""
        start = start or ago(minutes=10)
        with self.sandbox.lock:
            carried = any(p.get("sku") == sku for p in self.sandbox.products.values())
        if not carried:
            self.sandbox.add_product(sku=sku, name=f"Produkt {sku}", regular_price="12.30")
        return [self.sandbox.add_order([(sku, 1, "12.30")], status=status,
                                       created=start + i * step, **fields) for i in range(n)]


def ago(**delta: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(**delta)


def no_sleep_factory(
    transport: httpx.BaseTransport | None = None, *, batch_size: int | None = None
) -> Callable[[ShopConnection], ShopClient]:
    """The real client over real HTTP, minus the back-off sleeps (and with an optional seam;
    a small `batch_size` makes more calls, so fault injection has more to hit)."""
    def factory(conn: ShopConnection) -> ShopClient:
        client = WooCommerceClient(conn, transport=transport, sleep=lambda _s: None)
        if batch_size is not None:
            client.batch_size = batch_size
        return client
    return factory


def run(engine: Engine, operation: Operation | str, **kwargs: Any) -> RunResult:
    kwargs.setdefault("shop_factory", no_sleep_factory())
    return run_operation(engine, 1, Operation.parse(operation) if isinstance(operation, str)
                         else operation, **kwargs)


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


PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def shared_pg() -> Iterator[str]:
    """One PostgreSQL database for the whole session, emptied before each test (see `erp_db`):
    creating a database and migrating it costs ~0.5 s, a TRUNCATE a few milliseconds."""
    name = f"iluo_ops_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        # A throwaway database: no need to wait for each commit to reach the disk.
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    engine = make_engine(url)
    create_erp_schema(engine)
    upgrade(engine, TENANT)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


MARIA_ADMIN = "mysql+pymysql://root@127.0.0.1:3306/"


@pytest.fixture(scope="session")
def shared_maria() -> Iterator[str]:
    """Like `shared_pg`, on MariaDB."""
    name = f"iluo_ops_{uuid.uuid4().hex[:12]}"
    admin = create_engine(MARIA_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    url = f"mysql+pymysql://root@127.0.0.1:3306/{name}"
    engine = make_engine(url)
    create_erp_schema(engine)
    upgrade(engine, TENANT)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


def empty(engine: Engine) -> None:
    """Delete every row of the ERP and sync tables and restart their ids (test databases only)."""
    tables = [*erp_metadata.tables, *sync_metadata.tables]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE TABLE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            return
        conn.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
        for table in tables:
            conn.execute(text(f"TRUNCATE TABLE `{table}`"))
        conn.execute(text("SET FOREIGN_KEY_CHECKS = 1"))


@pytest.fixture(params=["sqlite", "postgresql"])
def erp_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The demo ERP with current sync_* tables: a fresh SQLite file, or the session's
    PostgreSQL database emptied and refilled."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'erp.db'}")
        create_erp_schema(engine)
        upgrade(engine, TENANT)
    else:
        engine = make_engine(request.getfixturevalue("shared_pg"))
        empty(engine)
    fill_demo(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def erp(erp_db: Engine, woo: Shop) -> Engine:
    """`erp_db` whose integration 1 points at the `woo` sandbox."""
    point_at(erp_db, woo)
    return erp_db


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
