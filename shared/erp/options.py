"""Options of a shop integration that only the integrator knows about (`sync_integration_options`).

The ERP's `shop_integrations` is the ERP's: we never alter it, so what it has no column for
lives in our own table, one row per (integration, option). A missing row is the default.

`verify-tls` (`on` | `off`): TLS certificates are always verified; `off` is an explicit opt-out
for a local test shop with a self-signed certificate, and is accepted only where the shop's
address is local (`is_local_test_host`). Pointing such an integration at a public address later
makes it a configuration error, so a forgotten opt-out can never carry shop keys to an
impostor on the internet.

`safety` (`on` | `off`): the safety valves (workers.engine.safety) stop a run that would
deactivate or zero out a large share of the shop's catalogue before it writes anything; `off`
lets every run of this integration go ahead regardless (as `iluo-sync run … --force` does once).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import Connection, delete, insert, inspect, select

from shared.erp.sync_tables import sync_integration_options

VERIFY_TLS = "verify-tls"
SAFETY = "safety"
#: Every option with its allowed values; the first is the default.
OPTIONS: dict[str, tuple[str, ...]] = {VERIFY_TLS: ("on", "off"), SAFETY: ("on", "off")}
#: Names that mark a host as a machine of one's own (RFC 6761/6762, RFC 8375, common LAN use).
LOCAL_SUFFIXES = (".localhost", ".test", ".local", ".lan", ".home.arpa")


class OptionError(ValueError):
    """An unknown option or value, or one the integration's address does not allow."""


def default(name: str) -> str:
    return OPTIONS[name][0]


def validate(name: str, value: str, base_url: str) -> tuple[str, str]:
    """The option as stored (lower-case), or OptionError saying what is wrong."""
    name, value = name.strip().lower(), value.strip().lower()
    if name not in OPTIONS:
        raise OptionError(f"unknown option {name!r} (known: {', '.join(sorted(OPTIONS))})")
    if value not in OPTIONS[name]:
        raise OptionError(f"{name} takes {' or '.join(OPTIONS[name])}, not {value!r}")
    problem = problem_with(name, value, base_url)
    if problem:
        raise OptionError(problem)
    return name, value


def problem_with(name: str, value: str, base_url: str) -> str | None:
    """Why this option value is not allowed for an integration at `base_url`, or None."""
    if name == VERIFY_TLS and value == "off":
        host = urlsplit(base_url.strip()).hostname or ""
        if not is_local_test_host(host):
            return (f"verify-tls=off is only for a local test shop (localhost, a private or "
                    f"loopback address, *.test, *.local, *.lan); {host or base_url!r} is not one")
    return None


def is_local_test_host(host: str) -> bool:
    """A host on one's own machine or network: loopback, private or link-local addresses,
    `localhost` and the names reserved for local use."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if not name:
        return False
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return name == "localhost" or name.endswith(LOCAL_SUFFIXES)
    return address.is_loopback or address.is_private or address.is_link_local


#: Databases (by URL, password hidden) that have the options table: a table once created
#: stays, so it is looked up once per process and database, not in every settings read — nor
#: for every engine made afresh, as a worker does for each run past its engine cache.
_seen: set[str] = set()
_SEEN_MAX = 100_000  # databases remembered; past it the memory starts afresh


def has_table(conn: Connection) -> bool:
    url = conn.engine.url
    # In-memory SQLite databases share one URL and are each their own: never remembered.
    key = (None if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
           else url.render_as_string(hide_password=True))
    if key is not None and key in _seen:
        return True
    if not inspect(conn).has_table(sync_integration_options.name):
        return False
    if key is not None:
        if len(_seen) >= _SEEN_MAX:
            _seen.clear()
        _seen.add(key)
    return True


def read(conn: Connection, integration_id: int | None = None) -> dict[int, dict[str, str]]:
    """{integration id: {option: value}}; empty when the table is not there yet (a tenant
    database not upgraded since t0004 — every option then has its default)."""
    if not has_table(conn):
        return {}
    t = sync_integration_options.c
    stmt = select(t.integration_id, t.name, t.value)
    if integration_id is not None:
        stmt = stmt.where(t.integration_id == integration_id)
    found: dict[int, dict[str, str]] = {}
    for row in conn.execute(stmt):
        found.setdefault(row.integration_id, {})[row.name] = row.value
    return found


def write(conn: Connection, integration_id: int, name: str, value: str, *, now: datetime) -> None:
    """Store a validated option in the caller's transaction; the default removes the row."""
    t = sync_integration_options
    conn.execute(delete(t).where(t.c.integration_id == integration_id, t.c.name == name))
    if value != default(name):
        conn.execute(insert(t).values(integration_id=integration_id, name=name, value=value,
                                      updated_at=now))
