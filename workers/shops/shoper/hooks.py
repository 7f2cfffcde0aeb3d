"""The Shoper sandbox's webhooks (the `webhooks` REST resource), delivered as the community
implementations of Shoper's documented scheme read it (docs/fidelity/shoper.md, "Webhooks",
unverified against Shoper itself): the raw body in the webhook's format (JSON here), headers
`X-Shop-Domain`, `X-Shop-License`, `X-Shop-Version`, `X-Webhook-Id`, `X-Webhook-Name` and
`X-Webhook-SHA1` = hex SHA-1 of `<webhook id>:<secret>:<body>`. Events `order.create`,
`order.edit` (and others).

Whether Shoper retries a failed delivery and whether it switches a failing webhook off is not
in any text we could read (docs/fidelity/shoper.md). The sandbox emulates every reading behind
switches, so the receiver and `webhooks check` are tested under each: `retry_delays` (seconds
before each re-send of a failed delivery, the same body and signature; empty: no retries) and
`disable_after` (consecutive failed deliveries after which the webhook is made inactive; None:
never). The default is the harsher reading for us: three retries, and off after 5 failures in
a row. `lose_answers` is fault injection: that many deliveries reach the receiver but count as
failed at the shop (an answer lost on the way), so the retry is a true duplicate.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from workers.shops.webhook_queue import DeliveryQueue, post

Json = dict[str, Any]
EVENTS = ("order.create", "order.edit", "order.paid", "order.status", "order.delete",
          "product.create", "product.edit", "product.delete")


def signature(webhook_id: int | str, secret: str, body: bytes) -> str:
    return hashlib.sha1(f"{webhook_id}:{secret}:".encode() + body).hexdigest()


@dataclass
class ShopHookDelivery:
    webhook_id: int
    event: str
    status: int | None  # None: no answer reached the shop
    headers: dict[str, str]
    attempt: int = 0  # 0 the first send, then each retry


#: The sandbox's reading of Shoper's delivery rules (unverified; see the module's docstring).
RETRY_DELAYS = (0.5, 1.0, 2.0)
DISABLE_AFTER = 5


@dataclass
class ShoperWebhooks:
    domain: str
    license: str = "sandbox-license"
    version: str = "5.13"
    webhooks: dict[int, Json] = field(default_factory=dict)
    deliveries: list[ShopHookDelivery] = field(default_factory=list)
    queue: DeliveryQueue = field(default_factory=DeliveryQueue)
    retry_delays: tuple[float, ...] = RETRY_DELAYS
    disable_after: int | None = DISABLE_AFTER
    lose_answers: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def rest(self, method: str, object_id: str | None, body: Any) -> tuple[int, Any]:
        """GET list / POST (answers the new id) / GET one / PUT (answers 1) / DELETE."""
        if object_id is None:
            if method == "GET":
                items = [self.render(h) for h in self.webhooks.values()]
                return 200, {"count": str(len(items)), "pages": 1, "page": 1, "list": items}
            if method == "POST" and isinstance(body, dict):
                events = [e for e in body.get("events") or [] if e in EVENTS]
                if not body.get("url") or not events:
                    return 400, {"error": "invalid_request",
                                 "error_description": "url and events are required"}
                hook_id = next(self._ids)
                self.webhooks[hook_id] = {
                    "webhook_id": hook_id, "url": str(body["url"]),
                    "secret": str(body.get("secret") or ""), "format": body.get("format", "json"),
                    "active": bool(body.get("active", True)), "events": events}
                return 200, hook_id
            return 405, {"error": "invalid_request", "error_description": "Method not allowed"}
        hook = self.webhooks.get(int(object_id)) if object_id.isdigit() else None
        if hook is None:
            return 404, {"error": "invalid_request", "error_description": "Resource not found"}
        if method == "PUT" and isinstance(body, dict):
            for key in ("url", "secret", "active", "events"):
                if key in body:
                    hook[key] = body[key]
            return 200, 1
        if method == "DELETE":
            del self.webhooks[hook["webhook_id"]]
            return 200, 1
        return 200, self.render(hook)

    def render(self, hook: Json) -> Json:
        return {k: v for k, v in hook.items() if k not in ("secret", "failures")}

    def fire(self, event: str, payload: Any) -> None:
        for hook in list(self.webhooks.values()):
            if hook["active"] and event in hook["events"]:
                body = json.dumps(payload, separators=(",", ":")).encode()
                self.queue.put(partial(self.deliver, hook["webhook_id"], event, body, 0))

    def idle(self) -> bool:
        return self.queue.idle()

    def deliver(self, hook_id: int, event: str, body: bytes, attempt: int) -> None:
        """One send; a failure counts towards `disable_after` and is re-sent after the next
        of `retry_delays` (the same bytes, so the same signature)."""
        hook = self.webhooks.get(hook_id)
        if hook is None or not hook["active"]:
            return
        headers = {
            "Content-Type": "application/json", "X-Shop-Domain": self.domain,
            "X-Shop-License": self.license, "X-Shop-Version": self.version,
            "X-Webhook-Id": str(hook_id), "X-Webhook-Name": event,
            "X-Webhook-SHA1": signature(hook_id, hook["secret"], body),
        }
        status = post(hook["url"], body, headers)
        if status is not None and self.lose_answers > 0:
            self.lose_answers -= 1
            status = None  # it arrived, but the shop never heard back
        self.deliveries.append(ShopHookDelivery(hook_id, event, status, headers, attempt))
        if status is not None and 200 <= status < 300:
            hook["failures"] = 0
            return
        hook["failures"] = hook.get("failures", 0) + 1
        if self.disable_after is not None and hook["failures"] >= self.disable_after:
            hook["active"] = False
            return
        if attempt < len(self.retry_delays):
            self.queue.put(partial(self.deliver, hook_id, event, body, attempt + 1),
                           delay=self.retry_delays[attempt])
