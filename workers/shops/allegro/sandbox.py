"""An Allegro REST API emulator for tests, benchmarks and `iluo-sync sandbox allegro`.

Written from developer.allegro.pl's reference (docs/fidelity/allegro.md cites each behaviour;
what the reference does not settle is marked there and chosen here in the stricter reading):

- OAuth on the same host (a local sandbox has no `api.` to drop): `POST /auth/oauth/device`
  (Basic client credentials) and `POST /auth/oauth/token` with the device-code grant
  (`authorization_pending` until the seller approves, `slow_down` when polled faster than the
  interval) and the refresh grant. Access tokens end after `access_ttl`; a refresh token is
  single-use (the stricter reading of an undocumented point) and ends after `refresh_ttl`.
  `revoke()` kills a seller's tokens as the seller's "disconnect app" does.
- API calls need `Accept: application/vnd.allegro.public.v1+json` (406 otherwise), bodies that
  content type (415), a live bearer token (401 `invalid_token`).
- `GET /order/checkout-forms`: `limit` 1..100 (422 beyond), offset + limit ≤ 10 000 (422),
  filters `status`, `fulfillment.status`, `updatedAt.gte/lte`, `lineItems.boughtAt.gte/lte`,
  `sort` (`updatedAt`, `lineItems.boughtAt`, `-` for descending; default boughtAt descending),
  answer `{"checkoutForms", "count", "totalCount"}`; `GET …/{id}`; `PUT …/{id}/fulfillment`
  with `checkoutForm.revision` (409 when stale), which changes the revision and `updatedAt`.
- `GET /sale/offers` (`external.id`, `publication.status` filters, `limit` 1..1000), `GET` and
  `PATCH /sale/product-offers/{id}` (title ≤ 75 characters).
- Commands `PUT /sale/offer-quantity-change-commands/{id}` (FIXED value ≥ 1, ≤ 1000 offers)
  and `PUT /sale/offer-publication-commands/{id}` (END, ACTIVATE), answered 201; their tasks
  (`GET …/{id}/tasks`) stay NEW for `command_lag` reads, then SUCCESS or FAIL per offer (an offer
  that is not the seller's fails, so does activating an offer with no stock). `GET …/{id}` gives
  the `taskCount` summary.
- 9000 requests a minute per client id; beyond, 429 and the client id blocked for a minute,
  with no `Retry-After` (its presence is unverified; absent is the harder case).
"""

from __future__ import annotations

import base64
import itertools
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson

from workers.shops.sandbox import (
    Faults,
    Sandbox,
    SandboxRequest,
    SandboxResponse,
    json_response,
    serve_until_stopped,
)

VND = "application/vnd.allegro.public.v1+json"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
FORMS_LIMIT = 100
OFFERS_LIMIT = 1000
MAX_OFFSET = 10_000
OFFERS_MAX_OFFSET = 10_000_000
COMMAND_MAX = 1000
MAX_TITLE = 75
FULFILLMENT = ("NEW", "PROCESSING", "READY_FOR_SHIPMENT", "READY_FOR_PICKUP", "SENT",
               "PICKED_UP", "CANCELLED", "SUSPENDED", "RETURNED")


def iso(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def error(status: int, code: str, message: str, path: str | None = None) -> SandboxResponse:
    """Allegro's error document: `{"errors": [{"code", "message", "details", "path",
    "userMessage"}]}`."""
    return json_response(status, {"errors": [{"code": code, "message": message, "details": None,
                                              "path": path, "userMessage": message}]})


def oauth_error(status: int, code: str, description: str) -> SandboxResponse:
    return json_response(status, {"error": code, "error_description": description})


@dataclass
class Device:
    device_code: str
    user_code: str
    expires: float
    interval: float
    approved: bool = False
    denied: bool = False
    last_poll: float = 0.0


@dataclass
class Command:
    kind: str  # quantity | publication
    offers: list[str]
    results: dict[str, tuple[str, str]]
    reads: int = 0
    created: datetime = field(default_factory=lambda: datetime.now(UTC))


class AllegroSandbox(Sandbox):
    platform = "allegro"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.time,
        access_ttl: float = 43_199,
        refresh_ttl: float = 90 * 86_400,
        per_minute: int = 9000,
        command_lag: int = 0,
        auto_approve: bool = True,
        interval: float = 5.0,
        max_offset: int = MAX_OFFSET,
    ) -> None:
        super().__init__(faults=faults)
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock = clock
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.per_minute = per_minute
        self.command_lag = command_lag
        self.auto_approve = auto_approve
        self.interval = interval
        self.max_offset = max_offset
        #: Answer lists in the default order whatever `sort` says (a server that ignores it).
        self.ignore_sort = False
        self.reset_data()

    def reset_data(self) -> None:
        self.devices: dict[str, Device] = {}
        self.access: dict[str, float] = {}  # token → expiry
        self.refresh: dict[str, float] = {}
        self.offers: dict[str, dict[str, Any]] = {}
        self.forms: dict[str, dict[str, Any]] = {}
        self.commands: dict[str, Command] = {}
        self._calls: list[float] = []
        self.blocked_until = 0.0
        self._offer_ids = itertools.count(17_000_000_001)
        # Form, line and payment ids: UUIDs as Allegro's, but from a counter, so that a test
        # (or a hypothesis example replayed) sees the same shop twice.
        self._uuids = itertools.count(0x29738E617F6A11E8AC4509DB60EDE000)
        self.refreshes = 0

    def state(self) -> dict[str, Any]:
        return {"offers": len(self.offers), "checkout_forms": len(self.forms),
                "commands": len(self.commands), "live_tokens": len(self.access)}

    # -- seeding and inspection (tests, harness, demo) ------------------------------------------

    def issue_tokens(self) -> dict[str, Any]:
        """A fresh token pair, as a completed device flow would give it."""
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self.clock()
        with self.lock:
            self.access[access] = now + self.access_ttl
            self.refresh[refresh] = now + self.refresh_ttl
        return {"access_token": access, "token_type": "bearer", "refresh_token": refresh,
                "expires_in": int(self.access_ttl), "scope": "allegro:api:orders:read",
                "allegro_api": True, "jti": secrets.token_hex(8)}

    def revoke(self) -> None:
        """The seller disconnected the application: every token dies."""
        with self.lock:
            self.access.clear()
            self.refresh.clear()

    def approve(self, user_code: str, *, deny: bool = False) -> None:
        with self.lock:
            for device in self.devices.values():
                if device.user_code == user_code:
                    device.approved, device.denied = not deny, deny

    def add_offer(self, *, sku: str | None, name: str, price: Decimal, stock: int,
                  status: str = "ACTIVE", seller: bool = True) -> dict[str, Any]:
        offer_id = str(next(self._offer_ids))
        offer = {
            "id": offer_id,
            "name": name,
            "sellingMode": {"format": "BUY_NOW",
                            "price": {"amount": str(price.quantize(Decimal("0.01"))),
                                      "currency": "PLN"}},
            "stock": {"available": stock, "sold": 0, "unit": "UNIT"},
            "publication": {"status": status, "endedBy": None},
            "external": {"id": sku} if sku is not None else None,
            "category": {"id": "257931"},
            "_seller": seller,
        }
        with self.lock:
            self.offers[offer_id] = offer
        return offer

    def sell_out(self, offer_id: str) -> None:
        """Buyers took the last pieces: Allegro ends the offer itself (`endedBy` EMPTY_STOCK)."""
        with self.lock:
            offer = self.offers[offer_id]
            offer["stock"]["sold"] += offer["stock"]["available"]
            offer["stock"]["available"] = 0
            offer["publication"].update(status="ENDED", endedBy="EMPTY_STOCK")

    def offers_by_sku(self, sku: str) -> list[dict[str, Any]]:
        with self.lock:
            return [o for o in self.offers.values()
                    if o["_seller"] and (o.get("external") or {}).get("id") == sku]

    def add_form(
        self,
        lines: list[tuple[str | None, int, Decimal]],
        *,
        email: str = "kupujacy@allegromail.pl",
        status: str = "READY_FOR_PROCESSING",
        fulfillment: str = "NEW",
        updated: datetime | None = None,
        bought: datetime | None = None,
        invoice_nip: str | None = None,
        paid: bool = True,
        delivery_cost: Decimal = Decimal("12.99"),
    ) -> dict[str, Any]:
        """A checkout form; lines are (SKU or None, quantity, unit price)."""
        now = datetime.now(UTC)
        updated = updated or now
        bought = bought or updated
        form_id = self._uuid()
        items = []
        total = delivery_cost
        for sku, quantity, price in lines:
            offers = self.offers_by_sku(sku) if sku else []
            offer_id = offers[0]["id"] if offers else str(next(self._offer_ids))
            name = offers[0]["name"] if offers else f"Przedmiot {sku or offer_id}"
            items.append({
                "id": self._uuid(),
                "offer": {"id": offer_id, "name": name,
                          "external": {"id": sku} if sku else None},
                "quantity": quantity,
                "originalPrice": {"amount": str(price), "currency": "PLN"},
                "price": {"amount": str(price), "currency": "PLN"},
                "boughtAt": iso(bought),
            })
            total += price * quantity
        form: dict[str, Any] = {
            "id": form_id,
            "messageToSeller": "Proszę o szybką wysyłkę",
            "buyer": {"id": "12345678", "email": email, "login": "kupujacy_1",
                      "firstName": "Jan", "lastName": "Kowalski", "companyName": None,
                      "guest": False, "phoneNumber": "+48 600 100 200",
                      "address": {"street": "Długa 1", "city": "Gdańsk", "postCode": "80-001",
                                  "countryCode": "PL"}},
            "payment": {"id": self._uuid(), "type": "ONLINE",
                        "provider": "P24", "finishedAt": iso(bought) if paid else None,
                        "paidAmount": {"amount": str(total), "currency": "PLN"} if paid else None},
            "status": status,
            "fulfillment": {"status": fulfillment, "shipmentSummary": {"lineItemsSent": "NONE"}},
            "delivery": {"address": {"firstName": "Jan", "lastName": "Kowalski",
                                     "street": "Długa 1", "city": "Gdańsk", "zipCode": "80-001",
                                     "countryCode": "PL", "companyName": None,
                                     "phoneNumber": "+48 600 100 200"},
                         "method": {"id": "b20ef9e1-faa2-4f25-9455-f2b8ac0e1d6b",
                                    "name": "Allegro Paczkomaty InPost"},
                         "cost": {"amount": str(delivery_cost), "currency": "PLN"},
                         "smart": False},
            "invoice": {"required": invoice_nip is not None,
                        "address": {"street": "Przemysłowa 5", "city": "Poznań",
                                    "zipCode": "60-001", "countryCode": "PL",
                                    "company": {"name": "Firma Sp. z o.o.", "taxId": invoice_nip},
                                    "naturalPerson": None} if invoice_nip else None},
            "lineItems": items,
            "surcharges": [],
            "discounts": [],
            "summary": {"totalToPay": {"amount": str(total), "currency": "PLN"}},
            "marketplace": {"id": "allegro-pl"},
            "updatedAt": iso(updated),
            "revision": f"{next(self._uuids) & 0xFFFFFFFF:08x}",
        }
        with self.lock:
            self.forms[form_id] = form
        return form

    def _uuid(self) -> str:
        return str(uuid.UUID(int=next(self._uuids)))

    def change_form(self, form_id: str, **changes: Any) -> None:
        """A change made on Allegro's side (paid, cancelled, fulfilment): bumps `updatedAt` and
        the revision."""
        with self.lock:
            form = self.forms[form_id]
            for key, value in changes.items():
                if key == "fulfillment":
                    form["fulfillment"]["status"] = value
                elif key == "paid" and value:
                    form["payment"]["finishedAt"] = iso(datetime.now(UTC))
                else:
                    form[key] = value
            form["updatedAt"] = iso(datetime.now(UTC))
            form["revision"] = f"{next(self._uuids) & 0xFFFFFFFF:08x}"

    # -- dispatch -------------------------------------------------------------------------------

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        path = unquote(request.path).rstrip("/") or "/"
        if path.startswith("/auth/oauth/"):
            return self._oauth(request, path)
        if path == "/skojarz-aplikacje" and request.method == "GET":
            return self._confirm_page(request.query.get("code", ""))
        limited = self._rate(request)
        if limited is not None:
            return limited
        if request.header("accept") != VND:
            return error(406, "NotAcceptableException",
                         f"Accept must be {VND}")
        if request.body and request.header("content-type").split(";")[0].strip() != VND:
            return error(415, "UnsupportedMediaTypeException", f"Content-Type must be {VND}")
        token = request.header("authorization").removeprefix("Bearer ").strip()
        expiry = self.access.get(token)
        if not token or expiry is None or expiry <= self.clock():
            return oauth_error(401, "invalid_token", "Invalid access token")
        parts = path.strip("/").split("/")
        method = request.method
        if parts[:2] == ["order", "checkout-forms"]:
            if len(parts) == 2 and method == "GET":
                return self._list_forms(request)
            if len(parts) == 3 and method == "GET":
                form = self.forms.get(parts[2])
                return json_response(200, form) if form else self._not_found("checkout form")
            if len(parts) == 4 and parts[3] == "fulfillment" and method == "PUT":
                return self._fulfillment(request, parts[2])
        if parts[:2] == ["sale", "offers"] and len(parts) == 2 and method == "GET":
            return self._list_offers(request)
        if parts[:2] == ["sale", "product-offers"] and len(parts) == 3:
            offer = self.offers.get(parts[2])
            if offer is None or not offer["_seller"]:
                return self._not_found("offer")
            if method == "GET":
                return json_response(200, _public(offer))
            if method == "PATCH":
                return self._patch_offer(request, offer)
        kinds = {"offer-quantity-change-commands": "quantity",
                 "offer-publication-commands": "publication"}
        if len(parts) >= 3 and parts[0] == "sale" and parts[1] in kinds:
            return self._commands(request, kinds[parts[1]], parts[2:])
        return error(404, "NotFoundException", f"no resource {method} {path}")

    @staticmethod
    def _not_found(what: str) -> SandboxResponse:
        return error(404, "NotFoundException", f"{what} not found")

    def _rate(self, request: SandboxRequest) -> SandboxResponse | None:
        now = self.clock()
        if now < self.blocked_until:
            return error(429, "TooManyRequests", "Client ID blocked for exceeding the limit")
        self._calls = [t for t in self._calls if t > now - 60]
        if len(self._calls) >= self.per_minute:
            self.blocked_until = now + 60
            return error(429, "TooManyRequests", "Request limit per minute exceeded")
        self._calls.append(now)
        return None

    # -- OAuth ----------------------------------------------------------------------------------

    def _confirm_page(self, user_code: str) -> SandboxResponse:
        """Where `verification_uri` points: the seller "logs in" and the code is confirmed
        (Allegro's own page asks for the login and shows the application's scopes)."""
        known = any(d.user_code == user_code for d in self.devices.values())
        if known:
            self.approve(user_code)
        text = ("Aplikacja została powiązana z kontem." if known
                else "Nieznany lub wygasły kod.")
        body = f"<html><body><h1>Allegro sandbox</h1><p>{text}</p></body></html>".encode()
        return SandboxResponse(200 if known else 404, body,
                               [("Content-Type", "text/html; charset=UTF-8")])

    def _client_ok(self, request: SandboxRequest) -> bool:
        header = request.header("authorization")
        if not header.startswith("Basic "):
            return False
        try:
            raw = base64.b64decode(header[6:]).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        return raw == f"{self.client_id}:{self.client_secret}"

    def _oauth(self, request: SandboxRequest, path: str) -> SandboxResponse:
        if request.method != "POST":
            return oauth_error(405, "invalid_request", "POST only")
        if not self._client_ok(request):
            return oauth_error(401, "unauthorized", "Full authentication is required")
        # Parameters may come in the query (as Allegro's examples send them) or a form body.
        params = dict(request.query_items)
        params.update(dict(parse_qsl(request.body.decode("utf-8", "replace"))))
        now = self.clock()
        if path == "/auth/oauth/device":
            if params.get("client_id") != self.client_id:
                return oauth_error(400, "invalid_request", "client_id does not match")
            device = Device(secrets.token_urlsafe(24), secrets.token_hex(3).upper(),
                            now + 3600, self.interval, approved=False)
            self.devices[device.device_code] = device
            return json_response(200, {
                "device_code": device.device_code, "user_code": device.user_code,
                "verification_uri": f"{request.base_url}/skojarz-aplikacje",
                "verification_uri_complete":
                    f"{request.base_url}/skojarz-aplikacje?code={device.user_code}",
                "expires_in": 3600,
                "interval": int(self.interval) if self.interval.is_integer() else self.interval})
        if path != "/auth/oauth/token":
            return oauth_error(404, "invalid_request", "unknown endpoint")
        grant = params.get("grant_type", "")
        if grant == DEVICE_GRANT:
            device_or_none = self.devices.get(params.get("device_code", ""))
            if device_or_none is None or device_or_none.expires <= now:
                return oauth_error(400, "expired_token", "Device code expired or unknown")
            device = device_or_none
            if device.denied:
                return oauth_error(400, "access_denied", "The user denied access")
            too_fast = device.last_poll and now - device.last_poll < device.interval - 0.001
            device.last_poll = now
            if too_fast and not self.auto_approve:
                return oauth_error(400, "slow_down", "Polling too fast")
            if not device.approved and not self.auto_approve:
                return oauth_error(400, "authorization_pending", "Authorization pending")
            del self.devices[device.device_code]
            return json_response(200, self.issue_tokens())
        if grant == "refresh_token":
            refresh = params.get("refresh_token", "")
            expiry = self.refresh.pop(refresh, None)  # single use
            if expiry is None or expiry <= now:
                return oauth_error(400, "invalid_grant", "Invalid refresh token")
            self.refreshes += 1
            return json_response(200, self.issue_tokens())
        return oauth_error(400, "unsupported_grant_type", f"grant {grant!r}")

    # -- checkout forms -------------------------------------------------------------------------

    def _paging(self, request: SandboxRequest, cap: int,
                max_offset: int | None = None) -> tuple[int, int] | SandboxResponse:
        try:
            limit = int(request.query.get("limit", str(min(cap, 100))))
            offset = int(request.query.get("offset", "0"))
        except ValueError:
            return error(422, "VALIDATION_ERROR", "limit and offset must be integers")
        if not 1 <= limit <= cap:
            return error(422, "VALIDATION_ERROR", f"limit must be between 1 and {cap}", "limit")
        most = self.max_offset if max_offset is None else max_offset
        if offset < 0 or offset + limit > most:
            return error(422, "VALIDATION_ERROR",
                         f"offset + limit must not exceed {most}", "offset")
        return offset, limit

    def _list_forms(self, request: SandboxRequest) -> SandboxResponse:
        paging = self._paging(request, FORMS_LIMIT)
        if isinstance(paging, SandboxResponse):
            return paging
        offset, limit = paging
        query = request.query
        try:
            bounds = {k: _parse_time(v) for k, v in query.items()
                      if k.endswith((".gte", ".lte"))}
        except ValueError:
            return error(422, "VALIDATION_ERROR", "dates must be ISO-8601")
        forms = list(self.forms.values())
        if "status" in query:
            forms = [f for f in forms if f["status"] == query["status"]]
        if "fulfillment.status" in query:
            forms = [f for f in forms if f["fulfillment"]["status"] == query["fulfillment.status"]]

        def bought(form: dict[str, Any]) -> datetime:
            stamps = [_parse_time(i["boughtAt"]) for i in form["lineItems"]] or [
                _parse_time(form["updatedAt"])]
            return max(stamps)

        keys: dict[str, Callable[[dict[str, Any]], datetime]] = {
            "updatedAt": lambda f: _parse_time(f["updatedAt"]), "lineItems.boughtAt": bought}
        for name, key in keys.items():
            if f"{name}.gte" in bounds:
                forms = [f for f in forms if key(f) >= bounds[f"{name}.gte"]]
            if f"{name}.lte" in bounds:
                forms = [f for f in forms if key(f) <= bounds[f"{name}.lte"]]
        default = "-lineItems.boughtAt"
        sort = default if self.ignore_sort else query.get("sort", default)
        field_name = sort.lstrip("-")
        if field_name not in keys:
            return error(422, "VALIDATION_ERROR", f"cannot sort by {sort!r}", "sort")
        # Ties keep a stable order (by id): what Allegro does with ties is unverified.
        forms.sort(key=lambda f: f["id"])
        forms.sort(key=keys[field_name], reverse=sort.startswith("-"))
        window = forms[offset:offset + limit]
        return json_response(200, {"checkoutForms": window, "count": len(window),
                                   "totalCount": len(forms)})

    def _fulfillment(self, request: SandboxRequest, form_id: str) -> SandboxResponse:
        form = self.forms.get(form_id)
        if form is None:
            return self._not_found("checkout form")
        wanted = request.query.get("checkoutForm.revision")
        if wanted and wanted != form["revision"]:
            return error(409, "CONFLICT", "The checkout form was modified; use its new revision")
        try:
            status = orjson.loads(request.body).get("status")
        except (orjson.JSONDecodeError, AttributeError):
            return error(422, "VALIDATION_ERROR", "body must be a JSON object")
        if status not in FULFILLMENT:
            return error(422, "VALIDATION_ERROR", f"unknown status {status!r}", "status")
        form["fulfillment"]["status"] = status
        form["updatedAt"] = iso(datetime.now(UTC))
        form["revision"] = f"{next(self._uuids) & 0xFFFFFFFF:08x}"
        return SandboxResponse(204)

    # -- offers ---------------------------------------------------------------------------------

    def _list_offers(self, request: SandboxRequest) -> SandboxResponse:
        paging = self._paging(request, OFFERS_LIMIT, OFFERS_MAX_OFFSET)
        if isinstance(paging, SandboxResponse):
            return paging
        offset, limit = paging
        # Multi-valued filters: `external.id=A&external.id=B` means A or B.
        values: dict[str, set[str]] = {}
        for name, value in request.query_items:
            values.setdefault(name, set()).add(value)
        offers = [o for o in self.offers.values() if o["_seller"]]
        if any(len(v) > 100 for v in values.get("external.id", ())):
            return error(422, "VALIDATION_ERROR", "external.id longer than 100", "external.id")
        filters: dict[str, Callable[[dict[str, Any]], str]] = {
            "external.id": lambda o: (o.get("external") or {}).get("id") or "",
            "offer.id": lambda o: o["id"],
            "publication.status": lambda o: o["publication"]["status"],
        }
        for name, key in filters.items():
            if name in values:
                offers = [o for o in offers if key(o) in values[name]]
        offers.sort(key=lambda o: int(o["id"]), reverse=True)  # documented default: id, descending
        window = offers[offset:offset + limit]
        return json_response(200, {"offers": [_listed(o) for o in window], "count": len(window),
                                   "totalCount": len(offers)})

    def _patch_offer(self, request: SandboxRequest, offer: dict[str, Any]) -> SandboxResponse:
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return error(422, "VALIDATION_ERROR", "body must be JSON")
        if not isinstance(body, dict):
            return error(422, "VALIDATION_ERROR", "body must be an object")
        name = body.get("name")
        if name is not None:
            if not isinstance(name, str) or not name.strip() or len(name) > MAX_TITLE:
                return error(422, "VALIDATION_ERROR",
                             f"title must have 1..{MAX_TITLE} characters", "name")
            offer["name"] = name
        price = ((body.get("sellingMode") or {}).get("price") or {})
        if price:
            try:
                amount = Decimal(str(price.get("amount")))
            except ArithmeticError:
                return error(422, "VALIDATION_ERROR", "price must be a number", "sellingMode")
            if amount <= 0 or price.get("currency") != "PLN":
                return error(422, "VALIDATION_ERROR", "price must be positive PLN", "sellingMode")
            offer["sellingMode"]["price"] = {"amount": str(amount), "currency": "PLN"}
        if "external" in body:
            offer["external"] = body["external"]
        return json_response(200, _public(offer))

    # -- commands -------------------------------------------------------------------------------

    def _commands(self, request: SandboxRequest, kind: str, rest: list[str]) -> SandboxResponse:
        command_id = rest[0]
        if request.method == "PUT" and len(rest) == 1:
            return self._run_command(request, kind, command_id)
        command = self.commands.get(command_id)
        if command is None or command.kind != kind:
            return self._not_found("command")
        if request.method == "GET" and len(rest) == 1:
            done = command.reads >= self.command_lag
            success = sum(1 for s, _ in command.results.values() if s == "SUCCESS") if done else 0
            failed = len(command.results) - success if done else 0
            return json_response(200, {"id": command_id, "taskCount": {
                "total": len(command.offers), "success": success, "failed": failed}})
        if request.method == "GET" and len(rest) == 2 and rest[1] == "tasks":
            paging = self._paging(request, COMMAND_MAX)
            if isinstance(paging, SandboxResponse):
                return paging
            offset, limit = paging
            done = command.reads >= self.command_lag
            command.reads += 1
            tasks = []
            for offer_id in command.offers[offset:offset + limit]:
                status, message = command.results[offer_id] if done else ("NEW", "")
                tasks.append({"offer": {"id": offer_id}, "status": status, "message": message,
                              "field": "stock" if kind == "quantity" else "publication",
                              "scheduledAt": iso(command.created),
                              "finishedAt": iso(datetime.now(UTC)) if done else None})
            return json_response(200, {"tasks": tasks})
        return error(405, "MethodNotAllowed", "not allowed")

    def _run_command(self, request: SandboxRequest, kind: str, command_id: str) -> SandboxResponse:
        if command_id in self.commands:  # the same command again: idempotent
            command = self.commands[command_id]
            return json_response(201, {"id": command_id, "taskCount": {
                "total": len(command.offers), "success": 0, "failed": 0}})
        try:
            body = orjson.loads(request.body)
            criteria = body["offerCriteria"]
            offers = [str(o["id"]) for c in criteria for o in c["offers"]
                      if c.get("type") == "CONTAINS_OFFERS"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return error(422, "VALIDATION_ERROR", "offerCriteria with CONTAINS_OFFERS required")
        if not offers or len(offers) > COMMAND_MAX:
            return error(422, "VALIDATION_ERROR",
                         f"a command takes 1..{COMMAND_MAX} offers", "offerCriteria")
        if kind == "quantity":
            change = body.get("modification") or {}
            value = change.get("value")
            if change.get("changeType") != "FIXED" or not isinstance(value, int) or value < 1:
                return error(422, "VALIDATION_ERROR",
                             "modification: FIXED with a value of at least 1", "modification")
            results = {o: self._set_quantity(o, value) for o in offers}
        else:
            action = (body.get("publication") or {}).get("action")
            if action not in ("END", "ACTIVATE"):
                return error(422, "VALIDATION_ERROR", "publication.action: END or ACTIVATE")
            results = {o: self._publish(o, action) for o in offers}
        self.commands[command_id] = Command(kind, offers, results)
        return json_response(201, {"id": command_id, "taskCount": {
            "total": len(offers), "success": 0, "failed": 0}})

    def _set_quantity(self, offer_id: str, value: int) -> tuple[str, str]:
        offer = self.offers.get(offer_id)
        if offer is None or not offer["_seller"]:
            return "FAIL", f"Offer {offer_id} not found"
        offer["stock"]["available"] = value
        return "SUCCESS", ""

    def _publish(self, offer_id: str, action: str) -> tuple[str, str]:
        offer = self.offers.get(offer_id)
        if offer is None or not offer["_seller"]:
            return "FAIL", f"Offer {offer_id} not found"
        publication = offer["publication"]
        if action == "END":
            if publication["status"] != "ACTIVE":
                return "FAIL", "Offer is not active"
            publication["status"], publication["endedBy"] = "ENDED", "USER"
            return "SUCCESS", ""
        if publication["status"] == "ACTIVE":
            return "FAIL", "Offer is already active"
        if offer["stock"]["available"] < 1:
            return "FAIL", "Offer has no stock"
        publication["status"], publication["endedBy"] = "ACTIVE", None
        return "SUCCESS", ""


def _public(offer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in offer.items() if not k.startswith("_")}


def _listed(offer: dict[str, Any]) -> dict[str, Any]:
    """An offer as the list shows it: its publication carries no `endedBy` (only the single
    offer does; OfferListingDtoV1Publication vs Publication)."""
    public = _public(offer)
    public["publication"] = {k: v for k, v in offer["publication"].items() if k != "endedBy"}
    return public


def serve_forever(
    host: str,
    port: int,
    *,
    seed_orders: int,
    seed_products: int,
    consumer_key: str,
    consumer_secret: str,
    error_rate: float,
    rate_limit_rate: float,
    latency_ms: int,
) -> None:
    """Seed, serve, print one line, block until Ctrl-C or SIGTERM. `consumer_key`/`secret` are
    the application's client id and secret; the device flow is approved at once."""
    faults = Faults(error_rate=error_rate, rate_limit_rate=rate_limit_rate, latency_ms=latency_ms)
    sandbox = AllegroSandbox(consumer_key, consumer_secret, faults=faults)
    skus = [f"ALG-{n:04d}" for n in range(1, max(seed_products, 10 if seed_orders else 0) + 1)]
    for n, sku in enumerate(skus, 1):
        sandbox.add_offer(sku=sku, name=f"Przedmiot {n}", price=Decimal("19.99") + n, stock=5)
    start = datetime.now(UTC) - timedelta(hours=seed_orders)
    for n in range(seed_orders):
        sandbox.add_form([(skus[n % len(skus)], 1 + n % 3, Decimal("20.99"))],
                         email=f"kupujacy{n}@allegromail.pl",
                         updated=start + timedelta(hours=n))
    serve_until_stopped(
        sandbox, host, port,
        lambda handle: (
            f"Allegro sandbox at {handle.base_url} client_id={consumer_key} "
            f"client_secret={consumer_secret} (base_url for the integration: {handle.base_url}; "
            f"authorise it with iluo-sync integration-auth; control: "
            f"{handle.base_url}/__sandbox/state)"),
    )
