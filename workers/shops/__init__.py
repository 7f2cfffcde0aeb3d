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
    "prestashop": "workers.shops.prestashop.client:PrestaShopClient",
    "idosell": "workers.shops.idosell.client:IdoSellClient",
    "allegro": "workers.shops.allegro.client:AllegroClient",
}


def connector_class(platform: str) -> type:
    """The connector class of `platform`; ShopError when the platform has no connector."""
    target = CONNECTORS.get(platform.strip().lower())
    if target is None:
        known = ", ".join(sorted(CONNECTORS))
        raise ShopError(f"no connector for platform {platform!r} (available: {known})")
    module_name, class_name = target.split(":")
    return getattr(import_module(module_name), class_name)  # type: ignore[no-any-return]


def limitations(platform: str) -> tuple[str, ...]:
    """What the platform cannot do that the contract asks, as its connector states it."""
    try:
        return tuple(getattr(connector_class(platform), "limitations", ()))
    except ShopError:
        return ()


def connect(conn: ShopConnection, *, transport: httpx.BaseTransport | None = None) -> ShopClient:
    """The ShopClient for `conn.platform`; ShopError when the platform has no connector."""
    return connector_class(conn.platform)(conn, transport=transport)  # type: ignore[no-any-return]
