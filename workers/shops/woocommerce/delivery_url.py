"""Where WooCommerce can deliver a webhook: WordPress's `wp_http_validate_url`
(wp-includes/http.php), which `wp_safe_remote_request`/`wp_safe_remote_post` apply to every
delivery and to the creation ping (docs/fidelity/woocommerce.md, "Webhooks"). Written from its
source, used by the sandbox (which delivers only where WordPress would) and by
`webhooks register` (which refuses a URL the shop could never call).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

#: Ports a URL on another host may name (`wp_http_validate_url`; the `http_allowed_safe_ports`
#: filter of newer WordPress can widen them on a given shop).
SAFE_PORTS = (80, 443, 8080)
#: What WordPress calls local: 127/8, 10/8, 0/8, 172.16/12, 192.168/16 (IPv4 only; unless a
#: plugin answers `http_request_host_is_external`).
LOCAL = tuple(ipaddress.ip_network(n) for n in
              ("127.0.0.0/8", "10.0.0.0/8", "0.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def gethostbyname(host: str) -> str | None:
    """PHP's gethostbyname: the first IPv4 address, None when the name does not resolve."""
    try:
        return socket.gethostbyname(host)
    except (OSError, UnicodeError):
        return None


def refusal(url: str, home: str | None = None,
            resolve: Callable[[str], str | None] = gethostbyname,
            unresolved_passes: bool = False) -> str | None:
    """Why `wp_http_validate_url` refuses `url` for a shop at `home`, or None when it passes.
    WordPress refuses a name that does not resolve; `unresolved_passes` lets it through for a
    caller whose DNS is not the shop's (`webhooks register`)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "only http and https URLs are delivered to"
    if parts.username is not None or parts.password is not None:
        return "a user name or password in the URL"
    host = parts.netloc.rsplit("@", 1)[-1]
    host = host if host.endswith("]") else host.rsplit(":", 1)[0]  # the port off
    if not host:
        return "the URL has no host"
    if any(c in host for c in ":#?[]"):  # IPv6 literals included
        return f"{host} is not a host WordPress delivers to (an IPv6 literal)"
    home_parts = urlsplit(home) if home else None
    same_host = bool(home_parts and home_parts.hostname
                     and home_parts.hostname.lower() == host.lower())
    if not same_host:
        bare = host.strip(".")
        address: str | None
        try:
            address = str(ipaddress.IPv4Address(bare))
        except ValueError:
            address = resolve(bare)
            if address is None and not unresolved_passes:
                return f"{bare} does not resolve"
        if address is not None and any(ipaddress.ip_address(address) in net for net in LOCAL):
            shown = "" if address == bare else f" ({address})"
            return f"{bare} is a local or private address{shown}"
    if port is None or port in SAFE_PORTS:
        return None
    if same_host and home_parts is not None and home_parts.port == port:
        return None
    return f"port {port}: WordPress delivers only to ports 80, 443 and 8080"
