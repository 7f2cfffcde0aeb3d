"""`webhooks register` and `webhooks check`: the shop-side webhooks, through the shop's API.

WooCommerce delivers through `wp_safe_remote_request`, whose `wp_http_validate_url` refuses
loopback and private addresses and any port but 80, 443 and 8080: the public URL must be a
public address on one of those ports (a local-server customer puts a public https URL — a
reverse proxy or a tunnel — in front of the receiver). Its REST API never returns a webhook's
secret, so ours is kept (encrypted) and put again when `check` re-enables a disabled webhook;
and since re-enabling does not reset the shop's failure count, `check` re-enables only when
the receiver answers its health check. Shoper (its `webhooks` resource, events order.create
and order.edit) is handled the same way; its delivery and disabling rules are unverified
(docs/fidelity/shoper.md).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from app.webhooks import store
from shared.control.registry import Registry, Tenant
from shared.control.schedule import now_s
from shared.erp.integrations import IntegrationConfig, load_integration
from shared.errors import UserError
from workers.ports import ShopConnection, ShopError
from workers.shops.shoper.client import ShoperClient
from workers.shops.woocommerce import delivery_url
from workers.shops.woocommerce.client import WooCommerceClient

TOPICS = ("order.created", "order.updated")
SHOPER_EVENTS = ("order.create", "order.edit")
NAME = "iluo-sync"
PLATFORMS = ("woocommerce", "shoper")


class ShopHooks(Protocol):
    """One platform's webhook calls, as register and check need them."""

    def create(self, url: str, secret: str, made: list[str]) -> None: ...  # ids into made
    def active(self) -> dict[str, bool]: ...  # our kind of webhook id -> active
    def reenable(self, webhook_id: str, secret: str) -> None: ...
    def delete(self, webhook_id: str) -> None: ...


@dataclass
class _Woo:
    client: WooCommerceClient

    def create(self, url: str, secret: str, made: list[str]) -> None:
        for topic in TOPICS:  # one by one into `made`, so a refusal halfway can be undone
            made.append(self.client.create_webhook(NAME, topic, url, secret))  # noqa: PERF401

    def active(self) -> dict[str, bool]:
        return {str(r.get("id")): r.get("status") == "active" for r in self.client.list_webhooks()}

    def reenable(self, webhook_id: str, secret: str) -> None:
        self.client.update_webhook(webhook_id, status="active", secret=secret)

    def delete(self, webhook_id: str) -> None:
        self.client.delete_webhook(webhook_id)


@dataclass
class _Shoper:
    client: ShoperClient

    def create(self, url: str, secret: str, made: list[str]) -> None:
        made.append(self.client.create_webhook(url, secret, SHOPER_EVENTS))

    def active(self) -> dict[str, bool]:
        return {str(r.get("webhook_id")): r.get("active") in (True, 1, "1")
                for r in self.client.list_webhooks()}

    def reenable(self, webhook_id: str, secret: str) -> None:
        self.client.update_webhook(webhook_id, active=True, secret=secret)

    def delete(self, webhook_id: str) -> None:
        self.client.delete_webhook(webhook_id)


@contextmanager
def _shop(cfg: IntegrationConfig) -> Iterator[ShopHooks]:
    conn = ShopConnection.of(cfg)
    if cfg.platform == "shoper":
        with ShoperClient(conn) as shoper:
            yield _Shoper(shoper)
    else:
        with WooCommerceClient(conn) as woo:
            yield _Woo(woo)


def public_url_problem(url: str, platform: str = "woocommerce", home: str | None = None,
                       resolve: Callable[[str], list[str]] | None = None) -> str | None:
    """Why the shop could not deliver to `url`, or None. WooCommerce: WordPress's
    `wp_http_validate_url` (workers/shops/woocommerce/delivery_url.py), `home` being the shop's
    address. Every platform, and stricter than WordPress on purpose: an address that is not
    public (loopback, private, link-local, shared, documentation ranges) is refused unless it
    is the shop's own host, since a shop on the internet cannot reach it. A name that does not
    resolve here passes (our DNS is not the shop's)."""
    lookup = resolve or _addresses
    if platform == "woocommerce":
        problem = delivery_url.refusal(url, home, resolve=lambda h: next(
            (a for a in lookup(h) if ":" not in a), None), unresolved_passes=True)
        if problem:
            return problem
    parts = urlsplit(url)
    try:
        host = parts.hostname
    except ValueError:
        host = None
    if parts.scheme not in ("http", "https") or not host:
        return "the public URL must be an http(s) address"
    if home and urlsplit(home).hostname == host:
        return None
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = lookup(host)
    for address in addresses:
        if not ipaddress.ip_address(address).is_global:
            return (f"{host} is a local or private address ({address}): the shop cannot "
                    "deliver there")
    return None


def _addresses(host: str) -> list[str]:
    """Every address `host` resolves to here (none when it does not resolve)."""
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})
    except (OSError, UnicodeError):
        return []


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
    if cfg.platform not in PLATFORMS:
        raise UserError(f"webhooks are not supported for {cfg.platform} (only "
                        f"{', '.join(PLATFORMS)}); polling keeps importing its orders")
    return cfg


class ShopUnreachable(UserError):
    """`check` could not ask the shop (down, refusing, keys wrong): a failure to report and go
    on from, not a mistake in the command."""


def register(reg: Registry, tenant: Tenant, integration_id: int, public_url: str, *,
             allow_local: bool = False) -> list[str]:
    """A new token and secret, then the shop's webhooks for new and changed orders; ours from
    an earlier `register` are deleted once the new ones exist. Returns the shop's webhook ids.
    When the shop refuses, nothing stays half-done: webhooks it already made are deleted and
    the integration's row (its old URL working again) is put back as it was."""
    cfg = _integration(reg, tenant, integration_id)
    problem = public_url_problem(public_url, cfg.platform, home=cfg.base_url)
    if problem and not allow_local:
        raise UserError(f"{problem}. Put a public https URL (a reverse proxy or tunnel) in "
                        "front of `iluo-sync webhooks` and pass that as --public-url")
    engine = reg.tenant_engine(tenant)
    with engine.connect() as conn:
        before = store.snapshot(conn, integration_id)
        old = store.of_integration(conn, reg.box, integration_id)
    # The row first: the shop pings the new URL while creating the webhook (WooCommerce).
    with engine.begin() as conn:
        token, secret = store.create(conn, reg.box, tenant.id, integration_id, now_s(),
                                     public_url=public_url)
    delivery = f"{public_url.rstrip('/')}/hooks/{token}"
    made: list[str] = []
    try:
        with _shop(cfg) as shop:
            try:
                shop.create(delivery, secret, made)
            except ShopError:
                for webhook_id in made:
                    _delete_quietly(shop, webhook_id)
                raise
            for webhook_id in (old.shop_webhook_ids or "").split(",") if old else []:
                if webhook_id:
                    _delete_quietly(shop, webhook_id)
    except ShopError as exc:
        with engine.begin() as conn:
            store.restore(conn, integration_id, before)
        raise UserError(f"the shop refused the webhooks: {exc}") from None
    with engine.begin() as conn:
        store.set_state(conn, integration_id, now_s(), state="registered",
                        shop_webhook_ids=",".join(made))
    return made


def _delete_quietly(shop: ShopHooks, webhook_id: str) -> None:
    try:
        shop.delete(webhook_id)
    except ShopError:  # already gone on the shop's side, or the shop is failing: nothing to do
        pass


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
        with _shop(cfg) as shop:
            found = shop.active()
            for webhook_id in hook.shop_webhook_ids.split(","):
                if webhook_id not in found:
                    results.append(Checked(webhook_id, "-", "missing"))
                elif found[webhook_id]:
                    results.append(Checked(webhook_id, "active", "kept"))
                elif not reachable:
                    results.append(Checked(webhook_id, "disabled", "unreachable"))
                else:
                    shop.reenable(webhook_id, hook.secret)
                    results.append(Checked(webhook_id, "disabled", "re-enabled"))
    except ShopError as exc:
        raise ShopUnreachable(f"cannot read the shop's webhooks: {exc}") from None
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
