"""The platform-parametrised suite's fixtures: every platform's sandbox over real HTTP, and a
demo ERP whose integration #1 points at it. Each platform contributes `harness_<platform>.py`
(see harness.py); nothing here names a platform."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, insert, select, update

from shared.db import make_engine
from shared.erp import schema as erp
from shared.erp.demo import create_erp_schema, fill_demo
from shared.migrate import TENANT, upgrade

HERE = Path(__file__).parent
PLATFORMS = sorted(p.stem.removeprefix("harness_") for p in HERE.glob("harness_*.py"))


def _load_harness(platform: str) -> object:
    spec = importlib.util.spec_from_file_location(
        f"harness_{platform}", HERE / f"harness_{platform}.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.make_harness()


@pytest.fixture(params=PLATFORMS)
def shop(request: pytest.FixtureRequest) -> Iterator[object]:
    harness = _load_harness(request.param)
    harness.start()
    yield harness
    harness.stop()


@pytest.fixture
def erp_db(shop: object, make_database: Callable[[str], str]) -> Iterator[Engine]:
    """A demo ERP whose integration #1 points at the sandbox of `shop`."""
    engine = make_engine(make_database("sqlite"))
    create_erp_schema(engine)
    fill_demo(engine, platform=shop.platform, base_url=shop.base_url, api_key=shop.api_key,
              api_secret=shop.api_secret, products=30)
    with engine.begin() as conn:
        conn.execute(update(erp.shop_integrations).values(shop_timezone=shop.shop_timezone))
        conn.execute(delete(erp.shop_status_map))
        ids = dict(conn.execute(select(erp.order_statuses.c.code, erp.order_statuses.c.id)).all())
        conn.execute(insert(erp.shop_status_map), [
            {"integration_id": 1, "erp_status_id": ids[code], "shop_status": status}
            for code, status in shop.status_map.items()
        ])
    upgrade(engine, TENANT)
    prepare = getattr(shop, "prepare_erp", None)
    if prepare is not None:  # what a person does once per integration (harness.py)
        prepare(engine)
    yield engine
    engine.dispose()


