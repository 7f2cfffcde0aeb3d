"""The hosted mode's guard on tenant database addresses.

In the hosted mode (`ILUO_SYNC_HOSTED=1`) a tenant's database URL comes from a customer, and a
worker connects to it from inside the operator's network. Tenant databases usually live on
private networks, so private addresses are allowed; what is refused is what reaches the
operator's own host or cloud: loopback, link-local (cloud metadata lives there), the known
metadata addresses, unspecified and multicast addresses — unless the operator lists the host
or network in `ILUO_SYNC_TENANT_DB_ALLOWLIST` (host names or CIDRs, comma-separated; a setting
of its own, apart from the shops' allowlist, which guards public shop addresses).

Checked when a tenant is added (`Registry.add`) and again before every new connection of a
tenant engine (SQLAlchemy's `do_connect`): the host is resolved then and every address must
pass; a PostgreSQL connection is pinned to the vetted address (libpq's `hostaddr`, TLS still
checks the name), so a second lookup cannot answer differently. A refusal is a
`TenantHostRefused` (an OSError: the run fails with one line, like an unreachable database).
A SQLite file and an ODBC connect string name no host: they are not judged here.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import URL

from shared.addresses import (
    METADATA_ADDRESSES,
    IPNetwork,
    embedded_ipv4,
    norm_host,
    parse_allowlist,
)

SETTING = "ILUO_SYNC_TENANT_DB_ALLOWLIST"

Resolver = Callable[[str], list[str]]


class TenantHostRefused(ConnectionRefusedError):
    """A tenant database address the hosted mode does not connect to."""


def _system_resolver(host: str) -> list[str]:
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def why_refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a tenant database must not be reached at `address` (None: it may)."""
    for candidate in embedded_ipv4(address):
        if candidate in METADATA_ADDRESSES:
            return "a cloud metadata address"
        if candidate.is_loopback:
            return "a loopback address (this machine)"
        if candidate.is_link_local:
            return "a link-local address (cloud metadata lives there)"
        if candidate.is_unspecified:
            return "an unspecified address"
        if candidate.is_multicast:
            return "a multicast address"
    return None


@dataclass(frozen=True, slots=True)
class TenantHostPolicy:
    hosted: bool = False
    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[IPNetwork, ...] = ()
    resolver: Resolver = field(default=_system_resolver, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Any) -> TenantHostPolicy:
        hosts, networks = parse_allowlist(
            getattr(settings, "tenant_db_allowlist", "") or "", SETTING)
        return cls(hosted=bool(getattr(settings, "hosted", False)), allow_hosts=hosts,
                   allow_networks=networks)

    def vetted(self, host: str) -> list[str]:
        """Every address `host` resolves to, each allowed; else TenantHostRefused."""
        try:
            addresses = [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            try:
                addresses = self.resolver(host)
            except (OSError, UnicodeError) as exc:
                raise TenantHostRefused(f"cannot resolve the database host {host}: {exc}") \
                    from None
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if any(ip in net for net in self.allow_networks if ip.version == net.version):
                continue
            reason = why_refused(ip)
            if reason is not None:
                raise TenantHostRefused(
                    f"the database host {host} resolves to {ip}, {reason}; the hosted service "
                    f"does not connect there (an operator can allow it in {SETTING})")
        return addresses

    def check(self, url: URL) -> list[str]:
        """The vetted addresses of a tenant URL's host ([] when nothing is to be checked)."""
        host = url.host
        if not self.hosted or not host or norm_host(host) in self.allow_hosts:
            return []
        return self.vetted(host)

    def guard(self, engine: Engine) -> None:
        """Check (and for PostgreSQL pin) the address before each new connection."""
        if not self.hosted:
            return

        @event.listens_for(engine, "do_connect")
        def _vet(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
            addresses = self.check(engine.url)
            if addresses and engine.url.get_backend_name() == "postgresql":
                cparams["hostaddr"] = addresses[0]
