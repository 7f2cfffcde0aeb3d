"""The tenant registry: which ERP databases this service keeps in sync.

A tenant's URL is stored without its password; the password is encrypted at rest (Fernet). Adding
a tenant checks the database is reachable and holds the ERP tables before anything is written,
then creates/upgrades the sync_* tables in it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, delete, insert, inspect, select, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from shared.control.tables import console_users, schedules, tenants
from shared.control.tenant_hosts import TenantHostPolicy, TenantHostRefused
from shared.crypto import SecretBox, load_secret_box
from shared.db import EngineCache, join_password, make_engine, parse_db_url, redact, split_password
from shared.erp.schema import ERP_TABLES
from shared.errors import UserError
from shared.migrate import CONTROL, TENANT, ensure_current, upgrade
from shared.redact import register_secret
from shared.settings import Settings, get_settings

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def utcnow() -> datetime:
    """Naive UTC, the way every table of ours stores time."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class Tenant:
    id: int
    name: str
    db_url: str  # without password: safe to show
    is_active: bool
    event_history: bool
    created_at: datetime
    updated_at: datetime
    #: The stored password, still encrypted: decrypted only to connect (`Registry.url_of`).
    db_password: str | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "db_url": redact(parse_db_url(self.db_url)),
            "is_active": self.is_active,
            "event_history": self.event_history,
            "created_at": self.created_at.isoformat() + "Z",
            "updated_at": self.updated_at.isoformat() + "Z",
        }


def db_error_line(exc: BaseException, secret: str | None = None) -> str:
    """The first line of a driver error, with a password never echoed back."""
    orig = getattr(exc, "orig", None) or exc
    line = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    if secret:
        line = line.replace(secret, "***")
    return line[:300]


class Registry:
    """The control database: tenants (and, through them, the schedule)."""

    def __init__(self, settings: Settings | None = None, *, migrate: bool = True) -> None:
        self.settings = settings or get_settings()
        url = parse_db_url(self.settings.control_db)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(
            url,
            connect_timeout=self.settings.db_connect_timeout,
            statement_timeout=self.settings.db_statement_timeout,
            pool_size=5,
        )
        try:
            if migrate:
                ensure_current(self.engine, CONTROL)
        except DBAPIError as exc:
            raise UserError(f"cannot open the control database: {db_error_line(exc)}") from None
        self._box: SecretBox | None = None
        # Tenant databases whose sync_* tables this process found current: by tenant and URL,
        # not by engine, so an engine the LRU closed and made again (more tenants than
        # ILUO_SYNC_ENGINE_CACHE_SIZE) is not checked again at every run.
        self._current: set[tuple[int, str]] = set()
        self.tenant_hosts = TenantHostPolicy.from_settings(self.settings)
        self.engines = EngineCache(
            self.settings.engine_cache_size,
            on_create=self.tenant_hosts.guard,
            pool_size=self.settings.tenant_pool_size,
            connect_timeout=self.settings.db_connect_timeout,
            statement_timeout=self.settings.db_statement_timeout,
        )

    @property
    def box(self) -> SecretBox:
        if self._box is None:
            secret = (
                self.settings.secret_key.get_secret_value() if self.settings.secret_key else None
            )
            register_secret(secret)
            self._box = load_secret_box(self.settings.control_db, secret)
        return self._box

    # -- reading --------------------------------------------------------------------------

    def list(self) -> list[Tenant]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(tenants).order_by(tenants.c.name)).all()
        return [tenant_of(row) for row in rows]

    def get(self, name: str) -> Tenant:
        with self.engine.connect() as conn:
            row = conn.execute(select(tenants).where(tenants.c.name == name)).first()
        if row is None:
            raise UserError(f"no tenant named {name!r} (see: iluo-sync tenant list)")
        return tenant_of(row)

    def get_by_id(self, tenant_id: int) -> Tenant | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).first()
        return tenant_of(row) if row else None

    def url_of(self, tenant: Tenant) -> URL:
        """The full URL, password included: for connecting only, never for showing."""
        token = tenant.db_password
        password = self.box.decrypt(token) if token else None
        register_secret(password)  # masked in every log line, message and history row from now
        return join_password(tenant.db_url, password)

    def tenant_engine(self, tenant: Tenant) -> Engine:
        """The tenant's engine, its sync_* tables upgraded the first time this process uses it:
        a new release's migrations apply by themselves at the next run, with no reinstall
        (an upgrade that fails, say on an unreachable database, is tried again next time)."""
        url = self.url_of(tenant)
        engine = self.engines.get(tenant.id, url)
        key = (tenant.id, url.render_as_string(hide_password=False))
        if key not in self._current:
            # No lock: migrations create only what is missing, so two threads (or two worker
            # hosts) racing here are harmless; a first run may fail once on the loser's DDL.
            try:
                ensure_current(engine, TENANT)
                self._current.add(key)
            except (SQLAlchemyError, OSError) as exc:  # the caller's own use of it says more
                log.warning("could not check the sync tables of tenant %s: %s", tenant.name,
                            db_error_line(exc))
        return engine

    # -- changing -------------------------------------------------------------------------

    def add(
        self, name: str, db_url: str, *, active: bool = True, event_history: bool = True
    ) -> Tenant:
        if not _NAME.match(name):
            raise UserError(
                f"invalid tenant name {name!r}: letters, digits, '.', '_' or '-', at most 100"
            )
        url = parse_db_url(db_url)
        with self.engine.connect() as conn:
            if conn.execute(select(tenants.c.id).where(tenants.c.name == name)).first():
                raise UserError(f"a tenant named {name!r} already exists")
        box = self.box  # a missing or bad key is reported even for a URL without a password
        stored_url, password = split_password(url)
        register_secret(password)
        token = box.encrypt(password) if password is not None else None
        try:
            self.tenant_hosts.check(url)
        except TenantHostRefused as exc:
            raise UserError(str(exc)) from None
        check_erp_database(url, password, self.settings)
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                insert(tenants).values(
                    name=name,
                    db_url=stored_url,
                    db_password=token,
                    is_active=active,
                    event_history=event_history,
                    created_at=now,
                    updated_at=now,
                )
            )
        return self.get(name)

    def set_active(self, name: str, active: bool) -> Tenant:
        return self._set(name, is_active=active)

    def set_event_history(self, name: str, on: bool) -> Tenant:
        return self._set(name, event_history=on)

    def _set(self, name: str, **values: object) -> Tenant:
        tenant = self.get(name)
        with self.engine.begin() as conn:
            conn.execute(
                update(tenants)
                .where(tenants.c.id == tenant.id)
                .values(updated_at=utcnow(), **values)
            )
        return self.get(name)

    def remove(self, name: str) -> None:
        """Unregister: the schedule rows and the tenant's console accounts go (explicitly: SQLite
        does not enforce the foreign key), the ERP database is not touched."""
        tenant = self.get(name)
        with self.engine.begin() as conn:
            conn.execute(delete(schedules).where(schedules.c.tenant_id == tenant.id))
            conn.execute(delete(console_users).where(console_users.c.tenant_id == tenant.id))
            conn.execute(delete(tenants).where(tenants.c.id == tenant.id))

    def close(self) -> None:
        self.engines.dispose_all()
        self.engine.dispose()


def check_erp_database(url: URL, password: str | None, settings: Settings) -> None:
    """Reachable, holds every ERP table; then create/upgrade our sync_* tables in it."""
    engine = make_engine(url, connect_timeout=settings.db_connect_timeout, pool_size=1)
    shown = redact(url)
    try:
        try:
            with engine.connect() as conn:
                present = set(inspect(conn).get_table_names())
        except ModuleNotFoundError as exc:
            raise UserError(f"the driver for {shown} is not installed ({exc.name})") from None
        except SQLAlchemyError as exc:
            raise UserError(f"cannot reach {shown}: {db_error_line(exc, password)}") from None
        missing = [t for t in ERP_TABLES if t not in present]
        if missing:
            raise UserError(
                f"{shown} is not an ILUO Biznes database: missing tables {', '.join(missing)}"
            )
        try:
            upgrade(engine, TENANT)
        except SQLAlchemyError as exc:
            raise UserError(
                f"cannot create the sync tables in {shown}: {db_error_line(exc, password)}"
            ) from None
    finally:
        engine.dispose()


def tenant_of(row: object) -> Tenant:
    """A Tenant from a row holding the tenants table's columns."""
    return Tenant(
        id=row.id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        db_url=row.db_url,  # type: ignore[attr-defined]
        is_active=bool(row.is_active),  # type: ignore[attr-defined]
        event_history=bool(row.event_history),  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        updated_at=row.updated_at,  # type: ignore[attr-defined]
        db_password=row.db_password,  # type: ignore[attr-defined]
    )
