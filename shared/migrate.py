"""Versioned schema migrations (Alembic) for our two databases.

`tenant`: the `sync_*` tables inside each ERP database, versioned in `sync_schema_version` so
they can never be confused with anything the ERP itself keeps. `control`: the tenant registry and
the schedule. Migrations are run programmatically (no alembic.ini): `upgrade(engine, TENANT)`.
Every migration creates only what is missing, so running one twice, or over a half-finished
earlier attempt on a dialect without transactional DDL (MariaDB), changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine


@dataclass(frozen=True, slots=True)
class Target:
    package: str
    version_table: str


TENANT = Target("shared.erp", "sync_schema_version")
CONTROL = Target("shared.control", "iluo_sync_schema_version")


def _config(target: Target, connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", f"{target.package}:migrations")
    cfg.attributes["connection"] = connection
    cfg.attributes["version_table"] = target.version_table
    return cfg


def upgrade(engine: Engine, target: Target, revision: str = "head") -> None:
    """Bring the database to `revision` (default: the newest)."""
    with engine.begin() as conn:
        command.upgrade(_config(target, conn), revision)


@lru_cache(maxsize=4)
def head(target: Target) -> str:
    """The newest revision (read from the migration scripts once per process)."""
    head_rev = ScriptDirectory.from_config(_config(target)).get_current_head()
    assert head_rev is not None, f"{target.package} has no migrations"
    return head_rev


def current(engine: Engine, target: Target) -> str | None:
    """The revision the database is at, None when it was never migrated."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": target.version_table})
        return ctx.get_current_revision()


def ensure_current(engine: Engine, target: Target) -> None:
    """Upgrade when behind: a service upgrade applies its migrations by itself, no reinstall."""
    if current(engine, target) != head(target):
        upgrade(engine, target)
