"""`sync_service_state`: written by the settings refresh and by runs (at most once a minute per
tenant), `stopped` at once when a tenant is switched off, and the README's SELECT paints it
green or red on SQLite, PostgreSQL and MariaDB exactly as written there."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text, update

from shared.control.refresh import refresh_tenant
from shared.control.schedule import claim_due, now_s
from shared.control.service_state import switch
from shared.control.tables import schedules, tenants
from shared.erp.sync_tables import sync_service_state
from shared.migrate import TENANT, upgrade
from tests.console.conftest import Site
from workers.actors import process_sync

README = Path(__file__).resolve().parents[2] / "README.md"
DIALECT_OF = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mariadb": "MariaDB / MySQL"}


def readme_query(backend: str) -> str:
    """The README's query for this database, as printed there."""
    blocks = re.findall(r"```sql\n-- (.+?)\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    found = {title.strip(): body for title, body in blocks}
    assert "SQL Server" in found  # the ERP's own database: the first one shown
    return found[DIALECT_OF[backend]]


def light(engine: Engine, backend: str) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text(readme_query(backend))).scalar())


def service_row(engine: Engine) -> object:
    with engine.connect() as conn:
        return conn.execute(select(sync_service_state).where(
            sync_service_state.c.integration_id == 0)).first()


def _age_heartbeat(site: Site, engine: Engine, minutes: int) -> None:
    """As if the service had last written `minutes` ago (and may write again)."""
    past = now_s() - timedelta(minutes=minutes)
    with engine.begin() as conn:
        conn.execute(update(sync_service_state).values(heartbeat_at=past))
    with site.registry.engine.begin() as conn:
        conn.execute(update(tenants).values(state_written_at=past))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_the_refresh_beats_the_readme_select_tells_green_from_red(
    site: Site, backend: str,
) -> None:
    tenant, engine = site.add_tenant("shop1", backend)
    row = service_row(engine)
    assert row is not None and row.state == "running" and row.service_version
    assert light(engine, backend) == "green"
    with engine.connect() as conn:
        ops = conn.execute(select(sync_service_state.c.operation, sync_service_state.c.state)
                           .where(sync_service_state.c.integration_id == 1)).all()
    assert dict(ops)["import_orders"] == "scheduled" and dict(ops)["import_products"] == "off"

    _age_heartbeat(site, engine, 6)  # the service went quiet six minutes ago
    assert light(engine, backend) == "red"
    refresh_tenant(site.registry, tenant.id)  # it is back: the next refresh beats
    assert light(engine, backend) == "green"

    switch(site.registry, "shop1", False, now_s())
    assert service_row(engine).state == "stopped"  # type: ignore[attr-defined]
    assert light(engine, backend) == "red"


def test_no_row_is_red(site: Site) -> None:
    _, engine = site.erp("sqlite")
    upgrade(engine, TENANT)
    assert light(engine, "sqlite") == "red"
    engine.dispose()


def test_at_most_one_write_a_minute_and_runs_write_their_outcome(site: Site) -> None:
    tenant, engine = site.add_tenant("shop1")
    first = service_row(engine).heartbeat_at  # type: ignore[attr-defined]
    _age_heartbeat(site, engine, 0)  # written just now: the claim is taken for this minute
    with engine.begin() as conn:
        conn.execute(update(sync_service_state).values(heartbeat_at=first - timedelta(hours=1)))
    refresh_tenant(site.registry, tenant.id)
    assert service_row(engine).heartbeat_at == first - timedelta(hours=1)  # type: ignore[attr-defined]

    _age_heartbeat(site, engine, 2)
    with site.registry.engine.begin() as conn:
        jobs = [c.job for c in claim_due(conn, now_s(), limit=10, tenant_id=tenant.id)]
    stock = next(job for job in jobs if job.operation.value == "update_stock")
    assert process_sync(*stock.args(), registry=site.registry) == "ok"
    with engine.connect() as conn:
        row = conn.execute(select(sync_service_state).where(
            sync_service_state.c.operation == "update_stock")).one()
    assert row.last_outcome == "ok" and row.last_run_at is not None
    with site.registry.engine.connect() as conn:
        scheduled = conn.execute(select(schedules.c.next_due_at).where(
            schedules.c.tenant_id == tenant.id,
            schedules.c.operation == "update_stock")).scalar()
    assert row.next_due_at == scheduled
    assert light(engine, "sqlite") == "green"
