"""A faithful Shoper REST (WebAPI) emulator served over real HTTP, on the generic sandbox base.

Public API:

    ShoperSandbox(login="webapi", password="webapi-secret", *, shop_timezone="Europe/Warsaw",
                  token_lifetime=2_592_000, bucket_limit=10, bucket_bandwidth=2.0,
                  bulk_cost="call", over_limit="error", unknown_ops="error",
                  filter_dialect="both", clock=time.time, faults=None, seed=0)
        .serve(host="127.0.0.1", port=0) -> SandboxHandle   (from workers.shops.sandbox)
        .add_product(code, name, price, stock=0, *, ean="", active=True, weight="0.000",
                     variants=((code, price, stock), …), tax_value="23") -> dict (as GET shows)
        .add_order(lines=[(code, qty, unit_price)], *, email, status_id=1, created=None,
                   paid=False, shipping_cost="14.99", nip="", company="") -> dict
        .set_order_status(order_id, status_id)  (a change in the panel: moves status_date)
        .mark_paid(order_id)                    (a payment booked: moves no date at all)
        .edit_order(order_id, **fields)         (any other edit: moves no date at all)
        .sell(stock_id, quantity)               (a sale elsewhere: stock drops, no date moves)
        .expire_tokens()                        (every token issued so far stops working)
        .seed_demo(orders=20, products=30)
        .orders / .order_products / .products / .stocks / .statuses   (id → stored row)
        .bucket                                  (ServerBucket: .level(), .refused, .limit …)
        + everything of `Sandbox`: faults, log, on_request, reset(), /__sandbox/ endpoints.

    serve_forever(host, port, *, seed_orders, seed_products, consumer_key, consumer_secret,
                  error_rate, rate_limit_rate, latency_ms) -> None   (key/secret = login/password)

Behaviour reproduced, with its source (src = dreamcommerce/shop-appstore-lib, schema =
Shoper's OpenAPI schema as generated into mkasprz/shoper-sdk-php, live = transcripts in
openlinker-project/openlinker "Spike #3638"):
- auth: `POST /webapi/rest/auth` with Basic `login:password` (or `client_id`/`client_secret`
  query fields, as the SDK sends them) → `{"access_token","expires_in","token_type":"bearer"}`
  (src BasicAuth.php); a wrong password → 401 `auth_failure` (schema 401 codes); a missing,
  unknown or expired token → 401 `unauthorized_client` "Provided access token is invalid"
  (live C4). Tokens expire after `token_lifetime` seconds of `clock` (30 days on live shops).
- leaky bucket per shop, shared by every client and token: each admitted call adds 1 (a `/bulk`
  adds 1, or one per sub-request with `bulk_cost="item"` — which one Shoper does is
  **unverified**); the fill leaks at `bucket_bandwidth`/s; a call that finds no room is 429
  `temporarily_unavailable` with `Retry-After` (whole seconds). Every answer carries
  `X-Shop-Api-Limit`, `X-Shop-Api-Bandwidth`, `X-Shop-Api-Calls` (live C5; 10 and 2 per the
  docs, 10/10 on a trial shop). Refused calls do not fill the bucket.
- lists: see `sandbox_query.py` (filters, order, limit ≤ 50, page ≥ 1, count as a string).
- numbers and ids are strings in every row (`"sum":"999.00"`, `"stock":"77"`); dates are naive
  local times in `shop_timezone`; `is_paid` is a JSON boolean (schema).
- orders have no modification time: a status change moves `status_date`; payment, notes and
  line edits move nothing (lessons 26). `GET object-mtime/order/{id}` answers one order's unix
  mtime (live M7).
- order lines: `GET order-products` (filterable by `order_id`), `code` = SKU, `price` gross;
  `POST order-products` adds a line as sent (live O4, O6): without a catalogue product it has
  `product_id` "0" and may have `name`/`code` null (schema `OrderProduct`).
- status write: `PUT orders/{id}` `{"status_id":N}` → `1`; an unknown status is a 400 with the
  Polish "Nie znaleziono wartości" wording (live O2).
- products: `products` rows embed their base `stock` row; variants are `product-stocks` rows
  with `extended` "1"; `PUT product-stocks/{id}` `{"stock":77}` → `1` (live M3, M8); a
  stock-only write does not move the product's `edit_date` (**unverified**, as on other
  platforms); `POST products` requires category_id, code, pkwiu, stock, translations (schema)
  and answers the new id; a product code used by another stock row is refused with a 400
  (**unverified**: the sandbox enforces unique codes so a duplicate shows up in tests).
- `POST /webapi/rest/bulk`: a JSON array of at most 25 `{id, path, method, body?, params?}` →
  200 `{"errors": bool, "items": [{"id","code","body"}]}`; more than 25 → 400.
- errors: `{"error":"…","error_description":"…"}`; 404 "Resource not found" (live M6).
Left out: customers (`users`), parcels, webhooks, categories/taxes writes, warehouses
(Premium: 400 "Warehouses module is disabled"), OAuth apps, HEAD.
"""

from __future__ import annotations

import math
import random
import secrets
import time
from base64 import b64decode
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode
from zoneinfo import ZoneInfo

import orjson

from workers.shops.sandbox import (
    Faults,
    Sandbox,
    SandboxRequest,
    SandboxResponse,
    json_response,
    serve_until_stopped,
)
from workers.shops.shoper import sandbox_query as query
from workers.shops.shoper.hooks import ShoperWebhooks
from workers.shops.shoper.sandbox_query import QueryError

API_PREFIX = "/webapi/rest/"
BULK_LIMIT = 25
LANG = "pl_PL"
CENT = Decimal("0.01")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
Json = dict[str, Any]

#: 11 statuses like a fresh shop (types: 1 new, 2 opened, 3 closed, 4 not completed; live O8).
DEFAULT_STATUSES = (
    (1, "Złożone", "1"), (2, "Przyjęte do realizacji", "2"), (3, "Oczekuje na dostawę", "2"),
    (4, "W trakcie kompletowania", "2"), (5, "Oczekiwanie na płatność", "1"),
    (6, "Gotowe do wysłania", "2"), (7, "Wysłane", "3"), (8, "Dostarczone", "3"),
    (9, "Anulowane", "4"), (10, "Odrzucone", "4"), (11, "Zwrócone", "4"),
)
#: Taxes as live M5 shows them (value, name).
DEFAULT_TAXES = (("23", "23%"), ("8", "8%"), ("5", "5%"), ("0", "0%"), ("0", "zw."), ("0", "np."))


#: Fields a list can be filtered and ordered by, also while it is empty (rows add their own).
FIELDS = {
    "orders": {"order_id", "user_id", "date", "status_date", "confirm_date", "delivery_date",
               "status_id", "sum", "paid", "is_paid", "is_underpayment", "is_overpayment",
               "currency_id", "payment_id", "shipping_id", "shipping_cost", "email", "code",
               "confirm", "origin", "promo_code", "total_products", "total_parcels", "vat_eu",
               "is_cash_on_delivery", "notes"},
    "order-products": {"id", "order_id", "product_id", "stock_id", "price", "quantity", "name",
                       "code", "tax_value"},
    "products": {"product_id", "category_id", "tax_id", "code", "ean", "add_date", "edit_date",
                 "producer_id", "type"},
    "product-stocks": {"stock_id", "product_id", "extended", "default", "price", "stock", "code",
                       "ean", "active", "weight"},
    "statuses": {"status_id", "type", "active", "default", "order"},
    "currencies": {"currency_id", "name", "default", "active"},
    "payments": {"payment_id", "name", "order"},
    "shippings": {"shipping_id", "name", "engine"},
    "taxes": {"tax_id", "value", "name"},
    "categories": {"category_id", "parent_id", "order", "root"},
}


class ShoperError(Exception):
    """An API error: `{"error": code, "error_description": description}` with a status."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status, self.code, self.description = status, code, description

    def body(self) -> Json:
        return {"error": self.code, "error_description": self.description}


def _missing(field: str) -> str:
    return f"Wartość pola '{field}' jest niepoprawna: Pole wymagane"


def _invalid(field: str, reason: str) -> str:
    return f"Wartość pola '{field}' jest niepoprawna: {reason}"


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, ROUND_HALF_UP))


def _number(value: Any, field: str, *, minimum: Decimal | None = Decimal(0)) -> Decimal:
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise ShoperError(400, "invalid_request", _invalid(field, "Niepoprawna liczba")) from None
    if not number.is_finite() or (minimum is not None and number < minimum):
        raise ShoperError(400, "invalid_request", _invalid(field, "Niepoprawna liczba"))
    return number


def _quantity(value: Decimal) -> str:
    """Stock as Shoper prints it: "77", or "2.5" for a fractional unit."""
    return str(value.to_integral_value()) if value == value.to_integral_value() else str(
        value.normalize())


def _flag(value: Any) -> str:
    return "1" if value is True or str(value).strip().lower() in ("1", "true") else "0"


# ---------------------------------------------------------------------------------------------
# The shop's leaky bucket


class ServerBucket:
    """Calls fill it by `cost`, it leaks `bandwidth` per second; no room → 429."""

    def __init__(self, limit: float, bandwidth: float, clock: Callable[[], float]) -> None:
        if limit < 1 or bandwidth <= 0:
            raise ValueError("bucket limit must be >= 1 and bandwidth > 0")
        self.limit, self.bandwidth, self._clock = float(limit), float(bandwidth), clock
        self._level, self._at = 0.0, clock()
        self.admitted = 0
        self.refused = 0
        self.peak = 0.0

    def level(self) -> float:
        now = self._clock()
        return max(0.0, self._level - (now - self._at) * self.bandwidth)

    def admit(self, cost: float = 1.0) -> float | None:
        """None if admitted (and charged), else the seconds until one call fits."""
        level, now = self.level(), self._clock()
        # Room for one more call is what admits; a bulk charged per item may overfill it.
        if level + 1 > self.limit + 1e-9:
            self.refused += 1
            self._level, self._at = level, now
            return (level + 1 - self.limit) / self.bandwidth
        self._level, self._at = level + cost, now
        self.admitted += 1
        self.peak = max(self.peak, self._level)
        return None

    def charge(self, extra: float) -> None:
        """Add to an admitted call (a per-item bulk, once its size is known)."""
        self._level = self.level() + extra
        self._at = self._clock()
        self.peak = max(self.peak, self._level)

    def headers(self) -> list[tuple[str, str]]:
        bandwidth = (str(int(self.bandwidth)) if self.bandwidth == int(self.bandwidth)
                     else str(self.bandwidth))
        return [("X-Shop-Api-Limit", str(int(self.limit))),
                ("X-Shop-Api-Bandwidth", bandwidth),
                ("X-Shop-Api-Calls", str(math.ceil(self.level() - 1e-9)))]

    def reset(self) -> None:
        self._level, self._at = 0.0, self._clock()
        self.admitted = self.refused = 0
        self.peak = 0.0


# ---------------------------------------------------------------------------------------------
# Demo data

_FIRST = ("Anna", "Katarzyna", "Małgorzata", "Agnieszka", "Piotr", "Krzysztof", "Tomasz",
          "Paweł", "Michał", "Łukasz")
_LAST = ("Nowak", "Kowalczyk", "Wójcik", "Kamińska", "Lewandowski", "Zielińska", "Szymański",
         "Woźniak", "Dąbrowski", "Kozłowska")
_CITIES = (("Warszawa", "00-001"), ("Kraków", "30-001"), ("Łódź", "90-001"),
           ("Wrocław", "50-001"), ("Poznań", "60-001"), ("Gdańsk", "80-001"))
_STREETS = ("ul. Długa", "ul. Polna", "ul. Leśna", "ul. Słoneczna", "ul. Krótka", "ul. Ogrodowa")
_PRODUCTS = ("Kubek ceramiczny", "Herbata czarna", "Kawa ziarnista", "Czajnik stalowy",
             "Koc wełniany", "Świeca sojowa", "Miód lipowy", "Notes w kratkę", "Torba lniana",
             "Ręcznik bawełniany")


# ---------------------------------------------------------------------------------------------
# The emulator


class ShoperSandbox(Sandbox):
    """Shoper REST (orders, products, stocks, statuses, bulk) with its documented quirks."""

    platform = "shoper"

    def __init__(
        self,
        login: str = "webapi",
        password: str = "webapi-secret",
        *,
        shop_timezone: str = "Europe/Warsaw",
        token_lifetime: float = 2_592_000,
        bucket_limit: float = 10,
        bucket_bandwidth: float = 2.0,
        bulk_cost: str = "call",
        over_limit: str = "error",
        unknown_ops: str = "error",
        filter_dialect: str = "both",
        clock: Callable[[], float] = time.time,
        faults: Faults | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(faults=faults)
        if bulk_cost not in ("call", "item"):
            raise ValueError("bulk_cost must be 'call' or 'item'")
        if over_limit not in ("error", "clamp"):
            raise ValueError("over_limit must be 'error' or 'clamp'")
        if unknown_ops not in ("error", "ignore"):
            raise ValueError("unknown_ops must be 'error' or 'ignore'")
        if filter_dialect not in query.DIALECTS:
            raise ValueError(f"filter_dialect must be one of {query.DIALECTS}")
        self.unknown_ops, self.filter_dialect = unknown_ops, filter_dialect
        self.login, self.password = login, password
        self.zone = ZoneInfo(shop_timezone)
        self.token_lifetime = float(token_lifetime)
        self.bulk_cost = bulk_cost
        self.over_limit = over_limit
        self.clock = clock
        self.bucket = ServerBucket(bucket_limit, bucket_bandwidth, clock)
        self._seed = seed
        self._demo: tuple[int, int] | None = None
        #: Webhooks and their deliveries (workers.shops.shoper.hooks).
        self.hooks = ShoperWebhooks("sklep.example.pl")
        self._clear_data()

    def _clear_data(self) -> None:
        self.rng = random.Random(self._seed)
        self.tokens: dict[str, float] = {}  # token → expiry on `clock`
        self.tokens_issued = 0
        self.orders: dict[int, Json] = {}
        self.order_products: dict[int, Json] = {}
        self.products: dict[int, Json] = {}  # without `stock`; rendered with its base row
        self.stocks: dict[int, Json] = {}
        self.statuses: dict[int, Json] = {
            sid: {"status_id": str(sid), "active": "1", "default": "1" if sid == 1 else "0",
                  "color": "#1e88e5", "type": kind, "order": str(sid), "email_change": "0",
                  "translations": {LANG: {"name": name, "lang_id": "1"}}}
            for sid, name, kind in DEFAULT_STATUSES}
        self.currencies = {1: {"currency_id": "1", "name": "PLN", "rate": "1.0000",
                               "default": "1", "active": "1", "order": "1"},
                           2: {"currency_id": "2", "name": "EUR", "rate": "4.3000",
                               "default": "0", "active": "1", "order": "2"}}
        self.payments = {1: {"payment_id": "1", "name": "transfer", "order": "1",
                             "translations": {LANG: {"title": "Przelew bankowy", "active": "1"}}},
                         2: {"payment_id": "2", "name": "cod", "order": "2",
                             "translations": {LANG: {"title": "Płatność przy odbiorze",
                                                     "active": "1"}}}}
        self.shippings = {1: {"shipping_id": "1", "name": "Kurier DPD", "engine": "",
                              "translations": {LANG: {"name": "Kurier DPD", "active": "1"}}},
                          2: {"shipping_id": "2", "name": "Paczkomaty InPost", "engine": "inpost",
                              "translations": {LANG: {"name": "Paczkomaty InPost",
                                                      "active": "1"}}}}
        self.taxes = {n: {"tax_id": str(n), "value": value, "name": name}
                      for n, (value, name) in enumerate(DEFAULT_TAXES, 1)}
        self.categories = {1: {"category_id": "1", "parent_id": "0", "order": "1", "root": "1",
                               "translations": {LANG: {"name": "Wszystkie", "active": "1"}}},
                           2: {"category_id": "2", "parent_id": "1", "order": "2", "root": "0",
                               "translations": {LANG: {"name": "Dom", "active": "1"}}}}
        self._next = {"order": 0, "line": 0, "product": 0, "stock": 0}
        self.bucket.reset()

    # -- clock and ids -------------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC).replace(microsecond=0)

    def local(self, moment: datetime | None = None) -> str:
        """A moment (default: now) as the shop's naive local text."""
        moment = moment or self.now()
        if moment.tzinfo is None:
            raise ValueError("ShoperSandbox needs aware datetimes")
        return moment.astimezone(self.zone).replace(tzinfo=None).strftime(DATE_FORMAT)

    def _id(self, kind: str) -> int:
        self._next[kind] += 1
        return self._next[kind]

    # -- Sandbox hooks -------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "orders": len(self.orders),
            "products": len(self.products),
            "stocks": len(self.stocks),
            "shop_timezone": str(self.zone),
            "tokens_issued": self.tokens_issued,
            "bucket": {"limit": self.bucket.limit, "bandwidth": self.bucket.bandwidth,
                       "level": round(self.bucket.level(), 3), "admitted": self.bucket.admitted,
                       "refused": self.bucket.refused, "peak": round(self.bucket.peak, 3),
                       "bulk_cost": self.bulk_cost},
        }

    def reset_data(self) -> None:
        with self.lock:
            self._clear_data()
            if self._demo is not None:
                self.seed_demo(*self._demo)

    def fault_response(self, status: int, request: SandboxRequest) -> SandboxResponse:
        """An injected 429 looks like Shoper's own; 5xx like a proxy's error page."""
        if status != 429:
            return super().fault_response(status, request)
        with self.lock:
            headers = [("Retry-After", str(self.faults.retry_after)), *self.bucket.headers()]
        return json_response(429, {"error": "temporarily_unavailable",
                                   "error_description": "Przekroczono limit zapytań"}, headers)

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    # -- HTTP entry point ----------------------------------------------------------------------

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if not request.path.startswith(API_PREFIX):
            return SandboxResponse(404, b"<html><body><h1>404</h1></body></html>",
                                   [("Content-Type", "text/html; charset=UTF-8")])
        wait = self.bucket.admit()
        if wait is not None:
            return json_response(
                429, {"error": "temporarily_unavailable",
                      "error_description": "Przekroczono limit zapytań do API"},
                [("Retry-After", str(max(1, math.ceil(wait)))), *self.bucket.headers()])
        route = unquote(request.path[len(API_PREFIX):]).strip("/")
        try:
            if route == "auth":
                status, body = self._auth(request)
            else:
                self._check_token(request.header("Authorization"))
                status, body = self._dispatch(request.method, route, request.query_items,
                                              _json_body(request))
            extra: list[tuple[str, str]] = []
            if isinstance(body, tuple):  # a list answer with its headers
                body, extra = body
        except ShoperError as error:
            status, body, extra = error.status, error.body(), []
        return json_response(status, body, [*extra, *self.bucket.headers()])

    def _auth(self, request: SandboxRequest) -> tuple[int, Any]:
        if request.method != "POST":
            raise ShoperError(405, "invalid_request", "Method not allowed")
        login, password = _basic(request.header("Authorization"))
        if login is None:
            form = dict(request.query_items)
            if request.body and "json" not in request.header("Content-Type"):
                form |= dict(parse_qsl(request.body.decode("utf-8", "replace")))
            login, password = form.get("client_id"), form.get("client_secret")
        if login is None:
            raise ShoperError(401, "unauthorized_client", "Brak danych uwierzytelniających")
        if (login, password) != (self.login, self.password):
            raise ShoperError(401, "auth_failure", "Niepoprawny login lub hasło")
        token = secrets.token_hex(32)
        self.tokens[token] = self.clock() + self.token_lifetime
        self.tokens_issued += 1
        return 200, {"access_token": token, "expires_in": int(self.token_lifetime),
                     "token_type": "bearer"}

    def _check_token(self, header: str) -> None:
        scheme, _, token = header.partition(" ")
        expiry = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expiry is None or self.clock() >= expiry:
            raise ShoperError(401, "unauthorized_client", "Provided access token is invalid")

    def _dispatch(
        self, method: str, route: str, params: Sequence[tuple[str, str]], body: Any
    ) -> tuple[int, Any]:
        parts = route.split("/")
        resource, object_id = parts[0], parts[1] if len(parts) > 1 else None
        if resource == "bulk" and object_id is None:
            if method != "POST":
                raise ShoperError(405, "invalid_request", "Method not allowed")
            return 200, self._bulk(body)
        if resource == "webhooks":
            return self.hooks.rest(method, object_id, body)
        if resource == "object-mtime" and len(parts) == 3 and method == "GET":
            return 200, self._mtime(parts[1], parts[2])
        table, id_field = self._table(resource)
        if object_id is None:
            if method == "GET":
                return 200, self._list(resource, table, id_field, params)
            if method == "POST" and resource == "products":
                return 200, self._create_product(_object(body))
            if method == "POST" and resource == "order-products":
                return 200, self._create_line(_object(body))
            raise ShoperError(405, "invalid_request", "Method not allowed")
        if len(parts) > 2 or not object_id.isdigit():
            raise ShoperError(404, "invalid_request", "Resource not found")
        record = table.get(int(object_id))
        if record is None:
            raise ShoperError(404, "invalid_request", "Resource not found")
        if method == "GET":
            return 200, self._render(resource, record)
        if method == "PUT":
            updater = {"orders": self._update_order, "products": self._update_product,
                       "product-stocks": self._update_stock}.get(resource)
            if updater is None:
                raise ShoperError(405, "invalid_request", "Method not allowed")
            updater(record, _object(body))
            return 200, 1
        raise ShoperError(405, "invalid_request", "Method not allowed")

    def _table(self, resource: str) -> tuple[dict[int, Json], str]:
        tables = {
            "orders": (self.orders, "order_id"), "order-products": (self.order_products, "id"),
            "products": (self.products, "product_id"),
            "product-stocks": (self.stocks, "stock_id"),
            "statuses": (self.statuses, "status_id"),
            "currencies": (self.currencies, "currency_id"),
            "payments": (self.payments, "payment_id"),
            "shippings": (self.shippings, "shipping_id"),
            "taxes": (self.taxes, "tax_id"), "categories": (self.categories, "category_id"),
        }
        if resource not in tables:
            raise ShoperError(404, "invalid_request", "Resource not found")
        return tables[resource]

    def _render(self, resource: str, record: Json) -> Json:
        """A stored row as the API shows it (private `_` keys stay inside)."""
        if resource == "products":
            return self._render_product(record)
        public = {k: v for k, v in record.items() if not k.startswith("_")}
        if resource == "orders":
            status = self.statuses.get(int(record["status_id"]), {})
            return {**public, "status": {"status_id": record["status_id"],
                                         "type": status.get("type", "1"),
                                         "name": status.get("translations", {}).get(LANG, {})
                                         .get("name", "")}}
        return public

    def _render_product(self, product: Json) -> Json:
        base = self.stocks[int(product["_base"])]
        return {k: v for k, v in product.items() if not k.startswith("_")} | {"stock": dict(base)}

    def _list(
        self, resource: str, table: Mapping[int, Json], id_field: str,
        params: Sequence[tuple[str, str]],
    ) -> tuple[Json, list[tuple[str, str]]]:
        try:
            rows = [self._render(resource, record) for record in table.values()]
            fields = set(FIELDS.get(resource, ())) | {id_field}
            fields = fields.union(*(row.keys() for row in rows))
            filters = query.parse_filters(params, fields, unknown_ops=self.unknown_ops,
                                          dialect=self.filter_dialect)
            order = query.parse_order(params, fields)
            limit, page = query.paging(dict(params), over_limit=self.over_limit)
        except QueryError as exc:
            raise ShoperError(400, "invalid_request", str(exc)) from None
        chosen = [row for row in rows if query.matches(row, filters)]
        return query.list_answer(query.sorted_rows(chosen, order, id_field), limit, page)

    def _mtime(self, kind: str, object_id: str) -> Json:
        table = {"order": self.orders, "product": self.products}.get(kind)
        if table is None or not object_id.isdigit() or int(object_id) not in table:
            raise ShoperError(500, "server_error", "Internal server error")  # live M7
        record = table[int(object_id)]
        return {"date": int(record.get("_mtime", self.clock()))}

    # -- bulk ---------------------------------------------------------------------------------

    def _bulk(self, body: Any) -> Json:
        if not isinstance(body, list):
            raise ShoperError(400, "invalid_request", "Oczekiwano tablicy zapytań")
        if len(body) > BULK_LIMIT:
            raise ShoperError(400, "invalid_request",
                              f"Przekroczono maksymalną liczbę zapytań ({BULK_LIMIT})")
        if self.bulk_cost == "item" and len(body) > 1:
            self.bucket.charge(len(body) - 1)
        items = []
        for n, sub in enumerate(body):
            sub_id = str(sub.get("id", n)) if isinstance(sub, Mapping) else str(n)
            code, answer = self._sub_request(sub)
            items.append({"id": sub_id, "code": code, "body": answer})
        return {"errors": any(item["code"] >= 400 for item in items), "items": items}

    def _sub_request(self, sub: Any) -> tuple[int, Any]:
        try:
            if not isinstance(sub, Mapping):
                raise ShoperError(400, "invalid_request", "Niepoprawne zapytanie")
            path = str(sub.get("path") or "")
            method = str(sub.get("method") or "GET").upper()
            # The clients we know send "/webapi/rest/<resource>"; one SDK example sends a
            # bare "/<resource>" — both are accepted.
            route = path[len(API_PREFIX):] if path.startswith(API_PREFIX) else path.lstrip("/")
            route, _, raw_query = route.partition("?")
            params = parse_qsl(raw_query, keep_blank_values=True)
            extra = sub.get("params")
            if isinstance(extra, Mapping):
                params += parse_qsl(urlencode({k: _param(v) for k, v in extra.items()}))
            if route.strip("/") in ("bulk", "auth"):
                raise ShoperError(400, "invalid_request", "Niedozwolone zapytanie w bulk")
            status, answer = self._dispatch(method, route.strip("/"), params, sub.get("body"))
            if isinstance(answer, tuple):
                answer = answer[0]
            return status, answer
        except ShoperError as error:
            return error.status, error.body()

    # -- orders -------------------------------------------------------------------------------

    def _update_order(self, order: Json, body: Json) -> None:
        if "status_id" in body:
            status_id = str(body["status_id"]).strip()
            if not status_id.isdigit() or int(status_id) not in self.statuses:
                raise ShoperError(400, "invalid_request", _invalid(
                    "status_id", f"Nie znaleziono wartości '{body['status_id']}'"))
            self._set_status(order, int(status_id))
        for field in ("notes_priv", "notes_pub"):
            if field in body:
                order[field] = str(body[field] or "")
        order["_mtime"] = self.clock()
        self.hooks.fire("order.edit", self._render("orders", order))

    def _create_line(self, body: Json) -> int:
        """`POST order-products`: a line with whatever the caller sends (live O4: price, name
        and tax are caller-controlled). Without a known `stock_id` the line has `product_id`
        "0" (schema `OrderProduct.product_id`: "the product has never existed in catalog and
        has been added in different way (eg. using API)") and `name`/`code` may be null. A
        known stock row drops by the quantity at once (live O6). The order's `sum` follows;
        no order date moves (unverified, as for every edit that is not a status change)."""
        missing = [f for f in ("order_id", "quantity") if body.get(f) in (None, "")]
        if missing:
            raise ShoperError(400, "invalid_request", "; ".join(_missing(f) for f in missing))
        order = self.orders.get(int(str(body["order_id"]))) if str(
            body["order_id"]).isdigit() else None
        if order is None:
            raise ShoperError(400, "invalid_request", _invalid(
                "order_id", f"Nie znaleziono wartości '{body['order_id']}'"))
        quantity = _number(body["quantity"], "quantity")
        price = None if body.get("price") in (None, "") else _number(body["price"], "price")
        stock = self.stocks.get(int(str(body["stock_id"]))) if str(
            body.get("stock_id", "")).isdigit() else None
        line_id = self._id("line")
        self.order_products[line_id] = {
            "id": str(line_id), "order_id": order["order_id"],
            "product_id": stock["product_id"] if stock else "0",
            "stock_id": stock["stock_id"] if stock else None,
            "price": None if price is None else _money(price), "discount_perc": "0.00",
            "quantity": _quantity(quantity),
            "name": None if body.get("name") is None else str(body["name"]),
            "code": None if body.get("code") is None else str(body["code"]),
            "pkwiu": "", "tax": body.get("tax"), "tax_value": None if body.get(
                "tax_value") is None else str(body["tax_value"]),
            "unit": None, "option": None, "unit_fp": "0", "weight": None,
        }
        if stock is not None:
            stock["stock"] = _quantity(Decimal(stock["stock"]) - quantity)
        if price is not None:
            order["sum"] = _money(Decimal(order["sum"]) + price * quantity)
        order["total_products"] = int(order["total_products"]) + 1
        order["_mtime"] = self.clock()
        return line_id

    def _set_status(self, order: Json, status_id: int) -> None:
        if order["status_id"] != str(status_id):
            order["status_id"] = str(status_id)
            order["status_date"] = self.local()
        order["_mtime"] = self.clock()

    # -- products -----------------------------------------------------------------------------

    def _create_product(self, body: Json) -> int:
        missing = [f for f in ("category_id", "code", "pkwiu", "stock", "translations")
                   if f not in body]
        if missing:
            raise ShoperError(400, "invalid_request", "; ".join(_missing(f) for f in missing))
        category = str(body["category_id"]).strip()
        if not category.isdigit() or int(category) not in self.categories:
            raise ShoperError(400, "invalid_request", _invalid(
                "category_id", f"Nie znaleziono wartości '{body['category_id']}'"))
        stock = _object(body.get("stock"), "stock")
        code = self._checked_code(body.get("code"), None)
        translations = self._translations({}, body.get("translations"))
        if not translations.get(LANG, {}).get("name"):
            raise ShoperError(400, "invalid_request", _missing("translations.pl_PL.name"))
        tax_id = self._checked_tax(body.get("tax_id", 1))
        price = _number(stock.get("price", 0), "stock.price")
        product_id, stock_id = self._id("product"), self._id("stock")
        now = self.local()
        self.stocks[stock_id] = self._stock_row(
            stock_id, product_id, code, price, _number(stock.get("stock", 0), "stock.stock"),
            ean=str(body.get("ean") or stock.get("ean") or ""),
            weight=_number(stock.get("weight", 0), "stock.weight"),
            active=stock.get("active", True), extended=False)
        self.products[product_id] = {
            "product_id": str(product_id), "type": "0", "producer_id": None,
            "category_id": category, "unit_id": "1", "tax_id": str(tax_id), "currency_id": "1",
            "code": code, "ean": str(body.get("ean") or ""), "pkwiu": str(body.get("pkwiu") or ""),
            "add_date": now, "edit_date": now, "translations": translations,
            "_base": stock_id, "_mtime": self.clock(),
        }
        return product_id

    def _update_product(self, product: Json, body: Json) -> None:
        base = self.stocks[int(product["_base"])]
        if "code" in body:
            product["code"] = base["code"] = self._checked_code(body["code"], int(base["stock_id"]))
        if "ean" in body:
            product["ean"] = base["ean"] = str(body["ean"] or "")
        if "tax_id" in body:
            product["tax_id"] = str(self._checked_tax(body["tax_id"]))
        if "category_id" in body:
            category = str(body["category_id"]).strip()
            if not category.isdigit() or int(category) not in self.categories:
                raise ShoperError(400, "invalid_request", _invalid(
                    "category_id", f"Nie znaleziono wartości '{body['category_id']}'"))
            product["category_id"] = category
        if "translations" in body:
            product["translations"] = self._translations(product["translations"],
                                                         body["translations"])
        if "stock" in body:
            self._apply_stock(base, _object(body["stock"], "stock"), product)
        product["edit_date"] = self.local()
        product["_mtime"] = self.clock()

    def _update_stock(self, stock: Json, body: Json) -> None:
        self._apply_stock(stock, body, self.products[int(stock["product_id"])])

    def _apply_stock(self, stock: Json, body: Mapping[str, Any], product: Json) -> None:
        moves_product = False
        if "stock" in body:
            stock["stock"] = _quantity(_number(body["stock"], "stock"))
        if "price" in body:
            stock["price"] = _money(_number(body["price"], "price"))
            moves_product = True
        if "code" in body:
            stock["code"] = self._checked_code(body["code"], int(stock["stock_id"]))
            if stock["extended"] == "0":
                product["code"] = stock["code"]
            moves_product = True
        for field in ("ean", "price_type", "weight_type"):
            if field in body:
                stock[field] = str(body[field] or "")
                moves_product = True
        if "weight" in body:
            stock["weight"] = str(_number(body["weight"], "weight").quantize(Decimal("0.001")))
            moves_product = True
        if "active" in body:
            stock["active"] = _flag(body["active"])
            moves_product = True
        if moves_product:  # a stock-only write leaves edit_date alone (unverified, see above)
            product["edit_date"] = self.local()
            product["_mtime"] = self.clock()

    def _checked_code(self, value: Any, own_stock: int | None) -> str:
        code = str(value or "").strip()
        if not code:
            raise ShoperError(400, "invalid_request", _missing("code"))
        for stock in self.stocks.values():
            if stock["code"].lower() == code.lower() and int(stock["stock_id"]) != own_stock:
                raise ShoperError(400, "invalid_request",
                                  _invalid("code", f"Wartość '{code}' już istnieje"))
        return code

    def _checked_tax(self, value: Any) -> int:
        raw = str(value).strip()
        if not raw.isdigit() or int(raw) not in self.taxes:
            raise ShoperError(400, "invalid_request",
                              _invalid("tax_id", f"Nie znaleziono wartości '{value}'"))
        return int(raw)

    @staticmethod
    def _translations(current: Mapping[str, Any], changes: Any) -> Json:
        if not isinstance(changes, Mapping):
            raise ShoperError(400, "invalid_request",
                              _invalid("translations", "Oczekiwano obiektu"))
        merged = {lang: dict(entry) for lang, entry in current.items()}
        for lang, entry in changes.items():
            if not isinstance(entry, Mapping):
                raise ShoperError(400, "invalid_request",
                                  _invalid(f"translations.{lang}", "Oczekiwano obiektu"))
            target = merged.setdefault(str(lang), {"lang_id": "1", "active": "1"})
            for field in ("name", "description", "short_description"):
                if field in entry:
                    target[field] = str(entry[field] or "")
            if "active" in entry:
                target["active"] = _flag(entry["active"])
        return merged

    def _stock_row(
        self, stock_id: int, product_id: int, code: str, price: Decimal, quantity: Decimal,
        *, ean: str = "", weight: Decimal = Decimal(0), active: Any = True, extended: bool,
    ) -> Json:
        return {"stock_id": str(stock_id), "product_id": str(product_id),
                "extended": "1" if extended else "0", "default": "0" if extended else "1",
                "price": _money(price), "price_type": "1" if extended else "0",
                "stock": _quantity(quantity), "warn_level": "0", "sold": "0",
                "code": code, "ean": ean, "weight": str(weight.quantize(Decimal("0.001"))),
                "weight_type": "1" if extended else "0", "active": _flag(active),
                "availability_id": None, "delivery_id": "1", "gfx_id": None,
                "package": "0.00", "options": []}

    # -- data a test or the demo puts into the shop (not through the API) ---------------------

    def add_product(
        self,
        code: str,
        name: str,
        price: Decimal | str,
        stock: int | Decimal | str = 0,
        *,
        ean: str = "",
        active: bool = True,
        weight: Decimal | str = "0.000",
        description: str = "",
        tax_value: str = "23",
        variants: Iterable[tuple[str, Decimal | str, int]] = (),
        edited: datetime | None = None,
    ) -> Json:
        with self.lock:
            tax_id = next((int(t["tax_id"]) for t in self.taxes.values()
                           if t["value"] == tax_value), 1)
            product_id = self._create_product({
                "category_id": 2, "code": code, "pkwiu": "", "ean": ean, "tax_id": tax_id,
                "translations": {LANG: {"name": name, "description": description,
                                        "active": active}},
                "stock": {"price": str(price), "stock": str(stock), "weight": str(weight)},
            })
            for v_code, v_price, v_stock in variants:
                stock_id = self._id("stock")
                self._checked_code(v_code, None)
                self.stocks[stock_id] = self._stock_row(
                    stock_id, product_id, v_code, Decimal(str(v_price)), Decimal(v_stock),
                    extended=True)
            if edited is not None:
                self.products[product_id]["edit_date"] = self.local(edited)
                self.products[product_id]["add_date"] = self.local(edited)
            return self._render_product(self.products[product_id])

    def add_order(
        self,
        lines: Sequence[tuple[str, int | Decimal, Decimal | str]],
        *,
        email: str | None = None,
        status_id: int = 1,
        created: datetime | None = None,
        paid: bool = False,
        shipping_cost: Decimal | str = "14.99",
        currency_id: int = 1,
        nip: str = "",
        company: str = "",
        discount_perc: Decimal | str = "0",
    ) -> Json:
        """An order placed in the shop; `lines` are (code, quantity, gross unit price). A code
        that matches a stock row links the line to it and takes the stock down, as a sale does
        (live O6); an unknown code makes a line with product_id 0."""
        with self.lock:
            order_id = self._id("order")
            placed = self.local(created) if created is not None else self.local()
            first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
            city, postcode = self.rng.choice(_CITIES)
            address = {
                "address_id": str(order_id), "order_id": str(order_id), "type": 1,
                "firstname": first, "lastname": last, "company": company,
                "tax_identification_number": nip, "pesel": "",
                "street1": f"{self.rng.choice(_STREETS)} {self.rng.randint(1, 120)}",
                "street2": "", "city": city, "postcode": postcode, "state": "",
                "country": "Polska", "country_code": "PL",
                "phone": f"+48 {self.rng.randint(500, 899)} {self.rng.randint(100, 999)} "
                         f"{self.rng.randint(100, 999)}",
            }
            total = Decimal(0)
            discount = Decimal(str(discount_perc))
            for code, quantity, unit_price in lines:
                stock = next((s for s in self.stocks.values()
                              if s["code"].lower() == code.lower()), None)
                product = self.products.get(int(stock["product_id"])) if stock else None
                qty, price = Decimal(str(quantity)), Decimal(str(unit_price))
                line_id = self._id("line")
                tax = self.taxes.get(int(product["tax_id"]), {}) if product else {}
                self.order_products[line_id] = {
                    "id": str(line_id), "order_id": str(order_id),
                    "product_id": stock["product_id"] if stock else "0",
                    "stock_id": stock["stock_id"] if stock else "0",
                    "price": _money(price), "discount_perc": _money(discount),
                    "quantity": _quantity(qty),
                    "name": (product["translations"][LANG]["name"] if product else code),
                    "code": code, "pkwiu": "", "tax": tax.get("name", "23%"),
                    "tax_value": tax.get("value", "23"), "unit": "szt.", "option": "",
                    "unit_fp": "0", "weight": stock["weight"] if stock else "0.000",
                }
                total += (price * (100 - discount) / 100).quantize(CENT, ROUND_HALF_UP) * qty
                if stock is not None:
                    stock["stock"] = _quantity(Decimal(stock["stock"]) - qty)
                    stock["sold"] = _quantity(Decimal(stock["sold"]) + qty)
            shipping = Decimal(str(shipping_cost))
            total += shipping
            self.orders[order_id] = {
                "order_id": str(order_id), "user_id": "0", "date": placed,
                "status_date": placed, "confirm_date": placed, "delivery_date": placed[:10],
                "status_id": str(status_id), "sum": _money(total),
                "paid": _money(total if paid else Decimal(0)), "is_paid": paid,
                "is_underpayment": False, "is_overpayment": False,
                "currency_id": str(currency_id),
                "currency_rate": self.currencies[currency_id]["rate"],
                "payment_id": "1", "shipping_id": "1", "shipping_cost": _money(shipping),
                "shipping_tax_id": "1", "shipping_tax_name": "23%", "shipping_tax_value": "23",
                "email": email if email is not None else f"{first}.{last}{order_id}@example.pl"
                .lower(),
                "delivery_code": "", "code": secrets.token_hex(16), "confirm": "1",
                "notes": "", "notes_priv": "", "notes_pub": "", "origin": "0",
                "promo_code": "", "user_order": "0", "lang_id": "1", "ip_address": "127.0.0.1",
                "discount_client": "0.00", "discount_group": "0.00", "discount_levels": "0.00",
                "discount_code": "0.00", "total_products": len(lines), "total_parcels": 0,
                "vat_eu": False, "is_cash_on_delivery": False,
                "billing_address": address, "delivery_address": dict(address),
                "_mtime": self.clock(),
            }
            rendered = self._render("orders", self.orders[order_id])
            self.hooks.fire("order.create", rendered)
            return rendered

    def set_order_status(self, order_id: int, status_id: int) -> Json:
        with self.lock:
            if status_id not in self.statuses:
                raise ValueError(f"unknown status {status_id}")
            self._set_status(self.orders[order_id], status_id)
            return self._render("orders", self.orders[order_id])

    def mark_paid(self, order_id: int) -> Json:
        """A payment booked in the panel: paid amount and flag change, no date moves."""
        with self.lock:
            order = self.orders[order_id]
            order["paid"], order["is_paid"] = order["sum"], True
            order["_mtime"] = self.clock()
            return self._render("orders", order)

    def edit_order(self, order_id: int, **fields: Any) -> Json:
        """Any other edit (notes, address, amounts): no date of the order moves."""
        with self.lock:
            order = self.orders[order_id]
            order.update({k: v for k, v in fields.items() if not k.startswith("_")})
            order["_mtime"] = self.clock()
            return self._render("orders", order)

    def sell(self, stock_id: int, quantity: int) -> Json:
        with self.lock:
            stock = self.stocks[stock_id]
            stock["stock"] = _quantity(Decimal(stock["stock"]) - quantity)
            return dict(stock)

    def stock_by_code(self, code: str) -> list[Json]:
        with self.lock:
            return [dict(s) for s in self.stocks.values() if s["code"] == code]

    def seed_demo(self, orders: int = 20, products: int = 30) -> None:
        """Polish-looking products and orders spread over the last two weeks (reproducible)."""
        with self.lock:
            self._demo = (orders, products)
            codes = []
            for n in range(products):
                code = f"DEMO-{n + 1:04d}"
                name = f"{_PRODUCTS[n % len(_PRODUCTS)]} {n // len(_PRODUCTS) + 1}"
                price = Decimal(self.rng.randint(500, 25000)) / 100
                self.add_product(code, name, price, self.rng.randint(0, 40),
                                 ean=f"590{self.rng.randint(10**9, 10**10 - 1)}")
                codes.append(code)
            now = self.now()
            for _ in range(orders):
                created = now - timedelta(minutes=self.rng.randint(10, 14 * 24 * 60))
                picks = self.rng.sample(codes, k=min(len(codes), self.rng.randint(1, 3))) or [
                    "UNKNOWN-SKU"]
                lines = [(code, self.rng.randint(1, 3), self._price_of(code)) for code in picks]
                status = self.rng.choice((1, 1, 2, 4, 5, 7, 9))
                self.add_order(lines, created=created, status_id=status,
                               paid=status in (2, 4, 7))

    def _price_of(self, code: str) -> Decimal:
        stock = next((s for s in self.stocks.values() if s["code"] == code), None)
        return Decimal(stock["price"]) if stock else Decimal("9.99")


# ---------------------------------------------------------------------------------------------
# Helpers


def _json_body(request: SandboxRequest) -> Any:
    if not request.body.strip():
        return None
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise ShoperError(400, "invalid_request", "Niepoprawny format danych (JSON)") from None


def _object(body: Any, field: str = "body") -> Json:
    if not isinstance(body, Mapping):
        raise ShoperError(400, "invalid_request", _invalid(field, "Oczekiwano obiektu"))
    return dict(body)


def _basic(header: str) -> tuple[str | None, str | None]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        login, _, password = b64decode(encoded.strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None, None
    return login, password


def _param(value: Any) -> str:
    return orjson.dumps(value).decode() if isinstance(value, Mapping | list) else str(value)


# ---------------------------------------------------------------------------------------------
# Command-line entry (wired as `iluo-sync sandbox shoper`)


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
    """Seed, serve, print one line with the URL and login, block until Ctrl-C or SIGTERM.

    `consumer_key`/`consumer_secret` are the WebAPI user's login and password; the defaults
    of the command (`ck_demo`/`cs_demo`) work as they are.
    """
    faults = Faults(error_rate=error_rate, rate_limit_rate=rate_limit_rate, latency_ms=latency_ms)
    sandbox = ShoperSandbox(consumer_key, consumer_secret, faults=faults)
    sandbox.seed_demo(orders=seed_orders, products=max(seed_products, 10 if seed_orders else 0))
    serve_until_stopped(
        sandbox, host, port,
        lambda handle: (
            f"Shoper sandbox at {handle.base_url}{API_PREFIX} login={consumer_key} "
            f"password={consumer_secret} (shop address for the integration: "
            f"{handle.base_url}; control: {handle.base_url}/__sandbox/state)"
        ),
    )
