"""The sync_* migrations: every dialect, idempotent, upgrade from an older revision, ERP
untouched."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, inspect

from shared.control.tables import control_metadata
from shared.db import make_engine
from shared.erp.demo import create_erp_schema, fill_demo
from shared.erp.schema import ERP_TABLES
from shared.erp.sync_tables import SYNC_TABLES, sync_metadata
from shared.migrate import CONTROL, TENANT, current, head, upgrade


def _snapshot(engine: Engine, tables: tuple[str, ...]) -> dict[str, object]:
    insp = inspect(engine)
    return {
        t: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(t)],
            sorted(
                str(sorted(ix["column_names"])) + str(ix["unique"]) for ix in insp.get_indexes(t)
            ),
            insp.get_pk_constraint(t)["constrained_columns"],
        )
        for t in tables
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb", "mariadb-odbc"])
def test_tenant_migrations(backend: str, make_database: Callable[[str], str]) -> None:
    engine = make_engine(make_database(backend))
    create_erp_schema(engine)
    fill_demo(engine)
    erp_before = _snapshot(engine, ERP_TABLES)

    upgrade(engine, TENANT, "t0001")  # an older revision first, as an installed site would have
    assert current(engine, TENANT) == "t0001"
    assert not inspect(engine).has_table("sync_sent")
    upgrade(engine, TENANT)
    assert current(engine, TENANT) == head(TENANT)

    present = set(inspect(engine).get_table_names())
    assert set(SYNC_TABLES) <= present
    for name, table in sync_metadata.tables.items():  # the module describes what migrations made
        cols = {c["name"] for c in inspect(engine).get_columns(name)}
        assert cols == {c.name for c in table.columns}, name
    after_first = _snapshot(engine, SYNC_TABLES)

    upgrade(engine, TENANT)  # twice: nothing changes
    assert _snapshot(engine, SYNC_TABLES) == after_first
    assert _snapshot(engine, ERP_TABLES) == erp_before  # the ERP's tables never touched
    engine.dispose()


def test_migration_over_half_finished_attempt(make_database: Callable[[str], str]) -> None:
    """MariaDB has no transactional DDL: a crash mid-migration leaves tables without a version."""
    engine = make_engine(make_database("mariadb"))
    create_erp_schema(engine)
    sync_metadata.tables["sync_runs"].create(engine)
    upgrade(engine, TENANT)
    assert current(engine, TENANT) == head(TENANT)
    assert set(SYNC_TABLES) <= set(inspect(engine).get_table_names())
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_control_migrations(backend: str, make_database: Callable[[str], str]) -> None:
    engine = make_engine(make_database(backend))
    upgrade(engine, CONTROL)
    upgrade(engine, CONTROL)
    assert current(engine, CONTROL) == head(CONTROL)
    for name, table in control_metadata.tables.items():
        cols = {c["name"] for c in inspect(engine).get_columns(name)}
        assert cols == {c.name for c in table.columns}, name
    engine.dispose()
