"""Where a shop request may go: the server-side request forgery (SSRF) guard of the hosted mode.

A tenant types its shop's address into the ERP, and our workers then send HTTP requests to it
from inside the operator's network. In the hosted mode (`ILUO_SYNC_HOSTED=1`) a hostile or
mistaken `base_url` must not make a worker talk to the operator's own services: loopback,
private and link-local networks, cloud metadata endpoints (169.254.169.254, fd00:ec2::254,
Azure's 168.63.129.16), multicast, reserved and other non-global ranges are refused unless
the operator lists them in `ILUO_SYNC_SHOP_ALLOWLIST` (host names or CIDRs, comma-separated).

How it is enforced (see `GuardedBackend` and `ShopHttp`):
1. the host is resolved by us, and *every* address it resolves to is checked before any
   connection is made — a name that answers one public and one private address is refused;
2. the socket is then opened to one of those vetted addresses (not to the name, which a
   second lookup could answer differently: DNS rebinding), while TLS still verifies the
   certificate against the name;
3. the peer address of every response is checked again (`check_peer`), so a transport that
   connected elsewhere (a proxy, a reused connection, a future httpx change) is caught;
4. redirects are never followed (`ShopHttp` turns a 3xx into an error naming the target).

Outside the hosted mode (one company running iluo-sync next to its own shop) nothing is
checked: a shop on the office LAN is normal there.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

from shared.addresses import (
    METADATA_ADDRESSES,
    IPAddress,
    IPNetwork,
    embedded_ipv4,
    norm_host,
    parse_allowlist,
)
from workers.ports import ShopError

__all__ = ["METADATA_ADDRESSES", "EgressPolicy", "EgressRefused", "GuardedBackend",
           "embedded_ipv4", "guarded_transport", "parse_allowlist", "why_not_public"]

Resolver = Callable[[str, int], list[str]]


class EgressRefused(ShopError):
    """The shop's address is one the hosted mode must not reach (not retried: it will not
    change by itself)."""


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def why_not_public(address: IPAddress) -> str | None:
    """Why `address` is not a public internet address (None when it is one)."""
    for candidate in embedded_ipv4(address):
        if candidate in METADATA_ADDRESSES:
            return "a cloud metadata address"
        if candidate.is_loopback:
            return "a loopback address"
        if candidate.is_link_local:
            return "a link-local address (cloud metadata lives there)"
        if candidate.is_multicast:
            return "a multicast address"
        if candidate.is_unspecified:
            return "an unspecified address"
        if candidate.is_private:
            return "a private network address"
        if candidate.is_reserved:
            return "a reserved address"
        if not candidate.is_global:
            return "not a public internet address"
    return None


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """What `ShopHttp` may connect to. `hosted=False` checks nothing."""

    hosted: bool = False
    allow_hosts: frozenset[str] = frozenset()  # lower-case names, allowed whatever they resolve to
    allow_networks: tuple[IPNetwork, ...] = ()
    resolver: Resolver = field(default=_system_resolver, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Any) -> EgressPolicy:
        hosts, networks = parse_allowlist(getattr(settings, "shop_allowlist", "") or "")
        return cls(hosted=bool(getattr(settings, "hosted", False)), allow_hosts=hosts,
                   allow_networks=networks)

    # -- decisions ----------------------------------------------------------------------------

    def host_allowed(self, host: str) -> bool:
        return norm_host(host) in self.allow_hosts

    def refusal(self, host: str, address: str) -> str | None:
        """Why connecting to `address` (resolved from `host`) is refused, or None."""
        if not self.hosted or self.host_allowed(host):
            return None
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
        except ValueError:
            return f"{address!r} is not an IP address"
        if any(ip in net for net in self.allow_networks if ip.version == net.version):
            return None
        reason = why_not_public(ip)
        if reason is None:
            return None
        return (f"the shop address {host} resolves to {ip}, {reason}; the hosted service does "
                "not connect there (an operator can allow it in ILUO_SYNC_SHOP_ALLOWLIST)")

    def vetted_addresses(self, host: str, port: int) -> list[str]:
        """Resolve `host` and check every address; the list to connect to, or EgressRefused."""
        try:
            addresses = [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            try:
                addresses = self.resolver(host, port)
            except (OSError, UnicodeError) as exc:
                # Raised as httpcore's own error so ShopHttp treats it like any failed connect.
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}: no address")
        for address in addresses:
            reason = self.refusal(host, address)
            if reason is not None:
                raise EgressRefused(reason)
        return addresses

    def check_peer(self, host: str, peer: Any) -> None:
        """The address a response really came from must pass too (`server_addr` of httpcore's
        network stream: `(ip, port, …)`). A peer that is not an IP socket address (a test
        transport) is not judged here: the pinned connect of `GuardedBackend` is the primary
        control, this is the second look."""
        if not self.hosted:
            return
        address = peer[0] if isinstance(peer, tuple | list) and peer else None
        if not isinstance(address, str):
            return  # not a TCP socket (a test transport): nothing to check
        reason = self.refusal(host, address)
        if reason is not None:
            raise EgressRefused(f"answer came from a refused address: {reason}")


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses the policy vetted (step 1–2)."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in self.policy.vetted_addresses(host, port):
            try:
                return super().connect_tcp(address, port, timeout=timeout,
                                           local_address=local_address,
                                           socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc  # the next vetted address, as getaddrinfo's order suggests
        assert last is not None
        raise last


def guarded_transport(policy: EgressPolicy, *, verify: bool | ssl.SSLContext) -> Any:
    """An `httpx.HTTPTransport` whose connections go through `GuardedBackend`.

    httpx has no public seam for the network backend, so the pool's is replaced; the assert
    makes an httpx/httpcore upgrade that renames it fail loudly instead of silently unguarded.
    """
    transport = httpx.HTTPTransport(verify=verify, trust_env=False)
    pool = getattr(transport, "_pool", None)
    assert pool is not None and hasattr(pool, "_network_backend"), \
        "httpx/httpcore changed: the SSRF guard cannot install its network backend"
    pool._network_backend = GuardedBackend(policy)
    return transport
