"""Tenant isolation: a message can only run what the schedule says is that tenant's, and a
worker never hands one tenant's database connection to another.

Integration ids are per tenant database (every tenant has an integration #1), so "the
integration belongs to the tenant" means: the control database's schedule holds a row for
(tenant, integration, operation). A message naming any other combination is refused and
recorded in service_events, and runs nothing anywhere.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import Engine, insert, select, update

from shared.control.refresh import refresh_tenant
from shared.control.registry import Registry
from shared.control.schedule import claim_due, now_s
from shared.control.service_log import REFUSED
from shared.control.tables import service_events
from shared.db import make_engine
from shared.erp.demo import create_erp_schema, fill_demo
from shared.erp.schema import shop_integration_operations, shop_integrations
from shared.erp.sync_tables import sync_runs
from shared.settings import Settings
from tests.engine.support import KEY, SECRET, Shop
from tests.service.conftest import ONE_MINUTE, Control, control  # noqa: F401  (fixture)
from workers.actors import process_sync
from workers.domain import Operation


def runs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(sync_runs.c.integration_id, sync_runs.c.operation)).all()


def add_second_integration(engine: Engine, base_url: str) -> None:
    with engine.begin() as conn:
        conn.execute(insert(shop_integrations).values(
            id=2, name="drugi sklep", platform="woocommerce", base_url=base_url, api_key=KEY,
            api_secret=SECRET, is_active=True, auto_sync=True, shop_timezone="Europe/Warsaw",
            updated_at=datetime.now(UTC).replace(tzinfo=None)))
        conn.execute(insert(shop_integration_operations).values(
            integration_id=2, operation="import_orders", enabled=True, interval_minutes=1))


def test_a_message_naming_another_tenants_integration_is_refused_and_recorded(
    control: Control, woo: Shop,  # noqa: F811
) -> None:
    woo.add_orders(2)
    a, a_erp = control.add_tenant("tenant-a", base_url=woo.base_url, api_key=KEY,
                                  api_secret=SECRET)
    b, b_erp = control.add_tenant("tenant-b", base_url=woo.base_url, api_key=KEY,
                                  api_secret=SECRET)
    add_second_integration(b_erp, woo.base_url)  # only B has an integration #2
    registry = control.registry
    refresh_tenant(registry, a.id)
    refresh_tenant(registry, b.id)
    with registry.engine.begin() as conn:
        jobs = {(c.job.tenant_id, c.job.integration_id, c.job.operation): c.job
                for c in claim_due(conn, now_s(), limit=100)}
    b_job = jobs[(b.id, 2, Operation.IMPORT_ORDERS)]
    due = b_job.due_at.isoformat()

    # Tenant A named with B's integration #2 (a forged or corrupted message): refused.
    assert process_sync(a.id, 2, "import_orders", due, registry=registry) == "refused"
    # A tenant that does not exist, ids that are not ids: refused too.
    assert process_sync(10_000, 2, "import_orders", due, registry=registry) == "refused"
    assert process_sync(str(a.id), 2, "import_orders", due, registry=registry) == "refused"
    assert process_sync(a.id, "2 OR 1=1", "import_orders", due, registry=registry) == "refused"
    assert runs(a_erp) == [] and runs(b_erp) == []  # nothing ran in either database
    with registry.engine.connect() as conn:
        refused = conn.execute(select(service_events).where(service_events.c.kind == REFUSED)
                               .order_by(service_events.c.id)).all()
    assert len(refused) == 4
    assert (refused[0].tenant_id, refused[0].integration_id) == (a.id, 2)
    assert "not one of tenant tenant-a's" in refused[0].message

    # The real message runs in B's database, and only there.
    assert process_sync(*b_job.args(), registry=registry) == "ok"
    assert runs(b_erp) == [(2, "import_orders")]
    assert runs(a_erp) == []
    # A's own integration #1 is a different shop integration in a different database.
    a_job = jobs[(a.id, 1, Operation.IMPORT_ORDERS)]
    assert process_sync(*a_job.args(), registry=registry) == "ok"
    assert runs(a_erp) == [(1, "import_orders")]
    assert runs(b_erp) == [(2, "import_orders")]


def test_the_engine_cache_never_hands_one_tenant_anothers_database(
    make_database: Callable[[str], str],
) -> None:
    """A small cache (evictions all the time), many threads, tenants picked at random: each
    engine a thread gets reaches its own tenant's database, checked by reading it."""
    settings = Settings(control_db=make_database("sqlite"), engine_cache_size=2,
                        secret_key=Fernet.generate_key().decode())
    registry = Registry(settings)
    tenants = []
    for n in range(5):
        url = make_database("sqlite")
        engine = make_engine(url)
        create_erp_schema(engine)
        fill_demo(engine, products=1, operations=ONE_MINUTE)
        with engine.begin() as conn:
            conn.execute(update(shop_integrations).values(name=f"marker-{n}"))
        engine.dispose()
        tenants.append(registry.add(f"t{n}", url))
    # Two tenants registered with the very same database still get engines of their own.
    twin = registry.add("t0-twin", registry.url_of(tenants[0]).render_as_string(False))
    assert registry.tenant_engine(twin) is not registry.tenant_engine(tenants[0])

    mistakes: list[str] = []

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        for _ in range(60):
            n = rnd.randrange(len(tenants))
            engine = registry.tenant_engine(tenants[n])
            try:
                with engine.connect() as conn:
                    name = conn.execute(select(shop_integrations.c.name)).scalar_one()
            except Exception as exc:  # an engine disposed under us reconnects; never wrong
                mistakes.append(f"t{n}: {type(exc).__name__}: {exc}")
                continue
            if name != f"marker-{n}":
                mistakes.append(f"t{n} got {name}")

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    registry.close()
    assert mistakes == []
    assert len(registry.engines) == 0  # closed


def test_the_cache_key_holds_the_tenant_so_a_changed_password_is_a_new_engine(
    make_database: Callable[[str], str],
) -> None:
    settings = Settings(control_db=make_database("sqlite"),
                        secret_key=Fernet.generate_key().decode())
    registry = Registry(settings)
    url = make_database("postgresql")
    engine = make_engine(url)
    create_erp_schema(engine)
    fill_demo(engine, products=1, operations=ONE_MINUTE)
    engine.dispose()
    first = registry.add("pg-a", url.replace("postgres@", "postgres:first-password@"))
    second = registry.add("pg-b", url.replace("postgres@", "postgres:second-password@"))
    engine_a, engine_b = registry.tenant_engine(first), registry.tenant_engine(second)
    assert engine_a is not engine_b
    assert engine_a.url.password == "first-password" and engine_b.url.password == "second-password"
    registry.close()
