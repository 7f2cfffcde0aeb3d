"""The WooCommerce sandbox's webhooks, delivered as WC_Webhook does (docs/fidelity/woocommerce.md,
"Webhooks"): a JSON body as PHP's `wp_json_encode` writes it (slashes and non-ASCII escaped),
`X-WC-Webhook-*` headers with the base64 HMAC-SHA256 signature of those exact bytes, the
creation ping (`webhook_id=N`, unsigned) that needs exactly 200, no retry of a failed delivery,
and the webhook disabled once more than 5 consecutive deliveries failed. Deliveries wait
`queue.delay` seconds first, standing in for Action Scheduler's queue.

`wp_http_validate_url` refuses loopback and private addresses, IPv6 literals, credentials in
the URL, names that do not resolve and ports other than 80, 443 and 8080 (all but the port rule
waived for the shop's own host; `delivery_url.refusal`); `allow_local` turns that rule off so
tests can deliver to 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from workers.shops.webhook_queue import DeliveryQueue, post
from workers.shops.woocommerce.delivery_url import refusal

Json = dict[str, Any]

#: `woocommerce_max_webhook_delivery_failures`: disabled when the count is already above it.
MAX_FAILURES = 5
USER_AGENT = "WooCommerce/{wc} Hookshot (WordPress/6.7.1)"
TOPICS = ("order.created", "order.updated", "order.deleted", "order.restored",
          "product.created", "product.updated", "product.deleted", "product.restored")


def php_json(payload: Any) -> bytes:
    """`wp_json_encode` with its default flags: `/` as `\\/`, non-ASCII as `\\uXXXX`."""
    text = json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
    return text.replace("/", "\\/").encode()


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Delivery:
    webhook_id: int
    topic: str
    status: int | None  # None: the request failed (a WP_Error)
    body: bytes
    headers: dict[str, str]
    sent_at: float = 0.0  # time.time() when the request went out (for the latency benchmark)


@dataclass
class WooWebhooks:
    """The shop's webhooks and their delivery queue (one thread, started on first use)."""

    site_url: str
    wc_version: str
    allow_local: bool = False
    webhooks: dict[int, Json] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    queue: DeliveryQueue = field(default_factory=DeliveryQueue)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def create(self, name: str, topic: str, delivery_url: str, secret: str,
               status: str = "active") -> Json:
        hook_id = next(self._ids)
        hook: Json = {"id": hook_id, "name": name, "status": status, "topic": topic,
                "resource": topic.split(".")[0], "event": topic.split(".")[-1],
                "delivery_url": delivery_url, "secret": secret, "failure_count": 0,
                "pending_delivery": True}
        self.webhooks[hook_id] = hook
        self.ping(hook)
        return hook

    # -- the REST resource (WC_REST_Webhooks_Controller) ---------------------------------------

    def rest(self, action: str, hook_id: int | None, body: Json) -> tuple[int, Any]:
        """/wc/v3/webhooks: list, create (then the ping, its result ignored, as create_item
        does), read, update, delete. The secret is never rendered."""
        if action == "list":
            return 200, [self.render(h) for h in self.webhooks.values()]
        if action == "create":
            missing = [k for k in ("topic", "delivery_url") if not body.get(k)]
            if missing:
                return 400, {"code": "rest_missing_callback_param",
                             "message": f"Missing parameter(s): {', '.join(missing)}",
                             "data": {"status": 400, "params": missing}}
            if body["topic"] not in TOPICS:
                return 400, {"code": "woocommerce_rest_webhook_invalid_topic",
                             "message": "Webhook topic is required and must be valid.",
                             "data": {"status": 400}}
            made = self.create(str(body.get("name") or ""), body["topic"], body["delivery_url"],
                               str(body.get("secret") or secrets.token_urlsafe(36)),
                               str(body.get("status") or "active"))
            return 201, self.render(made)
        hook = self.webhooks.get(hook_id or 0)
        if hook is None:
            return 404, {"code": "woocommerce_rest_webhook_invalid_id",
                         "message": "Invalid ID.", "data": {"status": 404}}
        if action == "update":
            # Re-enabling keeps the failure count: one more failure disables it again.
            moved = bool(body.get("delivery_url")) and body["delivery_url"] != hook["delivery_url"]
            for key in ("name", "status", "delivery_url", "secret", "topic"):
                if body.get(key):
                    hook[key] = str(body[key])
            if hook["status"] == "active" and (moved or hook["pending_delivery"]):
                self.ping(hook)  # WC_Webhook_Data_Store::update
            return 200, self.render(hook)
        if action == "delete":
            del self.webhooks[hook["id"]]
        return 200, self.render(hook)

    def render(self, hook: Json) -> Json:
        return {key: hook[key] for key in ("id", "name", "status", "topic", "resource", "event",
                                           "delivery_url")}

    def ping(self, hook: Json) -> bool:
        """`deliver_ping`: unsigned `webhook_id=N`; only exactly 200 clears pending_delivery."""
        status = self._post(hook["delivery_url"], f"webhook_id={hook['id']}".encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})
        if status == 200:
            hook["pending_delivery"] = False
        return status == 200

    def fire(self, resource: str, event: str, payload: Any) -> None:
        """Queue a delivery for every active webhook on `resource.event`."""
        for hook in list(self.webhooks.values()):
            if hook["status"] == "active" and hook["topic"] == f"{resource}.{event}":
                self.queue.put(partial(self._deliver_if_active, hook["id"], payload))

    def idle(self) -> bool:
        return self.queue.idle()

    def _deliver_if_active(self, hook_id: int, payload: Any) -> None:
        hook = self.webhooks.get(hook_id)
        if hook is not None and hook["status"] == "active":
            self.deliver(hook, payload)

    def deliver(self, hook: Json, payload: Any) -> Delivery:
        """`WC_Webhook::deliver` then `log_delivery`'s failure count."""
        body = php_json(payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT.format(wc=self.wc_version),
            "X-WC-Webhook-Source": self.site_url.rstrip("/") + "/",
            "X-WC-Webhook-Topic": hook["topic"],
            "X-WC-Webhook-Resource": hook["resource"],
            "X-WC-Webhook-Event": hook["event"],
            "X-WC-Webhook-Signature": signature(hook["secret"], body),
            "X-WC-Webhook-ID": str(hook["id"]),
            # wp_hash(id . strtotime('now')): the same within one second, so no replay key.
            "X-WC-Webhook-Delivery-ID": hashlib.md5(
                f"{hook['id']}{int(time.time())}".encode()).hexdigest(),
        }
        sent_at = time.time()
        status = self._post(hook["delivery_url"], body, headers)
        if status is not None and 200 <= status < 303:
            hook["failure_count"] = 0
        elif hook["failure_count"] > MAX_FAILURES:
            hook["status"] = "disabled"
        else:
            hook["failure_count"] += 1
        done = Delivery(hook["id"], hook["topic"], status, body, headers, sent_at)
        self.deliveries.append(done)
        if hook["pending_delivery"]:  # WooCommerce pings again until one gets 200
            self.ping(hook)
        return done

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int | None:
        if not self.allow_local and refusal(url, home=self.site_url):
            return None  # wp_safe_remote_request's WP_Error: "A valid URL was not provided."
        return post(url, body, headers)  # WooCommerce: redirection 0, a minute's timeout
