"""Shop connectors, one package per platform; `connect` picks one by the integration's platform.

Connectors are imported lazily so a worker loads only the platforms it actually talks to.
"""

from __future__ import annotations

from importlib import import_module

import httpx

from workers.ports import ShopClient, ShopConnection, ShopError

#: platform → "module:Class". Adding a platform is one line here plus its own package.
CONNECTORS: dict[str, str] = {
    "woocommerce": "workers.shops.woocommerce.client:WooCommerceClient",
    "vendure": "workers.shops.vendure.client:VendureClient",
    "shoper": "workers.shops.shoper.client:ShoperClient",
}


def connect(conn: ShopConnection, *, transport: httpx.BaseTransport | None = None) -> ShopClient:
    """The ShopClient for `conn.platform`; ShopError when the platform has no connector."""
    target = CONNECTORS.get(conn.platform.strip().lower())
    if target is None:
        known = ", ".join(sorted(CONNECTORS))
        raise ShopError(f"no connector for platform {conn.platform!r} (available: {known})")
    module_name, class_name = target.split(":")
    client_class = getattr(import_module(module_name), class_name)
    return client_class(conn, transport=transport)
