"""Shared fixtures: real databases on the machine's servers, one fresh database per test.

PostgreSQL (127.0.0.1:5432, trust) and MariaDB (127.0.0.1:3306, root) are real servers; every
test that asks gets its own uniquely named database, dropped afterwards, so tests (and several
test runs) never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from shared.control import service_state
from shared.db import make_engine
from shared.erp.demo import create_erp_schema, fill_demo
from shared.migrate import TENANT, upgrade

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MARIA_ADMIN = "mysql+pymysql://root@127.0.0.1:3306/"
BACKENDS = ("sqlite", "postgresql", "mariadb")


@pytest.fixture(autouse=True)
def _worker_not_stopping() -> Iterator[None]:
    """The graceful-stop flag is per process (one dramatiq worker per process in production);
    a test that stopped a worker must not leave later tests' runs "interrupted"."""
    from shared.lifecycle import stopping

    stopping.clear()
    yield
    stopping.clear()


@pytest.fixture(autouse=True)
def _state_claims_forgotten() -> None:
    """Tenant ids repeat from one test's control DB to the next: a run's once-a-minute memory
    of its tenant's service-state claim must not carry over."""
    service_state.forget_claims()


def _admin(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture
def make_database(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Factory: make_database("sqlite" | "postgresql" | "mariadb" | "mariadb-odbc") -> URL."""
    created: list[tuple[str, str]] = []

    def make(backend: str) -> str:
        name = f"iluo_t_{uuid.uuid4().hex[:12]}"
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / (name + '.db')}"
        if backend == "postgresql":
            with _admin(PG_ADMIN).connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            created.append(("postgresql", name))
            return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        if backend in ("mariadb", "mariadb-odbc"):
            with _admin(MARIA_ADMIN).connect() as conn:
                conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
            created.append(("mariadb", name))
            if backend == "mariadb-odbc":
                odbc = ("DRIVER={MariaDB Unicode};SERVER=127.0.0.1;PORT=3306;"
                        f"DATABASE={name};UID=root")
                return f"mysql+pyodbc:///?odbc_connect={odbc}"
            return f"mysql+pymysql://root@127.0.0.1:3306/{name}"
        raise ValueError(backend)

    yield make

    for backend, name in created:
        if backend == "postgresql":
            with _admin(PG_ADMIN).connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            with _admin(MARIA_ADMIN).connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))


@pytest.fixture(params=["sqlite", "postgresql"])
def erp_url(request: pytest.FixtureRequest, make_database: Callable[[str], str]) -> str:
    """An empty ERP database URL on SQLite and on PostgreSQL."""
    return make_database(request.param)


@pytest.fixture
def erp_engine(erp_url: str) -> Iterator[Engine]:
    """An ERP database with the stand-in tables, demo data and current sync_* tables."""
    engine = make_engine(erp_url)
    create_erp_schema(engine)
    fill_demo(engine)
    upgrade(engine, TENANT)
    yield engine
    engine.dispose()
