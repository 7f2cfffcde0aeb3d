"""`webhooks register` and `webhooks check`: the shop-side webhooks, through the shop's API.

WooCommerce delivers through `wp_safe_remote_request`, whose `wp_http_validate_url` refuses
loopback and private addresses and any port but 80, 443 and 8080: the public URL must be a
public address on one of those ports (a local-server customer puts a public https URL — a
reverse proxy or a tunnel — in front of the receiver). Its REST API never returns a webhook's
secret, so ours is kept (encrypted) and put again when `check` re-enables a disabled webhook;
and since re-enabling does not reset the shop's failure count, `check` re-enables only when
the receiver answers its health check.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from app.webhooks import store
from shared.control.registry import Registry, Tenant
from shared.control.schedule import now_s
from shared.erp.integrations import IntegrationConfig, load_integration
from shared.errors import UserError
from workers.ports import ShopConnection, ShopError
from workers.shops.woocommerce.client import WooCommerceClient

TOPICS = ("order.created", "order.updated")
NAME = "iluo-sync"


def public_url_problem(url: str) -> str | None:
    """Why WooCommerce would refuse to deliver to `url` (wp_http_validate_url), or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the public URL must be an http(s) address"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if port not in (80, 443, 8080):
        return f"port {port}: WooCommerce delivers only to ports 80, 443 and 8080"
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return "localhost is not reachable from the shop" if parts.hostname == "localhost" \
            else None
    if not address.is_global:
        return f"{address} is a local or private address: WooCommerce refuses to deliver there"
    return None


@dataclass(frozen=True, slots=True)
class Checked:
    webhook_id: str
    status: str  # what the shop said
    action: str  # kept | re-enabled | missing | unreachable


def _integration(reg: Registry, tenant: Tenant, integration_id: int) -> IntegrationConfig:
    with reg.tenant_engine(tenant).connect() as conn:
        cfg = load_integration(conn, integration_id)
    if cfg is None:
        raise UserError(f"tenant {tenant.name} has no shop integration #{integration_id}")
    if cfg.platform != "woocommerce":
        raise UserError(f"webhooks are not supported for {cfg.platform} yet (WooCommerce only); "
                        "polling keeps importing its orders")
    return cfg


def register(reg: Registry, tenant: Tenant, integration_id: int, public_url: str, *,
             allow_local: bool = False) -> list[str]:
    """A new token and secret, then the shop's webhooks for order.created and order.updated
    (old ones of ours deleted first). Returns the shop's webhook ids."""
    problem = public_url_problem(public_url)
    if problem and not allow_local:
        raise UserError(f"{problem}. Put a public https URL (a reverse proxy or tunnel) in "
                        "front of `iluo-sync webhooks` and pass that as --public-url")
    cfg = _integration(reg, tenant, integration_id)
    engine = reg.tenant_engine(tenant)
    with engine.connect() as conn:
        old = store.of_integration(conn, reg.box, integration_id)
    with engine.begin() as conn:
        token, secret = store.create(conn, reg.box, tenant.id, integration_id, now_s(),
                                     public_url=public_url)
    delivery = f"{public_url.rstrip('/')}/hooks/{token}"
    try:
        with WooCommerceClient(ShopConnection.of(cfg)) as client:
            for webhook_id in (old.shop_webhook_ids or "").split(",") if old else []:
                if webhook_id:
                    try:
                        client.delete_webhook(webhook_id)
                    except ShopError:  # already gone on the shop's side
                        pass
            ids = [client.create_webhook(NAME, topic, delivery, secret) for topic in TOPICS]
    except ShopError as exc:
        raise UserError(f"the shop refused the webhooks: {exc}") from None
    with engine.begin() as conn:
        store.set_state(conn, integration_id, now_s(), state="registered",
                        shop_webhook_ids=",".join(ids))
    return ids


def check(reg: Registry, tenant: Tenant, integration_id: int) -> list[Checked]:
    """Find our webhooks on the shop; re-enable (with our secret) those it disabled — only when
    the receiver answers, since a failure right after would count towards disabling again."""
    cfg = _integration(reg, tenant, integration_id)
    engine = reg.tenant_engine(tenant)
    with engine.connect() as conn:
        hook = store.of_integration(conn, reg.box, integration_id)
    if hook is None or not hook.shop_webhook_ids:
        raise UserError(f"integration #{integration_id} has no webhooks: run "
                        f"`iluo-sync webhooks register {tenant.name} {integration_id} "
                        "--public-url URL`")
    reachable = _reachable(hook.public_url)
    results = []
    try:
        with WooCommerceClient(ShopConnection.of(cfg)) as client:
            found = {str(row.get("id")): row for row in client.list_webhooks()}
            for webhook_id in hook.shop_webhook_ids.split(","):
                row = found.get(webhook_id)
                if row is None:
                    results.append(Checked(webhook_id, "-", "missing"))
                elif row.get("status") == "active":
                    results.append(Checked(webhook_id, "active", "kept"))
                elif not reachable:
                    results.append(Checked(webhook_id, str(row.get("status")), "unreachable"))
                else:
                    client.update_webhook(webhook_id, status="active", secret=hook.secret)
                    results.append(Checked(webhook_id, str(row.get("status")), "re-enabled"))
    except ShopError as exc:
        raise UserError(f"cannot read the shop's webhooks: {exc}") from None
    state = ("missing" if any(r.action == "missing" for r in results) else
             "disabled" if any(r.action == "unreachable" for r in results) else "registered")
    with engine.begin() as conn:
        store.set_state(conn, integration_id, now_s(), state=state)
    return results


def _reachable(public_url: str | None) -> bool:
    if not public_url:
        return False
    try:
        return httpx.get(f"{public_url.rstrip('/')}/health", timeout=5.0).status_code == 200
    except httpx.HTTPError:
        return False
