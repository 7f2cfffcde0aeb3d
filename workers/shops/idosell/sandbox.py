"""A faithful IdoSell Admin API v6 emulator (orders, products, stock) served over real HTTP.

Public API:

    IdoSellSandbox(api_key=DEFAULT_KEY, *, shop_timezone="Europe/Warsaw", empty_results="404",
                   payment_bumps_modified=False, rate_limit=None, faults=None, seed=0)
        .serve(host="127.0.0.1", port=0) -> SandboxHandle      (from workers.shops.sandbox)
        .api_url(handle) -> str                                  ".../api/admin/v6/"
        .add_product(code, name, *, price_gross="10.00", vat=23, quantity=0, visible=True,
                     ean="", weight=0, created=None, sizes=1) -> dict
        .update_product(product_id, *, bump=True, **fields) -> dict
        .add_order(sku_lines=[(code, qty, unit_gross)], *, email, status="new", created=None,
                   shipping="14.99", paid=False) -> dict
        .set_order_status(serial, status, *, bump=True)   (as the panel does)
        .add_payment(serial, value=None, *, when=None)     (a settled prepayment)
        .products / .orders       (id / serial number -> stored record)
        .product_by_code(code) -> list[dict]                .now: aware clock (settable)
        + everything of `Sandbox`: faults, log, on_request, reset(), /__sandbox/ endpoints.

    serve_forever(host, port, *, seed_orders, seed_products, consumer_key, consumer_secret,
                  error_rate, rate_limit_rate, latency_ms) -> None

Behaviour reproduced (mozan/idosell-python `src/idosell/oms/SPECS_v6.md`,
`pim/products/product/SPECS_v6.md`, `pim/products/SPECS_v6.md`; shop-apis.md §5):
- `X-API-KEY` (missing or unknown → 401); every body `{"params": {...}}` (else 422);
- `POST orders/orders/search`: `ordersRange.ordersDateRange` with `ordersDateType` add,
  modified, payment, last_payments_operation (dates `YYYY-MM-DD HH:MM:SS`, inclusive, naive
  shop-local), `ordersStatuses`, `ordersSerialNumbers` (integers) and `ordersIds` (strings,
  e.g. "shop1-1001"), each at most 100 (the GET form's documented cap; the search states none:
  **unverified**, the smaller reading is enforced); `resultsPage` from 0, `resultsLimit`
  1..100 (else 422); answer `{"Results": [...], "resultsNumberAll", "resultsNumberPage",
  "resultsPage", "resultsLimit"}`; results in serial-number order (the API documents none);
- "no results" is fault 2 rather than an empty list: HTTP 404 `{"errors": {"faultCode": 2, …}}`
  by default, or 207 / 200 (`empty_results`);
- `PUT orders/orders`: up to 100 orders; per item `faultCode` (0 done, 1 no id, 4 no such
  order, 5 no such status, 6 merging), HTTP 207 when one failed; a status change moves
  `orderChangeDate`; a payment does only with `payment_bumps_modified` (undocumented);
- `POST products/products/search` (`productParams`, `productDate` by whole days, `ordersBy`
  id | modification_time | name; answer key `results`, lower case); `PUT products/products`
  (`settingModificationType` all | edit | add: all finds a product by id or external code before
  adding one) and `POST products/products` (add); per item `faults[]`, a code another product
  holds in `productResultDetails[].existingCodes`; VAT rates 23, 8, 5, 0;
- `PUT products/stockQuantity`: absolute `productSizeQuantity` per `stockId` (1 = M1, 2 = M2),
  per item `faultCode`; it moves the quantity-change time, not `productModificationTime`;
- 429 with `Retry-After` from `rate_limit=(burst, per_second)` (a token bucket per key) or
  from the injected faults.
Left out: order/product creation details beyond what sync needs (parameters, categories,
pictures, variants across products), OAuth, `GET` variants of the searches.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, cast
from zoneinfo import ZoneInfo

import orjson

from workers.shops.sandbox import (
    Faults,
    Sandbox,
    SandboxHandle,
    SandboxRequest,
    SandboxResponse,
    json_response,
    serve_until_stopped,
)

API_PREFIX = "/api/admin/v6/"
DEFAULT_KEY = "idosell-sandbox-key"
WIRE = "%Y-%m-%d %H:%M:%S"
CENT = Decimal("0.01")
MAX_LIMIT = 100
MAX_ITEMS = 100
MAX_IDS = 100
VAT_RATES = (Decimal(23), Decimal(8), Decimal(5), Decimal(0))
STOCKS = (1, 2)
STATUSES = ("new", "finished", "finished_ext", "payment_waiting", "delivery_waiting", "on_order",
            "packed", "packed_fulfillment", "packed_ready", "ready", "wait_for_dispatch",
            "suspended", "joined", "missing", "lost", "false", "canceled")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Json = dict[str, Any]

FIRST_NAMES = ("Anna", "Katarzyna", "Piotr", "Tomasz", "Ewa", "Michał", "Agnieszka", "Paweł")
LAST_NAMES = ("Nowak", "Kowalska", "Wiśniewski", "Wójcik", "Kamińska", "Lewandowski")
CITIES = (("Warszawa", "00-950"), ("Kraków", "30-001"), ("Gdańsk", "80-001"),
          ("Poznań", "60-001"))
PRODUCT_NAMES = ("Kubek ceramiczny", "Koszulka bawełniana", "Plecak miejski", "Notes A5",
                 "Świeca sojowa", "Herbata liściasta")


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str,
                 headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = list(headers)

    def response(self) -> SandboxResponse:
        return json_response(self.status, {"errors": {"faultCode": self.code,
                                                      "faultString": self.message}},
                             self.headers)


def _num(value: Any, what: str, *, minimum: Decimal | None = Decimal(0)) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{what} is not a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{what} is not a number") from None
    if not number.is_finite() or (minimum is not None and number < minimum):
        raise ValueError(f"{what} must be a number of at least {minimum}")
    return number


def _float(value: Decimal) -> float:
    return float(value.quantize(CENT, ROUND_HALF_UP))


class IdoSellSandbox(Sandbox):
    """IdoSell Admin API v6 (orders, products, stock) with its quirks."""

    platform = "idosell"

    def __init__(
        self,
        api_key: str = DEFAULT_KEY,
        *,
        shop_timezone: str = "Europe/Warsaw",
        empty_results: str = "404",
        payment_bumps_modified: bool = False,
        rate_limit: tuple[int, float] | None = None,
        faults: Faults | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(faults=faults)
        if empty_results not in ("404", "207", "200"):
            raise ValueError("empty_results must be 404, 207 or 200")
        self.api_keys = {api_key}
        self.zone = ZoneInfo(shop_timezone)
        self.empty_results = empty_results
        self.payment_bumps_modified = payment_bumps_modified
        self.rate_limit = rate_limit
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.clock: Callable[[], float] = time.monotonic  # for the rate bucket
        self._bucket: dict[str, tuple[float, float]] = {}
        self._seed = seed
        self._demo: tuple[int, int] | None = None
        self._clear_data()

    def _clear_data(self) -> None:
        self.products: dict[int, Json] = {}
        self.orders: dict[int, Json] = {}
        self.rng = random.Random(self._seed)
        self._next_product = 100
        self._next_serial = 1000

    # -- clock --------------------------------------------------------------------------------

    def local(self, moment: datetime | None = None) -> str:
        moment = moment or self.now()
        if moment.tzinfo is None:
            raise ValueError("IdoSellSandbox times must be aware")
        return moment.astimezone(self.zone).strftime(WIRE)

    def state(self) -> dict[str, Any]:
        return {"products": len(self.products), "orders": len(self.orders),
                "shop_timezone": str(self.zone)}

    def reset_data(self) -> None:
        with self.lock:
            self._clear_data()
            if self._demo is not None:
                self.seed_demo(*self._demo)

    def api_url(self, handle: SandboxHandle) -> str:
        return f"{handle.base_url}{API_PREFIX}"

    # -- helpers for tests and the demo -------------------------------------------------------

    def add_product(self, code: str, name: str, *, price_gross: Decimal | str = "10.00",
                    vat: int | Decimal = 23, quantity: int = 0, visible: bool = True,
                    ean: str = "", weight: int = 0, created: datetime | None = None,
                    sizes: int = 1, description: str = "") -> Json:
        """A product made in the panel; `sizes` > 1 gives a product with variants (sizes)."""
        with self.lock:
            self._next_product += 1
            moment = self.local(created)
            size_ids = ["uniw"] if sizes == 1 else [f"{n}" for n in range(1, sizes + 1)]
            record: Json = {
                "productId": self._next_product, "displayed": code, "producer": ean,
                "price": Decimal(str(price_gross)), "vat": Decimal(str(vat)), "weight": weight,
                "visible": "y" if visible else "n", "names": {"pol": name},
                "short": {"pol": ""}, "long": {"pol": description}, "added": moment,
                "modified": moment, "quantity_changed": moment, "deleted": False,
                "sizes": [{"sizeId": size, "code": code if sizes == 1 else f"{code}-{size}",
                           "quantities": {1: Decimal(quantity)}} for size in size_ids],
            }
            self.products[record["productId"]] = record
            return record

    def product_by_code(self, code: str) -> list[Json]:
        with self.lock:
            return [p for p in self.products.values() if not p["deleted"]
                    and any(s["code"] == code for s in p["sizes"])]

    def update_product(self, product_id: int, *, bump: bool = True, **fields: Any) -> Json:
        with self.lock:
            record = self.products[int(product_id)]
            record.update(fields)
            if bump:
                record["modified"] = self.local()
            return record

    def add_order(self, sku_lines: Iterable[tuple[str, int | Decimal, Decimal | str]], *,
                  email: str, status: str = "new", created: datetime | None = None,
                  shipping: Decimal | str = "14.99", paid: bool = False) -> Json:
        """An order placed in the shop; unit prices gross in PLN."""
        with self.lock:
            self._next_serial += 1
            serial = self._next_serial
            moment = self.local(created)
            lines = []
            for position, (code, quantity, price) in enumerate(sku_lines, 1):
                match = next(iter(self.product_by_code(code)), None)
                gross = Decimal(str(price))
                vat = match["vat"] if match else Decimal(23)
                lines.append({"productId": match["productId"] if match else 0,
                              "productName": match["names"]["pol"] if match else f"Produkt {code}",
                              "productCode": code, "sizeId": "uniw",
                              "productSizeCodeExternal": code, "quantity": Decimal(str(quantity)),
                              "vat": vat, "price": gross, "position": position})
            city, postcode = self.rng.choice(CITIES)
            order = {
                "serial": serial, "orderId": f"shop1-{serial}", "status": status,
                "apiFlag": "none", "added": moment, "changed": moment,
                "client": {"id": self.rng.randint(1, 9999), "email": email.strip(),
                           "first": self.rng.choice(FIRST_NAMES),
                           "last": self.rng.choice(LAST_NAMES),
                           "firm": "", "nip": "", "street": f"ul. Polna {self.rng.randint(1, 90)}",
                           "zip": postcode, "city": city, "country": "PL",
                           "phone": f"+48 600 {self.rng.randint(100, 999)} 100"},
                "currency": "PLN", "delivery": Decimal(str(shipping)), "lines": lines,
                "prepaids": [], "courier": "InPost Paczkomaty 24/7", "note": "",
                "payment_type": "prepaid",
            }
            self.orders[serial] = order
            if paid:
                self._pay(order, self._total(order), moment)
            return order

    def _total(self, order: Json) -> Decimal:
        products = sum((line["price"] * line["quantity"] for line in order["lines"]), Decimal(0))
        return products + Decimal(order["delivery"])

    def set_order_status(self, serial: int, status: str, *, bump: bool = True) -> Json:
        with self.lock:
            order = self.orders[int(serial)]
            order["status"] = status
            if bump:
                order["changed"] = self.local()
            return order

    def add_payment(self, serial: int, value: Decimal | str | None = None, *,
                    when: datetime | None = None) -> Json:
        with self.lock:
            order = self.orders[int(serial)]
            amount = self._total(order) if value is None else Decimal(str(value))
            return self._pay(order, amount, self.local(when))

    def _pay(self, order: Json, amount: Decimal, moment: str) -> Json:
        number = len(order["prepaids"]) + 1
        prepaid = {"prepaidId": order["serial"] * 10 + number, "paymentOrdinalNumber": number,
                   "paymentNumber": f"{order['serial']}-{number}", "paymentAddDate": moment,
                   "paymentModifiedDateByShop": moment, "paymentStatus": "y",
                   "paymentType": "payment", "payformId": 13, "payformName": "Przelewy24",
                   "paymentValue": amount, "currencyId": order["currency"]}
        order["prepaids"].append(prepaid)
        if self.payment_bumps_modified:
            order["changed"] = moment
        return prepaid

    def seed_demo(self, orders: int = 20, products: int = 30) -> None:
        with self.lock:
            self._demo = (orders, products)
            now = self.now()
            catalogue = [self.add_product(
                f"IDO-{n + 1:04d}", f"{self.rng.choice(PRODUCT_NAMES)} {n + 1}",
                price_gross=Decimal(self.rng.randint(500, 20000)) / 100,
                quantity=self.rng.randint(0, 60),
                created=now - timedelta(days=self.rng.randint(30, 300)))
                for n in range(products)]
            for n in range(orders):
                picked = self.rng.sample(catalogue, k=min(len(catalogue), self.rng.randint(1, 3)))
                lines = [(p["sizes"][0]["code"], self.rng.randint(1, 3), p["price"])
                         for p in picked]
                self.add_order(lines, email=f"klient{n}@example.pl",
                               status=self.rng.choice(("new", "on_order", "packed", "finished")),
                               created=now - timedelta(minutes=self.rng.randint(60, 30 * 1440)),
                               paid=self.rng.random() < 0.7)

    # -- HTTP entry point ---------------------------------------------------------------------

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        try:
            if not request.path.startswith(API_PREFIX):
                raise ApiError(404, 404, f"Unknown method {request.path}")
            key = request.header("x-api-key")
            if key not in self.api_keys:
                raise ApiError(401, 1, "Login failure: invalid username or key")
            self._take_token(key)
            route = request.path[len(API_PREFIX):].strip("/")
            handler = self._routes().get((request.method, route))
            if handler is None:
                known = {r for _, r in self._routes()}
                raise ApiError(405 if route in known else 404, 404,
                               f"Unknown method {request.method} {route}")
            params = self._params(request)
            status, payload = handler(params)
            return json_response(status, payload)
        except ApiError as error:
            return error.response()

    def _routes(self) -> dict[tuple[str, str], Callable[[Json], tuple[int, Any]]]:
        return {
            ("POST", "orders/orders/search"): self._search_orders,
            ("PUT", "orders/orders"): self._put_orders,
            ("POST", "products/products/search"): self._search_products,
            ("PUT", "products/products"): lambda p: self._put_products(p, None),
            ("POST", "products/products"): lambda p: self._put_products(p, "add"),
            ("PUT", "products/stockQuantity"): self._put_stock,
        }

    def _take_token(self, key: str) -> None:
        """A token bucket per key: `rate_limit=(burst, per_second)`."""
        if self.rate_limit is None:
            return
        burst, rate = self.rate_limit
        now = self.clock()
        tokens, last = self._bucket.get(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - last) * rate)
        if tokens < 1:
            wait = math.ceil((1 - tokens) / rate)
            self._bucket[key] = (tokens, now)
            raise ApiError(429, 429, "Too many requests", [("Retry-After", str(wait))])
        self._bucket[key] = (tokens - 1, now)

    @staticmethod
    def _params(request: SandboxRequest) -> Json:
        try:
            body = orjson.loads(request.body) if request.body.strip() else None
        except orjson.JSONDecodeError:
            raise ApiError(422, 2, "Invalid data format: the body is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("params"), dict):
            raise ApiError(422, 2, "Invalid gate call parameters: expected {\"params\": {...}}")
        params: dict[str, Any] = body["params"]
        return params

    @staticmethod
    def _paging(params: Mapping[str, Any]) -> tuple[int, int]:
        page, limit = params.get("resultsPage", 0), params.get("resultsLimit", MAX_LIMIT)
        if isinstance(page, bool) or not isinstance(page, int) or page < 0:
            raise ApiError(422, 2, "resultsPage: page numbers start from 0")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise ApiError(422, 2, f"resultsLimit: value from 1 to {MAX_LIMIT}")
        return page, limit

    @staticmethod
    def _id_list(params: Mapping[str, Any], name: str) -> list[Any]:
        """A by-id filter (`ordersSerialNumbers`, `ordersIds`, `productParams`): a list of at
        most MAX_IDS items. The GET forms document "a maximum of 100"; the searches state no
        cap, so the sandbox holds them to the smaller reading (unverified). An empty list is
        no filter, as an absent one."""
        value = params.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ApiError(422, 2, f"{name}: expected an array")
        if len(value) > MAX_IDS:
            raise ApiError(422, 2, f"{name}: you can transfer a maximum of {MAX_IDS} items")
        return value

    def _empty(self, what: str) -> tuple[int, Any]:
        fault = {"faultCode": 2, "faultString": f"{what} search: returned an empty result"}
        if self.empty_results == "404":
            raise ApiError(404, 2, str(fault["faultString"]))
        if self.empty_results == "207":
            return 207, {"errors": fault}
        key = "Results" if what == "Orders" else "results"
        return 200, {key: [], "resultsNumberAll": 0, "resultsNumberPage": 0, "resultsPage": 0,
                     "resultsLimit": MAX_LIMIT}

    @staticmethod
    def _page_answer(key: str, rows: list[Json], page: int, limit: int) -> Json:
        return {key: rows[page * limit:(page + 1) * limit], "resultsNumberAll": len(rows),
                "resultsNumberPage": math.ceil(len(rows) / limit), "resultsPage": page,
                "resultsLimit": limit}

    # -- orders -------------------------------------------------------------------------------

    def _search_orders(self, params: Json) -> tuple[int, Any]:
        page, limit = self._paging(params)
        orders = sorted(self.orders.values(), key=lambda o: o["serial"])
        date_range = (params.get("ordersRange") or {}).get("ordersDateRange")
        if date_range is not None:
            kind = date_range.get("ordersDateType", "add")
            begin, end = date_range.get("ordersDateBegin"), date_range.get("ordersDateEnd")
            for value in (begin, end):
                if value is not None and not (isinstance(value, str) and _DATETIME.match(value)):
                    raise ApiError(422, 2, "ordersDateBegin/ordersDateEnd: expected "
                                           "YYYY-MM-DD HH:MM:SS")
            if kind not in ("add", "modified", "dispatch", "payment", "last_payments_operation",
                            "declared_payments"):
                raise ApiError(422, 2, f"ordersDateType: unknown value {kind!r}")
            orders = [o for o in orders if self._order_date(o, kind) is not None
                      and (begin is None or self._order_date(o, kind) >= begin)
                      and (end is None or self._order_date(o, kind) <= end)]
        statuses = params.get("ordersStatuses")
        if statuses:
            orders = [o for o in orders if o["status"] in statuses]
        serials = self._id_list(params, "ordersSerialNumbers")
        if serials:
            wanted = {int(s) for s in serials if str(s).isdigit()}
            orders = [o for o in orders if o["serial"] in wanted]
        order_ids = self._id_list(params, "ordersIds")
        if order_ids:
            orders = [o for o in orders if o["orderId"] in {str(i) for i in order_ids}]
        if not orders:
            return self._empty("Orders")
        rendered = [self._render_order(o) for o in orders]
        return 200, self._page_answer("Results", rendered, page, limit)

    @staticmethod
    def _order_date(order: Json, kind: str) -> str | None:
        if kind == "add":
            return cast("str | None", order["added"])
        if kind == "modified":
            return cast("str | None", order["changed"])
        settled = [p["paymentAddDate"] for p in order["prepaids"] if p["paymentStatus"] == "y"]
        if kind == "payment":
            return min(settled) if settled else None
        if kind in ("last_payments_operation", "declared_payments"):
            return max((p["paymentModifiedDateByShop"] for p in order["prepaids"]), default=None)
        return None  # dispatch: not emulated

    def _render_order(self, order: Json) -> Json:
        client = order["client"]
        products = sum((line["price"] * line["quantity"] for line in order["lines"]),
                       Decimal(0))
        money = {"orderProductsCost": _float(products), "orderDeliveryCost":
                 _float(order["delivery"]), "orderPayformCost": 0.0, "orderInsuranceCost": 0.0}
        return {
            "orderId": order["orderId"], "orderBridgeNote": "",
            "orderSerialNumber": order["serial"], "orderType": "n",
            "clientResult": {
                "clientAccount": {"clientId": client["id"], "clientLogin": client["email"],
                                  "clientEmail": client["email"], "clientPhone1": client["phone"],
                                  "clientPhone2": "", "clientCodeExternal": ""},
                "clientBillingAddress": {
                    "clientFirstName": client["first"], "clientLastName": client["last"],
                    "clientNip": client["nip"], "clientFirm": client["firm"],
                    "clientStreet": client["street"], "clientZipCode": client["zip"],
                    "clientCity": client["city"], "clientCountryName": "Polska",
                    "clientCountryId": client["country"], "clientPhone1": client["phone"],
                    "clientPhone2": ""},
                "clientDeliveryAddress": {
                    "clientDeliveryAddressFirstName": client["first"],
                    "clientDeliveryAddressLastName": client["last"],
                    "clientDeliveryAddressStreet": client["street"],
                    "clientDeliveryAddressZipCode": client["zip"],
                    "clientDeliveryAddressCity": client["city"],
                    "clientDeliveryAddressCountryId": client["country"]},
            },
            "orderDetails": {
                "apiFlag": order["apiFlag"], "orderStatus": order["status"],
                "orderConfirmation": "email", "orderAddDate": order["added"],
                "orderDispatchDate": None, "clientNoteToOrder": order["note"],
                "clientNoteToCourier": "",
                "payments": {"orderPaymentType": order["payment_type"], "orderPaymentDays": 0,
                             "orderCurrency": {"currencyId": order["currency"],
                                               "orderCurrencyValue": 1.0, **money},
                             "orderBaseCurrency": {"billingCurrency": order["currency"], **money},
                             "orderWorthCalculateType": "gross", "orderVatExists": "y"},
                "prepaids": [{**p, "paymentValue": _float(p["paymentValue"])}
                             for p in order["prepaids"]],
                "dispatch": {"courierId": 1, "courierName": order["courier"]},
                "productsResults": [_render_line(line) for line in order["lines"]],
                "purchaseDate": order["added"], "orderChangeDate": order["changed"],
            },
        }

    def _put_orders(self, params: Json) -> tuple[int, Any]:
        items = params.get("orders")
        if not isinstance(items, list) or not items:
            raise ApiError(422, 2, "orders: a list of orders is required")
        if len(items) > MAX_ITEMS:
            raise ApiError(422, 2, f"orders: at most {MAX_ITEMS} orders per call")
        results, failed = [], False
        for item in items:
            answer = self._put_order(item if isinstance(item, dict) else {})
            failed = failed or answer["faultCode"] != 0
            results.append(answer)
        return (207 if failed else 200), {"results": {"ordersResults": results}}

    def _put_order(self, item: Json) -> Json:
        serial = item.get("orderSerialNumber")
        base = {"orderSerialNumber": serial, "orderId": item.get("orderId")}
        if serial is None and item.get("orderId") is None:
            return {**base, "faultCode": 1, "faultString": "Not specified Id or serial number "
                                                           "of the order"}
        order = self.orders.get(int(str(serial))) if str(serial).isdigit() else next(
            (o for o in self.orders.values() if o["orderId"] == item.get("orderId")), None)
        if order is None:
            return {**base, "faultCode": 4, "faultString": "An error occurred during attempt to "
                                                           "change order status: no such order"}
        status = item.get("orderStatus")
        if status is not None:
            if status == "joined":
                return {**base, "faultCode": 6, "faultString": "If you want to merge orders, "
                                                               "use the tool provided by "
                                                               "IdoSell Shop"}
            if status not in STATUSES:
                return {**base, "faultCode": 5, "faultString": "No such status"}
            order["status"] = status
        if item.get("apiFlag") is not None:
            order["apiFlag"] = str(item["apiFlag"])
        order["changed"] = self.local()
        return {"orderSerialNumber": order["serial"], "orderId": order["orderId"],
                "orderStatus": order["status"], "productsResults": [], "faultCode": 0,
                "faultString": ""}

    # -- products -----------------------------------------------------------------------------

    def _search_products(self, params: Json) -> tuple[int, Any]:
        page, limit = self._paging(params)
        products = [p for p in self.products.values() if not p["deleted"]]
        wanted = self._id_list(params, "productParams")
        if wanted:
            products = [p for p in products if any(self._matches(p, w) for w in wanted
                                                   if isinstance(w, dict))]
        date = params.get("productDate")
        if date:
            mode = date.get("productDateMode", "modified")
            field = {"modified": "modified", "added": "added",
                     "quantity_changed": "quantity_changed"}.get(mode)
            if field is None:
                raise ApiError(422, 2, f"productDateMode: unknown value {mode!r}")
            begin, end = date.get("productDateBegin"), date.get("productDateEnd")
            for value in (begin, end):
                if value is not None and not (isinstance(value, str) and _DAY.match(value)):
                    raise ApiError(422, 2, "productDateBegin/productDateEnd: expected YYYY-MM-DD")
            products = [p for p in products if (begin is None or p[field][:10] >= begin)
                        and (end is None or p[field][:10] <= end)]
        products.sort(key=lambda p: p["productId"])
        for order in reversed(params.get("ordersBy") or []):
            element = order.get("elementName")
            keys: dict[str, Callable[[Json], Any]] = {
                "id": lambda p: p["productId"], "modification_time": lambda p: p["modified"],
                "name": lambda p: p["names"].get("pol", "").lower()}
            if element not in keys:
                raise ApiError(422, 2, f"ordersBy: unknown elementName {element!r}")
            products.sort(key=keys[element],
                          reverse=str(order.get("sortDirection", "ASC")).upper() == "DESC")
        if not products:
            return self._empty("Product")
        rendered = [self._render_product(p) for p in products]
        return 200, self._page_answer("results", rendered, page, limit)

    @staticmethod
    def _matches(product: Json, wanted: Json) -> bool:
        if "productId" in wanted and str(wanted["productId"]) != str(product["productId"]):
            return False
        # Codes compare case-insensitively (the panel's MySQL collation).
        for key, values in (("productSizeCodeExternal", [s["code"] for s in product["sizes"]]),
                            ("productCode", [product["displayed"]])):
            if key in wanted and str(wanted[key]).lower() not in {v.lower() for v in values}:
                return False
        return any(k in wanted for k in ("productId", "productSizeCodeExternal", "productCode"))

    def _render_product(self, product: Json) -> Json:
        sizes = product["sizes"]
        return {
            "productId": product["productId"], "productDisplayedCode": product["displayed"],
            "productIsDeleted": "n", "productVat": float(product["vat"]), "productVatFree": "n",
            "productRetailPrice": _float(product["price"]), "productWeight": product["weight"],
            "productIsVisible": product["visible"], "currencyId": "PLN",
            "productAddingTime": product["added"],
            "productModificationTime": product["modified"],
            "productQuantityChangedTime": product["quantity_changed"],
            "productDescriptionsLangData": [{
                "langId": lang, "productName": name,
                "productDescription": product["short"].get(lang, ""),
                "productLongDescription": product["long"].get(lang, "")}
                for lang, name in product["names"].items()],
            "productSizesAttributes": [{
                "sizeId": s["sizeId"], "sizePanelName": s["sizeId"],
                "productSizeCodeExternal": s["code"],
                "productSizeCodeProducer": product["producer"] if len(sizes) == 1 else "",
                "productRetailPrice": _float(product["price"]),
                "productSizeWeight": product["weight"]} for s in sizes],
            "productStocksData": {"productStocksQuantities": [{
                "stockId": stock, "productSizesData": [{
                    "sizeId": s["sizeId"], "sizePanelName": s["sizeId"],
                    "productSizeCodeExternal": s["code"],
                    "productSizeQuantity": float(s["quantities"].get(stock, 0))}
                    for s in sizes]} for stock in STOCKS]},
        }

    def _put_products(self, params: Json, forced: str | None) -> tuple[int, Any]:
        items = params.get("products")
        if not isinstance(items, list) or not items:
            raise ApiError(422, 2, "products: a list of products is required")
        if len(items) > MAX_ITEMS:
            raise ApiError(422, 2, f"products: at most {MAX_ITEMS} products per call")
        mode = forced or (params.get("settings") or {}).get("settingModificationType", "all")
        if mode not in ("all", "edit", "add"):
            raise ApiError(422, 2, f"settingModificationType: unknown value {mode!r}")
        results, failed = [], False
        for item in items:
            answer = self._put_product(item if isinstance(item, dict) else {}, mode)
            failed = failed or bool(answer["faults"])
            results.append(answer)
        return (207 if failed else 200), {"results": {"productsResults": results}}

    def _find_product(self, item: Json) -> Json | None:
        if item.get("productId") is not None:
            found = self.products.get(int(item["productId"])) if str(
                item["productId"]).isdigit() else None
            return found if found and not found["deleted"] else None
        code = item.get("productSizeCodeExternal") or item.get("productDisplayedCode")
        if code:
            matches = self.product_by_code(str(code))
            return matches[0] if matches else None
        return None

    def _put_product(self, item: Json, mode: str) -> Json:
        code = item.get("productSizeCodeExternal")
        existing = self._find_product(item)

        def fail(fault_code: str, message: str, owner: Json | None = None) -> Json:
            details = []
            if owner is not None:
                details = [{"operationType": "add", "fault": {"faultCode": fault_code,
                                                               "faultString": message},
                            "existingCodes": [{"productId": owner["productId"],
                                               "sizeId": owner["sizes"][0]["sizeId"],
                                               "productSizeCodeExternal": owner["sizes"][0]["code"],
                                               "productProducerCode": owner["producer"]}]}]
            return {"productId": item.get("productId"), "sizeId": None,
                    "productSizeCodeExternal": code,
                    "faults": [{"faultCode": fault_code, "faultString": message}],
                    "productResultDetails": details}

        if mode == "edit" and existing is None:
            return fail("7", "Product does not exist (settingModificationType edit adds none)")
        if mode == "add" and existing is not None:
            return fail("8", f"External system code {code!r} is already used by another "
                             "product", existing)
        try:
            changes = self._product_changes(item)
        except ValueError as error:
            return fail("9", str(error))
        if code:
            holders = [p for p in self.product_by_code(str(code))
                       if existing is None or p["productId"] != existing["productId"]]
            if holders:
                return fail("8", f"External system code {code!r} is already used by another "
                                 "product", holders[0])
        if existing is None:
            if not changes.get("names", {}).get("pol"):
                return fail("9", "A new product needs a name (productNames)")
            record = self.add_product(str(code or f"P{self._next_product + 1}"),
                                      changes["names"]["pol"], price_gross=changes.get(
                                          "price", Decimal(0)), vat=changes.get("vat", 23))
            operation = "add"
        else:
            record, operation = existing, "edit"
        sizes_code = changes.pop("code", None)
        record.update({k: v for k, v in changes.items() if k not in ("names", "long")})
        for key in ("names", "long"):
            if key in changes:
                record[key] = {**record[key], **changes[key]}
        if sizes_code and len(record["sizes"]) == 1:
            record["sizes"][0]["code"] = sizes_code
        record["modified"] = self.local()
        return {"productId": record["productId"], "sizeId": record["sizes"][0]["sizeId"],
                "productSizeCodeExternal": record["sizes"][0]["code"], "faults": [],
                "productResultDetails": [{"operationType": operation}]}

    @staticmethod
    def _product_changes(item: Json) -> Json:
        changes: Json = {}
        if "productSizeCodeExternal" in item:
            changes["code"] = str(item["productSizeCodeExternal"]).strip()
        if "productDisplayedCode" in item:
            changes["displayed"] = str(item["productDisplayedCode"])
        if "productSizeCodeProducer" in item:
            changes["producer"] = str(item["productSizeCodeProducer"])
        if "productRetailPrice" in item:
            changes["price"] = _num(item["productRetailPrice"], "productRetailPrice")
        if "productVat" in item:
            vat = _num(item["productVat"], "productVat")
            if vat not in VAT_RATES:
                raise ValueError(f"Incorrect VAT rate of the product: {vat.normalize()}")
            changes["vat"] = vat
        if "productWeight" in item:
            weight = item["productWeight"]
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
                raise ValueError("productWeight must be a whole number of grams")
            changes["weight"] = weight
        if "productInVisible" in item:
            if item["productInVisible"] not in ("y", "n"):
                raise ValueError("productInVisible must be y or n")
            changes["visible"] = item["productInVisible"]
        for key, inner, field, target in (
                ("productNames", "productNamesLangData", "productName", "names"),
                ("productLongDescriptions", "productLongDescriptionsLangData",
                 "productLongDescription", "long")):
            if key in item:
                entries = (item[key] or {}).get(inner) or []
                changes[target] = {str(e.get("langId")): str(e.get(field) or "")
                                   for e in entries if isinstance(e, dict)}
        return changes

    def _put_stock(self, params: Json) -> tuple[int, Any]:
        items = params.get("products")
        if not isinstance(items, list) or not items:
            raise ApiError(422, 2, "products: a list of products is required")
        if len(items) > MAX_ITEMS:
            raise ApiError(422, 2, f"products: at most {MAX_ITEMS} products per call")
        results, failed = [], False
        for item in items:
            answer = self._put_quantity(item if isinstance(item, dict) else {})
            failed = failed or answer["faultCode"] != 0
            results.append(answer)
        return (207 if failed else 200), {"results": results}

    def _put_quantity(self, item: Json) -> Json:
        code = item.get("productSizeCodeExternal")
        answer = {"productSizeCodeExternal": code,
                  "productSizeCodeProducer": item.get("productSizeCodeProducer"),
                  "productIndex": item.get("productIndex"), "stockId": str(item.get("stockId"))}
        size = None
        for product in self.products.values():
            if product["deleted"]:
                continue
            for candidate in product["sizes"]:
                if code is not None and candidate["code"].lower() == str(code).lower():
                    size, owner = candidate, product
        if size is None:
            return {**answer, "faultCode": 4, "faultString": f"Product size with code {code!r} "
                                                             "not found"}
        stock = item.get("stockId")
        if stock not in STOCKS:
            return {**answer, "faultCode": 5, "faultString": f"Stock {stock!r} does not exist"}
        try:
            quantity = _num(item.get("productSizeQuantity"), "productSizeQuantity")
        except ValueError as error:
            return {**answer, "faultCode": 6, "faultString": str(error)}
        size["quantities"][stock] = quantity
        owner["quantity_changed"] = self.local()  # not productModificationTime
        return {**answer, "faultCode": 0, "faultString": ""}


def _render_line(line: Json) -> Json:
    return {
        "productId": line["productId"], "productName": line["productName"],
        "productCode": line["productCode"], "sizeId": line["sizeId"],
        "sizePanelName": line["sizeId"],
        "productSizeCodeExternal": line["productSizeCodeExternal"], "stockId": 1,
        "productQuantity": float(line["quantity"]),
        # The search documents an order line's productVat as an integer (a product's as a
        # float): 23, not 23.0.
        "productVat": int(line["vat"]) if line["vat"] == int(line["vat"]) else float(line["vat"]),
        "productVatFree": "n", "productOrderPrice": _float(line["price"]),
        "productOrderPriceNet": _float(line["price"] * 100 / (100 + line["vat"])),
        "basketPosition": line["position"],
    }


# ---------------------------------------------------------------------------------------------
# Command-line entry (wired as `iluo-sync sandbox idosell`)


def serve_forever(
    host: str,
    port: int,
    *,
    seed_orders: int,
    seed_products: int,
    consumer_key: str,
    consumer_secret: str | None = None,
    error_rate: float = 0.0,
    rate_limit_rate: float = 0.0,
    latency_ms: int = 0,
) -> None:
    """Seed, serve, print one line with the URL and key, block until Ctrl-C or SIGTERM.
    `consumer_key` is the X-API-KEY; `consumer_secret` is ignored (IdoSell has a key only)."""
    del consumer_secret
    faults = Faults(error_rate=error_rate, rate_limit_rate=rate_limit_rate, latency_ms=latency_ms)
    sandbox = IdoSellSandbox(consumer_key or DEFAULT_KEY, faults=faults)
    sandbox.seed_demo(orders=seed_orders, products=seed_products)
    key = consumer_key or DEFAULT_KEY
    serve_until_stopped(
        sandbox, host, port,
        lambda handle: (
            f"IdoSell sandbox at {sandbox.api_url(handle)} X-API-KEY={key} "
            f"(shop base_url {handle.base_url}; control: {handle.base_url}/__sandbox/state)"
        ),
    )
