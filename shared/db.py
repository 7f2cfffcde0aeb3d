"""Database URLs and engines for many tenants.

Engines are created lazily and kept in a bounded LRU cache (a hosted operator may have thousands
of tenant databases; only the recently used keep a pool). Every dialect gets a connect timeout
and a statement timeout, since a dramatiq time limit cannot interrupt a blocked driver call.
pyodbc is imported by SQLAlchemy only when an ODBC URL is used, so a machine without ODBC runs
everything else.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.util import LRUCache

from shared.errors import UserError

# Short names users type → the driver we ship for it.
_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "mssql": "mssql+pyodbc",
    "sqlserver": "mssql+pyodbc",
}
SUPPORTED_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb", "mssql")
_ODBC_PWD = re.compile(r"(?i)(?:^|;)\s*PWD\s*=\s*(\{[^}]*\}|[^;]*)")


def parse_db_url(text: str) -> URL:
    """Validate and normalise a SQLAlchemy URL, or raise a one-line UserError."""
    try:
        url = make_url(text.strip())
    except (ArgumentError, ValueError):
        raise UserError(f"malformed database URL: {redact_text(text)!r}") from None
    if url.drivername in _DEFAULT_DRIVERS:
        url = url.set(drivername=_DEFAULT_DRIVERS[url.drivername])
    if url.get_backend_name() not in SUPPORTED_BACKENDS:
        raise UserError(
            f"unsupported database {url.get_backend_name()!r} "
            f"(supported: {', '.join(SUPPORTED_BACKENDS)})"
        )
    if url.get_backend_name() != "sqlite" and not (url.host or "odbc_connect" in url.query):
        raise UserError(f"database URL has no host: {redact_text(text)!r}")
    if url.get_backend_name() == "sqlite" and url.database in (None, ""):
        raise UserError("a SQLite URL needs a file: sqlite:///path/to/erp.db")
    return url


def split_password(url: URL) -> tuple[str, str | None]:
    """The URL as text without its password, and the password (also one inside odbc_connect)."""
    password = url.password
    url = url._replace(password=None)  # .set() treats None as "unchanged"
    odbc = url.query.get("odbc_connect")
    if isinstance(odbc, str):
        odbc = unquote(odbc)
        match = _ODBC_PWD.search(odbc)
        if match:
            password = match.group(1).strip("{}")
            odbc = _ODBC_PWD.sub("", odbc).strip(";")
            url = url.update_query_dict({"odbc_connect": odbc})
    return url.render_as_string(hide_password=False), (
        str(password) if password is not None else None
    )


def join_password(url_text: str, password: str | None) -> URL:
    url = make_url(url_text)
    if password is None:
        return url
    odbc = url.query.get("odbc_connect")
    if isinstance(odbc, str):
        return url.update_query_dict({"odbc_connect": f"{odbc};PWD={{{password}}}"})
    return url.set(password=password)


def redact(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def redact_text(text: str) -> str:
    """Best effort for text that did not even parse: hide anything between ':' and '@'."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", _ODBC_PWD.sub(";PWD=***", text))


def _connect_args(url: URL, connect_timeout: int, statement_timeout: int) -> dict[str, Any]:
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "sqlite":
        # Workers share an engine across threads; busy waits instead of "database is locked".
        return {"timeout": 30, "check_same_thread": False}
    if backend == "postgresql":
        return {
            "connect_timeout": connect_timeout,
            # int(): this string reaches the server as a startup option; only a number may.
            "options": f"-c statement_timeout={int(statement_timeout) * 1000}",
        }
    if driver == "pyodbc":
        return {"timeout": connect_timeout}  # login timeout; query timeout set on connect
    if backend in ("mysql", "mariadb"):
        return {
            "connect_timeout": connect_timeout,
            "read_timeout": statement_timeout,
            "write_timeout": statement_timeout,
        }
    return {}


class SharedCompiledCache:
    """SQLAlchemy's compiled statements, shared by all the engines this process makes.

    Each engine has its own compiled cache keyed by its own dialect object, so a tenant engine
    made afresh — beyond ILUO_SYNC_ENGINE_CACHE_SIZE tenants every run makes one — compiled
    every statement again: about three quarters of such a run's time (BENCHMARKS.md §6).
    Engines of the same dialect class, driver and server version compile the same SQL, so the
    key's dialect is replaced by that description (what `initialize()` learnt from the server
    included) and a compiled form made by one engine serves the others. It is passed as the
    `compiled_cache` execution option, the mapping SQLAlchemy reads and fills.
    """

    def __init__(self, size: int = 2000) -> None:
        self._lru: LRUCache[tuple[Any, ...], Any] = LRUCache(size)

    def get(self, key: tuple[Any, ...], default: Any = None) -> Any:
        return self._lru.get(_shared_key(key), default)

    def __setitem__(self, key: tuple[Any, ...], value: Any) -> None:
        self._lru[_shared_key(key)] = value

    def __len__(self) -> int:
        return len(self._lru)


def _shared_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    dialect, *rest = key
    kind = (type(dialect), dialect.driver, dialect.server_version_info,
            dialect.default_schema_name, dialect.paramstyle, dialect.supports_native_boolean)
    return (kind, *rest)


#: One per process: every engine make_engine makes (the control DB's and the tenants').
COMPILED = SharedCompiledCache()


def make_engine(
    url: URL | str,
    *,
    connect_timeout: int = 10,
    statement_timeout: int = 120,
    pool_size: int = 2,
) -> Engine:
    url = parse_db_url(url) if isinstance(url, str) else url
    kwargs: dict[str, Any] = {
        "connect_args": _connect_args(url, connect_timeout, statement_timeout),
        "execution_options": {"compiled_cache": COMPILED},
    }
    if url.get_backend_name() != "sqlite":
        kwargs.update(pool_size=pool_size, max_overflow=4, pool_recycle=1800, pool_timeout=30)
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine)
    if url.get_backend_name() == "sqlite":
        _sqlite_pragmas(engine)
    elif url.get_driver_name() == "pyodbc":
        _odbc_query_timeout(engine, statement_timeout)
    return engine


@contextmanager
def autocommit(engine: Engine) -> Iterator[Connection]:
    """A connection for a unit that needs no multi-statement transaction: one write, or reads
    that READ COMMITTED would give one snapshot each anyway. On PostgreSQL each statement then
    commits by itself, which saves the BEGIN and COMMIT round trips (psycopg's autocommit is a
    client-side switch, undone when the pool takes the connection back). Elsewhere it is a
    plain transaction: MariaDB's switch is a round trip of its own, SQLite's are local."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn
        else:
            with conn.begin():
                yield conn


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide where transactions begin (see "begin" below).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            (mode,) = cur.execute("PRAGMA journal_mode=WAL").fetchone()
            if str(mode).lower() == "wal":
                # WAL's recommended level: no fsync per commit (only at checkpoints). A commit
                # survives a crash of our process, and the file is never corrupted; a power
                # loss may undo the last commits — a consistent tail, cursors included, whose
                # shop reads and writes then run again (BENCHMARKS.md §6). In a rollback
                # journal (a file system without WAL) NORMAL could corrupt: kept at FULL.
                cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: read-then-write transactions in several
        # threads then queue on the busy timeout instead of failing on a lock upgrade.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


#: A pooled connection unused for longer than this is pinged before it is handed out (a server
#: restart or an idle timeout may have closed it meanwhile). One used moments ago is not:
#: `pool_pre_ping` would add a round trip to every checkout, ~a dozen per idle sync run.
PING_IDLE_S = 10.0


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since <= PING_IDLE_S:
            return  # new, or just used
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception:
            alive = False
        if not alive:  # the pool throws it away and connects afresh
            raise DisconnectionError("a pooled connection died while idle")


def _odbc_query_timeout(engine: Engine, seconds: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.timeout = seconds


class EngineCache:
    """A bounded LRU of engines keyed by (key, url); evicted engines are disposed."""

    def __init__(
        self, maxsize: int = 64, *, on_create: Callable[[Engine], None] | None = None,
        **engine_kwargs: Any,
    ) -> None:
        self.maxsize = maxsize
        self._on_create = on_create  # e.g. the hosted mode's address guard
        self._engine_kwargs = engine_kwargs
        self._engines: OrderedDict[tuple[object, str], Engine] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: object, url: URL) -> Engine:
        cache_key = (key, url.render_as_string(hide_password=False))
        with self._lock:
            engine = self._engines.get(cache_key)
            if engine is not None:
                self._engines.move_to_end(cache_key)
                return engine
            engine = make_engine(url, **self._engine_kwargs)
            if self._on_create is not None:
                self._on_create(engine)
            self._engines[cache_key] = engine
            while len(self._engines) > self.maxsize:
                _, old = self._engines.popitem(last=False)
                old.dispose()
            return engine

    def __len__(self) -> int:
        return len(self._engines)

    def dispose_all(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
