"""Classifying network addresses, for the hosted mode's guards on where a process connects:
shop requests (workers.shops.egress) and tenant databases (shared.control.tenant_hosts)."""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Metadata services that sit on addresses `is_global` alone would let through.
METADATA_ADDRESSES = frozenset({
    ipaddress.ip_address("168.63.129.16"),  # Azure wireserver / IMDS proxy (a public address)
})
#: NAT64's well-known prefix embeds an IPv4 address in its last 32 bits.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(address: IPAddress) -> list[IPAddress]:
    """The address itself plus any IPv4 address an IPv6 one carries inside (mapped, 6to4,
    Teredo, NAT64): each must pass, or `::ffff:127.0.0.1` would walk past a loopback check."""
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address.teredo is not None:
            found.extend(address.teredo)
        if address in NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def parse_allowlist(
    text: str, setting: str = "ILUO_SYNC_SHOP_ALLOWLIST"
) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    """`"127.0.0.1/32, shop.local, 10.1.0.0/16"` → (host names, networks); ValueError on junk."""
    hosts: set[str] = set()
    networks: list[IPNetwork] = []
    for raw in text.replace(";", ",").split(","):
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        name = norm_host(entry)
        if not name or any(c in name for c in "/:@ ") or name.startswith("."):
            raise ValueError(f"{setting}: {entry!r} is neither a host name nor "
                             "an IP address/CIDR")
        hosts.add(name)
    return frozenset(hosts), tuple(networks)


def norm_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()
