"""Fixtures for the Vendure suite: one real Vendure 3 server per test session.

`vendure` installs (first time only) and boots the pinned Vendure, sets it up as a Polish PLN
shop and yields a `VendureShop`. Without Node.js/npm the fixture raises — the tests error out
with the harness's message; they never skip. `vendure_without_api_keys` is a second server whose
`tokenMethod` leaves API keys out, booted only for the test that needs it.

`vendure_erp` is a demo ERP (SQLite) whose integration 1 points at the session's Vendure. The
server outlives single tests, so every test gives its ERP products a SKU prefix of its own
(`VendureErp.prefix`) and asserts on its own items only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, update

from shared.db import make_engine
from shared.erp import schema as erp_schema
from shared.erp.demo import create_erp_schema, fill_demo
from shared.migrate import TENANT, upgrade
from tests.vendure.harness import (
    STATUS_MAP,
    AdminApi,
    ShopSetup,
    VendureServer,
    running_vendure,
    setup_shop,
)


@dataclass
class VendureShop:
    server: VendureServer
    api: AdminApi
    setup: ShopSetup

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def api_key(self) -> str:
        return self.setup.api_key


@pytest.fixture(scope="session")
def vendure() -> Iterator[VendureShop]:
    with running_vendure() as server:
        api = AdminApi(server.admin_url)
        try:
            yield VendureShop(server, api, setup_shop(api))
        finally:
            api.close()


@pytest.fixture(scope="session")
def vendure_without_api_keys() -> Iterator[VendureShop]:
    with running_vendure(api_keys=False) as server:
        api = AdminApi(server.admin_url)
        try:
            yield VendureShop(server, api, setup_shop(api))
        finally:
            api.close()


@dataclass
class VendureErp:
    engine: Engine
    prefix: str

    def sku(self, demo_number: int) -> str:
        return f"{self.prefix}DEMO-{demo_number:04d}"


@pytest.fixture
def vendure_erp(tmp_path: Path, vendure: VendureShop) -> Iterator[VendureErp]:
    engine = make_engine(f"sqlite:///{tmp_path / 'erp.db'}")
    create_erp_schema(engine)
    fill_demo(engine, platform="vendure", base_url=vendure.base_url, api_key=vendure.api_key,
              api_secret=None, products=12)
    upgrade(engine, TENANT)
    prefix = f"V{uuid.uuid4().hex[:6].upper()}-"
    with engine.begin() as conn:
        # Unique SKUs per test: the Vendure server is shared by the whole session.
        conn.execute(update(erp_schema.products).values(sku=prefix + erp_schema.products.c.sku))
        status_ids = dict(conn.execute(select(erp_schema.order_statuses.c.code,
                                              erp_schema.order_statuses.c.id)).all())
        conn.execute(insert(erp_schema.shop_status_map), [
            {"integration_id": 1, "erp_status_id": status_ids[code], "shop_status": state}
            for code, state in STATUS_MAP.items()
        ])
    yield VendureErp(engine, prefix)
    engine.dispose()
