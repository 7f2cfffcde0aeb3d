"""URLs, passwords and the bounded engine cache, on the real servers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import bindparam, event, select, text

from shared.db import (
    EngineCache,
    join_password,
    make_engine,
    parse_db_url,
    redact_text,
    split_password,
)
from shared.erp import schema as erp
from shared.errors import UserError


def test_short_driver_names_get_our_drivers() -> None:
    assert parse_db_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert parse_db_url("mariadb://u@h/db").drivername == "mysql+pymysql"
    assert (
        parse_db_url("mssql://u:p@h/db?driver=ODBC+Driver+18+for+SQL+Server").drivername
        == "mssql+pyodbc"
    )
    assert (
        parse_db_url("mssql+pyodbc://u:p@h/db?driver=FreeTDS&TDS_Version=7.4").drivername
        == "mssql+pyodbc"
    )


@pytest.mark.parametrize("bad", ["", "nonsense", "oracle://u@h/db", "postgresql:///nohost", "sqlite://"])
def test_bad_urls_are_user_errors(bad: str) -> None:
    with pytest.raises(UserError):
        parse_db_url(bad)


def test_password_split_and_joined_back() -> None:
    stored, pw = split_password(parse_db_url("postgresql://u:p%40ss@h:5432/db"))
    assert pw == "p@ss" and "p%40ss" not in stored and "p@ss" not in stored
    assert join_password(stored, pw).password == "p@ss"
    odbc = "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BFreeTDS%7D%3BSERVER%3Dh%3BUID%3Dsa%3BPWD%3Ds3cret%3B"
    stored, pw = split_password(parse_db_url(odbc))
    assert pw == "s3cret" and "s3cret" not in stored
    assert "PWD={s3cret}" in join_password(stored, pw).query["odbc_connect"]
    assert "s3cret" not in redact_text("mssql://sa:s3cret@h/db") + redact_text("X;PWD=s3cret;Y")


def test_engine_cache_is_bounded_and_disposes(make_database: Callable[[str], str]) -> None:
    cache = EngineCache(maxsize=2)
    urls = [parse_db_url(make_database("sqlite")) for _ in range(3)]
    first = cache.get(1, urls[0])
    assert cache.get(1, urls[0]) is first
    cache.get(2, urls[1])
    cache.get(3, urls[2])
    assert len(cache) == 2
    assert cache.get(1, urls[0]) is not first  # evicted (least recently used) and rebuilt
    cache.dispose_all()
    assert len(cache) == 0


def test_statement_timeouts_are_set(make_database: Callable[[str], str]) -> None:
    pg = make_engine(make_database("postgresql"), statement_timeout=7)
    with pg.connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "7s"
    pg.dispose()
    odbc = make_engine(make_database("mariadb-odbc"), statement_timeout=9)
    with odbc.connect() as conn:
        assert conn.connection.dbapi_connection.timeout == 9  # type: ignore[union-attr]
    odbc.dispose()


def test_a_sqlite_file_is_written_ahead_without_a_sync_per_commit(
    make_database: Callable[[str], str],
) -> None:
    # WAL with synchronous NORMAL (1): a commit survives our crash, not a power loss's tail.
    engine = make_engine(make_database("sqlite"))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
    memory = make_engine("sqlite:///:memory:")  # no file, no WAL: SQLite's own default (FULL, 2)
    with memory.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    memory.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_new_engine_reuses_what_another_compiled(
    backend: str, make_database: Callable[[str], str],
) -> None:
    """Beyond the engine cache every run makes its tenant's engine afresh; it must not compile
    every statement again (the compiled forms are shared by engines of one kind of server)."""
    stmt = select(erp.products.c.id, erp.products.c.sku).where(
        erp.products.c.sku == bindparam("sku"), erp.products.c.is_active.is_(True))
    hits: list[bool] = []

    def run(url: str) -> None:
        engine = make_engine(url)
        erp.erp_metadata.create_all(engine, tables=[erp.products])

        @event.listens_for(engine, "after_cursor_execute")
        def seen(_conn: Any, _cursor: Any, _sql: str, _params: Any, context: Any,
                 _many: bool) -> None:
            if context.compiled is not None and context.compiled.statement is not None:
                hits.append(context.cache_hit == context.dialect.CACHE_HIT)

        with engine.connect() as conn:
            conn.execute(stmt, {"sku": "A-1"}).all()
        engine.dispose()

    run(make_database(backend))
    hits.clear()
    run(make_database(backend))
    assert hits[-1] is True  # the second engine's first execution: served from the cache
