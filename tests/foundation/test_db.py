"""URLs, passwords and the bounded engine cache, on the real servers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from shared.db import (
    EngineCache,
    join_password,
    make_engine,
    parse_db_url,
    redact_text,
    split_password,
)
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
