"""The Shoper REST connector (the OCA "adapter"): URLs, token, paging, bulk writes, rate limit.

- Base: `{base_url}/webapi/rest/`; a bearer token from `POST auth` (see `auth.py`), renewed
  before it expires and again on 401 `unauthorized_client`.
- Reads: `limit=50` (the documented maximum), JSON `filters`, `order` as `order[0]=…` (the
  PHP array form the official SDK sends); keyset paging (`paging.py`).
- Writes: `POST bulk` with at most 25 sub-requests, matched to our items by sub-request id;
  a sub-request answered 429/5xx is re-sent (absolute values only) in a later bulk.
- Rate: every attempt first passes a leaky bucket fed by the shop's `X-Shop-Api-*` headers
  (`bucket.py`), so the shop's bucket is not overrun; a 429 that still happens (another
  process spends the same shop's budget) is waited out through `Retry-After` by `ShopHttp`.

- Reads by id (the retry set) are list reads with `filters={"<id>":{"IN":[…]}}`, 50 ids a
  call; the reconciliation lists orders by creation `date`, keyset by id. Both check that the
  shop applied the filter (the operator's spelling is unverified: docs/fidelity/shoper.md).

Orders have no modification time in Shoper. `iter_orders` reads the window twice — by `date`
(created) and by `status_date` (last status change), merged so the cursor stays safe — and,
in every window that crosses a half-hour mark, re-scans the orders still open that were
created within `rescan` (default 14 days). Tokens are kept per process (`auth.TokenCache`).
Mapping lives in `mapping.py`, HTTP in `shops/http.py`.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
import orjson

from shared.redact import register_secret
from workers.domain import ItemError, ItemResult, Order, Page, Product, StatusChange, StockQuantity
from workers.ports import ShopConnection, ShopError
from workers.shops.http import ShopHttp, ShopHttpError, ShopResponse
from workers.shops.ids import chunked, positive_ids
from workers.shops.shoper import mapping
from workers.shops.shoper.auth import (
    AUTH_PATH,
    RENEW_MARGIN,
    TOKEN_EXPIRED_CODES,
    TOKENS,
    ShoperAuth,
    TokenCache,
)
from workers.shops.shoper.bucket import LeakyBucket, bucket_for
from workers.shops.shoper.mapping import BulkAnswer, Json, ListPage, MappingError, ShopRef
from workers.shops.shoper.paging import Keyed, iter_by_id, iter_keyset, merge_by_key

API_PATH = "/webapi/rest/"
#: Open orders created this far back are re-read (edits that move no date) ...
RESCAN_WINDOW = timedelta(days=14)
#: ... by every run whose window crosses a multiple of this (on the UTC epoch). Windows tile
#: time without gaps, so each mark is crossed by some run, and a failed run's window is read
#: again: a payment-only change is seen within this long, at a sixth of the cost of re-reading
#: every 5 minutes.
RESCAN_EVERY = timedelta(minutes=30)
#: A bulk sub-request answered 429/5xx is re-sent this many more times (absolute writes only).
BULK_ITEM_RETRIES = 2

#: A write we will not send (it could not be mapped): its error message.
Prepared = Json | str


#: RFC 6750 `b64token`: what may follow "Bearer " in an Authorization header.
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]{1,4096}=*")


class ShoperClient:
    """ShopClient for Shoper REST (`{base_url}/webapi/rest/`)."""

    platform: ClassVar[str] = "shoper"
    #: `limit` is 1..50 (SDK `Resource::limit`, "Limit beyond 1-50 range").
    page_size: int = 50
    #: `POST bulk` takes at most 25 sub-requests.
    batch_size: int = 25

    limitations: ClassVar[tuple[str, ...]] = (
        "Orders have no modification time: new orders and status changes are read by date "
        "and status_date, other edits only by a half-hourly re-scan of open orders from the "
        "last 14 days.",
        "Edits that change neither date nor status (payment recorded, lines, addresses) of "
        "closed orders or of orders older than 14 days are never seen.",
        "Shop statuses are numeric status_id values from GET statuses, not names.",
        "New products go into the shop's first category, since Shoper requires one and the "
        "ERP has none.",
        "Product import reads base products only; variants (product-stocks rows) are "
        "matched by code for stock and export but not imported.",
        "A variant's name comes from the shop's option values; only its code, EAN, price, "
        "weight and active flag are exported.",
        "Stock writes go to the pooled quantity; per-warehouse stock (Premium) is not used.",
    )

    def __init__(
        self,
        conn: ShopConnection,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        bucket: LeakyBucket | None = None,
        rescan: timedelta = RESCAN_WINDOW,
        rescan_every: timedelta = RESCAN_EVERY,
        tokens: TokenCache = TOKENS,
    ) -> None:
        if not conn.api_key or not conn.api_secret:
            raise ShopError(f"shoper integration {conn.integration_id} needs api_key (the "
                            "WebAPI user's login) and api_secret (its password)")
        self.conn = conn
        self.zone = mapping.zone_of(conn.shop_timezone)
        self.rescan = rescan
        self.rescan_every = rescan_every
        self._clock = clock
        base = api_base_url(conn.base_url)
        self._tokens = tokens
        self._token_key = tokens.key(base, conn.api_key, conn.api_secret)
        self.bucket = bucket if bucket is not None else bucket_for(base)
        self.auth = ShoperAuth(conn.api_key, conn.api_secret)
        self.http = ShopHttp(
            base,
            platform=self.platform,
            auth=self.auth,
            transport=transport,
            verify=conn.verify_tls,
            sleep=sleep,
            limiter=self.bucket.acquire,
            observe=self.bucket.observe,
            secrets=(conn.api_key, conn.api_secret),
        )
        self._refs: mapping.References | None = None
        self._open_statuses: list[int] | None = None
        self._taxes: dict[Decimal, int] | None = None
        self._category: int | None = None
        #: Token logins done by this client (the first one included).
        self.logins = 0

    # -- orders -------------------------------------------------------------------------------

    def iter_orders(self, since: datetime, until: datetime) -> Iterator[Page[Order]]:
        """Orders created or status-changed in [since, until], then the open-order re-scan.

        `modified_at` of a delta order is the local time that brought it into the window (its
        `date` or `status_date`); pages come in that order. Not seen: edits that change neither
        date nor status on orders outside the re-scan (closed, or older than `rescan`); seen
        late (at the next half-hour mark): such edits on open orders. A run that fails inside
        the re-scan, after the delta committed, leaves it to the mark after.
        """
        low, high = mapping.local_window(since, until, self.zone)
        created = self._keyset("orders", "date", "order_id", low, high, mapping.order_date)
        changed = self._keyset("orders", "status_date", "order_id", low, high,
                               mapping.status_date)
        emitted: set[tuple[Any, ...]] = set()
        yield from self._order_pages(merge_by_key([created, changed]), emitted)
        if self._rescan_due(since, until):
            yield from self._order_pages(self._rescan(until), emitted)

    def _rescan_due(self, since: datetime, until: datetime) -> bool:
        if self.rescan <= timedelta(0):
            return False
        every = self.rescan_every.total_seconds()
        if every <= 0:
            return True
        return math.floor(since.timestamp() / every) != math.floor(until.timestamp() / every)

    def _rescan(self, until: datetime) -> Iterator[list[tuple[str | None, Any]]]:
        """Open orders created within `rescan` before `until`, by id (ids never move)."""
        open_ids = self._open_status_ids()
        if not open_ids:
            return
        since = mapping.to_local(until - self.rescan, self.zone)
        filters = {"status_id": {"IN": open_ids}, "date": {">=": since}}
        for rows in iter_by_id(self._fetch, "orders", filters, id_field="order_id"):
            yield [(None, row) for row in rows]

    def _order_pages(
        self, batches: Iterator[Sequence[tuple[str | None, Any]]], emitted: set[tuple[Any, ...]]
    ) -> Iterator[Page[Order]]:
        """Pages of up to 50 orders not emitted before in this run (one state read by both
        streams, or again by the re-scan, is one order), each with its lines. Gathering full
        pages first keeps the line queries at one per 50 orders' worth of lines."""
        pending: list[tuple[str | None, Any]] = []
        for batch in batches:
            for key, row in batch:
                snapshot = mapping.order_snapshot(row)
                if snapshot not in emitted:
                    emitted.add(snapshot)
                    pending.append((key, row))
            while len(pending) >= self.page_size:
                yield self._orders_page(pending[:self.page_size])
                pending = pending[self.page_size:]
        if pending:
            yield self._orders_page(pending)

    def _orders_page(self, rows: Sequence[tuple[str | None, Any]]) -> Page[Order]:
        refs = self._references()
        lines = self._lines([mapping.item_key(row, "order_id") for _, row in rows])
        page: Page[Order] = Page()
        for key, row in rows:
            order_id = mapping.item_key(row, "order_id")
            try:
                page.items.append(mapping.parse_order(row, lines.get(order_id, []), refs,
                                                      self.zone, changed=key))
            except MappingError as exc:
                page.errors.append(ItemError(key=order_id, message=str(exc)))
        return page

    def _lines(self, order_ids: Sequence[str]) -> dict[str, list[Any]]:
        """`order-products` of these orders, 50 order ids per query, paged by line id."""
        wanted = sorted({int(i) for i in order_ids if i.isdigit()})
        found: dict[str, list[Any]] = {}
        for start in range(0, len(wanted), self.page_size):
            filters = {"order_id": {"IN": wanted[start:start + self.page_size]}}
            for rows in iter_by_id(self._fetch, "order-products", filters, id_field="id"):
                for row in rows:
                    order_id = mapping.line_order_id(row)
                    if order_id is not None:
                        found.setdefault(order_id, []).append(row)
        return found

    def fetch_orders(self, ids: Sequence[str]) -> Page[Order]:
        """The orders with these ids: `filters={"order_id":{"IN":[…]}}`, 50 ids per call (the
        `limit` cap), each with its lines. An id that is not a Shoper id cannot exist there and
        is simply absent, like one the shop does not have."""
        rows: list[tuple[str | None, Any]] = []
        for chunk in chunked(positive_ids(ids), self.page_size):
            rows += [(None, row) for row in self._rows_by_ids("orders", "order_id", chunk)]
        page: Page[Order] = Page()
        for start in range(0, len(rows), self.page_size):
            part = self._orders_page(rows[start:start + self.page_size])
            page.items += part.items
            page.errors += part.errors
        return page

    def iter_order_ids(self, since: datetime, until: datetime) -> Iterator[list[str]]:
        """Ids of orders created (`date`) in [since, until], 50 per call, by ascending id
        (keyset: `order_id > last`, so a deletion during the read cannot shift a row past
        us). Shoper has no field selection, so a page carries whole order rows; no lines."""
        low, high = mapping.local_window(since, until, self.zone)
        filters = {"date": {">=": low, "<=": high}}
        for rows in iter_by_id(self._fetch, "orders", filters, id_field="order_id"):
            for row in rows:  # a shop that ignored the date filter must not pass unnoticed
                created = mapping.order_date(row)
                if created is not None and not low <= created <= high:
                    raise ShopError(f"shoper GET orders: the shop ignored the date filter "
                                    f"(order {mapping.item_key(row, 'order_id')} of {created})")
            yield [mapping.item_key(row, "order_id") for row in rows]

    def set_order_statuses(self, changes: Sequence[StatusChange]) -> list[ItemResult]:
        requests = [_prepared(_status_request, change) for change in changes]
        answers = self._bulk(requests, idempotent=True)
        return [
            _item_result(c.external_id, a, c.external_id)
            for c, a in zip(changes, answers, strict=True)
        ]

    # -- products -----------------------------------------------------------------------------

    def find_products_by_sku(self, skus: Sequence[str]) -> dict[str, list[str]]:
        """Shop ids of the `product-stocks` rows whose `code` is exactly the SKU (base rows and
        variants alike; the shop's IN compares without case, we do not)."""
        wanted = list(dict.fromkeys(s for s in skus if s and s.strip()))
        found: dict[str, list[str]] = {}
        for start in range(0, len(wanted), self.page_size):
            chunk = wanted[start:start + self.page_size]
            requested = set(chunk)
            filters = {"code": {"IN": chunk}}
            for rows in iter_by_id(self._fetch, "product-stocks", filters, id_field="stock_id"):
                for row in rows:
                    try:
                        stock = mapping.parse_stock_row(row)
                    except MappingError:
                        continue
                    if stock.code in requested:
                        ids = found.setdefault(stock.code, [])
                        if str(stock.ref) not in ids:
                            ids.append(str(stock.ref))
        return found

    def create_products(self, products: Sequence[Product]) -> list[ItemResult]:
        category = self._default_category()
        taxes = self._tax_ids() if any(p.vat_rate is not None for p in products) else {}
        requests = [
            _prepared(_create_request, p, category, _tax_for(p, taxes)) for p in products
        ]
        # Not idempotent: a create retried after a lost answer could make a second product.
        answers = self._bulk(requests, idempotent=False)
        created: dict[int, int] = {}
        for index, answer in enumerate(answers):
            if isinstance(answer, BulkAnswer) and answer.ok:
                try:
                    created[index] = mapping.created_id(answer)
                except MappingError:
                    continue
        base_rows = self._base_stock_ids(list(created.values()))
        results = []
        for index, (product, answer) in enumerate(zip(products, answers, strict=True)):
            if index in created:
                product_id = created[index]
                ref = ShopRef(product_id, base_rows.get(product_id))
                results.append(ItemResult(key=product.sku, ok=True, shop_id=str(ref)))
            elif isinstance(answer, BulkAnswer) and answer.ok:
                results.append(ItemResult(key=product.sku, ok=False,
                                          error=f"create answered no id: {answer.body!r:.60}"))
            else:
                results.append(_item_result(product.sku, answer, None))
        return results

    def update_products(self, products: Sequence[Product]) -> list[ItemResult]:
        taxes = self._tax_ids() if any(p.vat_rate is not None for p in products) else {}
        requests = [_prepared(_update_request, p, _tax_for(p, taxes)) for p in products]
        answers = self._bulk(requests, idempotent=True)
        return [_item_result(p.sku, a, p.shop_id) for p, a in zip(products, answers, strict=True)]

    def iter_products(self, since: datetime | None, until: datetime) -> Iterator[Page[Product]]:
        """Base products edited in [since, until] by `edit_date` (all, by id, when since is None).

        A stock-only change may not move `edit_date`; stock is the ERP's to push anyway.
        """
        rates = {tax_id: rate for rate, tax_id in self._tax_ids().items()}
        pages: Iterator[list[Any]]
        if since is None:
            pages = iter_by_id(self._fetch, "products", {}, id_field="product_id")
        else:
            low, high = mapping.local_window(since, until, self.zone)
            keyed = self._keyset("products", "edit_date", "product_id", low, high,
                                 lambda row: mapping.date_text(row, "edit_date"))
            pages = ([row for _, row in batch] for batch in keyed)
        for rows in pages:
            yield self._products_page(rows, rates)

    def _products_page(self, rows: Sequence[Any], rates: Mapping[int, Decimal]) -> Page[Product]:
        page: Page[Product] = Page()
        for row in rows:
            try:
                page.items.append(mapping.parse_product(row, self.zone, rates))
            except MappingError as exc:
                # Keyed as the product's shop id would be, so the retry set matches it.
                page.errors.append(ItemError(key=mapping.product_key(row), message=str(exc)))
        return page

    def fetch_products(self, ids: Sequence[str]) -> Page[Product]:
        """Base products by id (`filters={"product_id":{"IN":[…]}}`, 50 per call). An id is our
        shop id (`"93:181"`, a variant's `"93:182:v"`) or a bare product id; a variant's id
        reads its product, the unit product import works in."""
        wanted: list[int] = []
        for shop_id in ids:
            try:
                wanted.append(ShopRef.parse(shop_id).product_id)
            except MappingError:
                continue  # not a Shoper id: the shop cannot have it
        rates = {tax_id: rate for rate, tax_id in self._tax_ids().items()}
        page: Page[Product] = Page()
        for chunk in chunked(sorted(set(wanted)), self.page_size):
            part = self._products_page(self._rows_by_ids("products", "product_id", chunk), rates)
            page.items += part.items
            page.errors += part.errors
        return page

    def set_stock(self, quantities: Sequence[StockQuantity]) -> list[ItemResult]:
        refs: list[ShopRef | str] = []
        for quantity in quantities:
            try:
                refs.append(ShopRef.parse(quantity.shop_id))
            except MappingError as exc:
                refs.append(str(exc))
        bare = [r.product_id for r in refs if isinstance(r, ShopRef) and r.stock_id is None]
        base_rows = self._base_stock_ids(bare) if bare else {}
        requests: list[Prepared] = []
        rowless: set[int] = set()
        for i, (quantity, ref) in enumerate(zip(quantities, refs, strict=True)):
            if isinstance(ref, str):
                requests.append(ref)
                continue
            stock_id = ref.stock_id or base_rows.get(ref.product_id)
            if stock_id is None:  # every product has a base row: no row, no product
                rowless.add(i)
                requests.append(f"product {ref.product_id} is not in the shop (no stock row)")
                continue
            requests.append(_prepared(_stock_request, stock_id, quantity))
        answers = self._bulk(requests, idempotent=True)
        return [_item_result(q.sku, a, q.shop_id, gone=i in rowless)
                for i, (q, a) in enumerate(zip(quantities, answers, strict=True))]

    # -- webhooks (`webhooks register` / `webhooks check`) -------------------------------------

    def list_webhooks(self) -> list[dict[str, Any]]:
        """The shop's webhooks (the `webhooks` resource, first page of 50: we make two)."""
        data = self._call("GET", "webhooks", params={"limit": 50}).data
        rows = data.get("list") if isinstance(data, dict) else None
        return [row for row in rows or [] if isinstance(row, dict)]

    def create_webhook(self, url: str, secret: str, events: Sequence[str]) -> str:
        """POST webhooks (JSON format, active); Shoper answers the new id."""
        answer = self._call("POST", "webhooks", json={
            "url": url, "secret": secret, "events": list(events), "format": "json",
            "active": True}, idempotent=False)
        return str(answer.data)

    def update_webhook(self, webhook_id: str, **fields: Any) -> None:
        self._call("PUT", f"webhooks/{webhook_id}", json=fields)

    def delete_webhook(self, webhook_id: str) -> None:
        self._call("DELETE", f"webhooks/{webhook_id}")

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ShoperClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls, token and paging --------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool = True,
    ) -> ShopResponse:
        """One API call with a valid token; a token the shop no longer accepts is replaced and
        the call sent once more."""
        self._ensure_token()
        try:
            return self.http.request(method, path, params=params, json=json, idempotent=idempotent)
        except ShopHttpError as exc:
            if exc.status_code != 401 or exc.code not in TOKEN_EXPIRED_CODES:
                raise
        self._tokens.drop(self._token_key, self.auth.token)
        self.auth.forget()
        self._ensure_token()
        return self.http.request(method, path, params=params, json=json, idempotent=idempotent)

    def _ensure_token(self) -> None:
        if self.auth.token and self._clock() < self.auth.expires_at - RENEW_MARGIN:
            return
        cached = self._tokens.get(self._token_key)
        if cached is not None and self._clock() < cached[1] - RENEW_MARGIN:
            self.auth.token, self.auth.expires_at = cached
            return
        self.auth.forget()
        try:
            response = self.http.post(AUTH_PATH)
        except ShopHttpError as exc:
            if exc.status_code in (400, 401, 403):
                raise ShopError(f"shoper: the shop refused the WebAPI login (check api_key = "
                                f"login and api_secret = password of integration "
                                f"{self.conn.integration_id}): {exc}") from None
            raise
        data = response.data
        token = data.get("access_token") if isinstance(data, Mapping) else None
        if not isinstance(token, str) or not token:
            raise ShopError("shoper POST auth: the answer carries no access_token")
        if not _BEARER_TOKEN.fullmatch(token):  # it goes into a header: RFC 6750 b64token only
            raise ShopError("shoper POST auth: the access_token is not a valid bearer token")
        try:
            lifetime = float(data.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        register_secret(token)  # a bearer token is as good as the password for 30 days
        self.auth.token, self.auth.expires_at = token, self._clock() + lifetime
        self._tokens.put(self._token_key, token, self.auth.expires_at)
        self.logins += 1

    def _fetch(
        self, path: str, filters: Mapping[str, Any], order: Sequence[str], page: int
    ) -> ListPage:
        params: dict[str, Any] = {"limit": self.page_size, "page": page}
        if filters:
            params["filters"] = orjson.dumps(filters).decode()
        for n, clause in enumerate(order):
            params[f"order[{n}]"] = clause
        response = self._call("GET", path, params=params)
        try:
            return mapping.parse_list(response.data, f"GET {path}")
        except MappingError as exc:
            raise ShopError(f"shoper {exc}") from None

    def _keyset(
        self, path: str, key: str, id_field: str, low: str, high: str,
        key_of: Callable[[Any], str | None],
    ) -> Iterator[list[Keyed]]:
        return iter_keyset(self._fetch, path, {key: {">=": low, "<=": high}}, key=key,
                           id_field=id_field, key_of=key_of)

    def _rows_by_ids(self, path: str, id_field: str, ids: Sequence[int]) -> list[Any]:
        """Rows whose id is IN `ids` (at most one page's worth), paging on by number should
        the shop answer more pages than we expect."""
        if not ids:
            return []
        filters = {id_field: {"IN": list(ids)}}
        wanted = {str(i) for i in ids}
        rows: list[Any] = []
        page = 1
        while True:
            answer = self._fetch(path, filters, (f"{id_field} asc",), page)
            # The operator's spelling is unverified (the JSON form's "IN" per the SDK, "in" per
            # the OpenAPI field docs): a shop that ignored it would answer other rows. Fail
            # loudly then, rather than report the wanted ones as absent.
            stray = [mapping.item_key(row, id_field) for row in answer.rows
                     if mapping.item_key(row, id_field).strip() not in wanted]
            if stray:
                raise ShopError(f"shoper GET {path}: the shop ignored the {id_field} IN filter "
                                f"(answered {id_field} {stray[0]!r}, not asked for)")
            rows += answer.rows
            if not answer.rows or page >= answer.pages:
                return rows
            page += 1

    def _all_rows(self, path: str, id_field: str) -> list[Any]:
        return [row for rows in iter_by_id(self._fetch, path, {}, id_field=id_field)
                for row in rows]

    # -- reference data (read once per client, only when needed) ------------------------------

    def _references(self) -> mapping.References:
        if self._refs is None:
            self._refs = mapping.References(
                currencies=mapping.currency_codes(self._all_rows("currencies", "currency_id")),
                payments=mapping.titles(self._optional_rows("payments", "payment_id"),
                                        "payment_id"),
                shippings=mapping.titles(self._optional_rows("shippings", "shipping_id"),
                                         "shipping_id"),
            )
        return self._refs

    def _optional_rows(self, path: str, id_field: str) -> list[Any]:
        """Names of payment and shipping methods are nice to have: a WebAPI user without that
        scope (403 insufficient_scope) still imports orders, without the names."""
        try:
            return self._all_rows(path, id_field)
        except ShopHttpError as exc:
            if exc.status_code == 403:
                return []
            raise

    def _open_status_ids(self) -> list[int]:
        if self._open_statuses is None:
            self._open_statuses = mapping.open_status_ids(self._all_rows("statuses", "status_id"))
        return self._open_statuses

    def _tax_ids(self) -> dict[Decimal, int]:
        if self._taxes is None:
            self._taxes = mapping.tax_ids(self._optional_rows("taxes", "tax_id"))
        return self._taxes

    def _default_category(self) -> int:
        if self._category is None:
            answer = self._fetch("categories", {}, ("category_id asc",), 1)
            if not answer.rows:
                raise ShopError("shoper: the shop has no category to put new products in")
            try:
                self._category = mapping.shop_id_number(
                    answer.rows[0].get("category_id"), "category_id")
            except (MappingError, AttributeError) as exc:
                raise ShopError(f"shoper GET categories: {exc}") from None
        return self._category

    def _base_stock_ids(self, product_ids: Sequence[int]) -> dict[int, int]:
        """product_id → stock_id of its base row, 50 products per query."""
        found: dict[int, int] = {}
        wanted = sorted(set(product_ids))
        for start in range(0, len(wanted), self.page_size):
            filters = {"product_id": {"IN": wanted[start:start + self.page_size]},
                       "extended": "0"}
            for rows in iter_by_id(self._fetch, "product-stocks", filters, id_field="stock_id"):
                for row in rows:
                    try:
                        stock = mapping.parse_stock_row(row)
                    except MappingError:
                        continue
                    if stock.default:
                        found.setdefault(stock.product_id, stock.stock_id)
        return found

    # -- bulk writes --------------------------------------------------------------------------

    def _bulk(self, requests: Sequence[Prepared], *, idempotent: bool) -> list[BulkAnswer | str]:
        """Send sub-requests through `POST bulk`, 25 at a time; one answer per request, in
        order (a string request is an error already and is not sent).

        With `idempotent`, a sub-request answered 429/5xx goes into a later bulk again; the
        retried ones share bulks, so a few failures do not cost a call each.
        """
        results: list[BulkAnswer | str | None] = [
            r if isinstance(r, str) else None for r in requests
        ]
        pending = deque((i, 0) for i, r in enumerate(requests) if not isinstance(r, str))
        while pending:
            chunk = [pending.popleft() for _ in range(min(self.batch_size, len(pending)))]
            ids = [str(i) for i, _ in chunk]
            body = [{"id": str(i), **requests[i]} for i, _ in chunk]  # type: ignore[dict-item]
            response = self._call("POST", "bulk", json=body, idempotent=idempotent)
            try:
                answers = mapping.parse_bulk(response.data, ids)
            except MappingError as exc:
                raise ShopError(f"shoper POST bulk: {exc}") from None
            for index, attempt in chunk:
                answer = answers[str(index)]
                if answer.retriable and idempotent and attempt < BULK_ITEM_RETRIES:
                    pending.append((index, attempt + 1))
                else:
                    results[index] = answer
        return [r if r is not None else "not sent" for r in results]


# -- module helpers ---------------------------------------------------------------------------


def api_base_url(base_url: str) -> str:
    """The shop's address as the owner knows it → the WebAPI base (always ending in `/`)."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ShopError(f"shoper base_url must be an http(s) address, got {base_url!r}")
    path = parts.path.rstrip("/")
    if path.endswith(API_PATH.rstrip("/")):  # an owner who pasted the API address
        path = path[: -len(API_PATH.rstrip("/"))]
    return f"{parts.scheme}://{parts.netloc}{path}{API_PATH}"


def _sub(method: str, resource: str, body: Json | None = None) -> Json:
    request: Json = {"path": API_PATH + resource, "method": method}
    if body is not None:
        request["body"] = body
    return request


def _status_request(change: StatusChange) -> Json:
    order_id, body = mapping.status_payload(change)
    return _sub("PUT", f"orders/{order_id}", body)


def _stock_request(stock_id: int, quantity: StockQuantity) -> Json:
    return _sub("PUT", f"product-stocks/{stock_id}", mapping.stock_payload(quantity))


def _create_request(product: Product, category: int, tax_id: int | None) -> Json:
    return _sub("POST", "products",
                mapping.product_payload(product, category_id=category, tax_id=tax_id))


def _update_request(product: Product, tax_id: int | None) -> Json:
    ref = ShopRef.parse(product.shop_id)
    if ref.variant:
        return _sub("PUT", f"product-stocks/{ref.stock_id}", mapping.variant_payload(product))
    return _sub("PUT", f"products/{ref.product_id}",
                mapping.product_payload(product, category_id=None, tax_id=tax_id))


def _tax_for(product: Product, taxes: Mapping[Decimal, int]) -> int | None:
    if product.vat_rate is None:
        return None
    return taxes.get(product.vat_rate.quantize(mapping.CENT))


def _prepared(build: Callable[..., Json], *args: Any) -> Prepared:
    """A sub-request, or the reason it cannot be built (that item is then not sent)."""
    try:
        return build(*args)
    except MappingError as exc:
        return str(exc)


def _item_result(key: str, answer: BulkAnswer | str, shop_id: str | None, *,
                 gone: bool = False) -> ItemResult:
    if isinstance(answer, str):
        return ItemResult(key=key, ok=False, shop_id=shop_id, error=answer, gone=gone)
    if answer.ok:
        return ItemResult(key=key, ok=True, shop_id=shop_id)
    # A PUT of an object the shop no longer has answers 404 "Resource not found" (seen live,
    # see the sandbox's notes): the product was deleted there and the operation unbinds it.
    return ItemResult(key=key, ok=False, shop_id=shop_id, error=answer.error(),
                      gone=answer.code == 404)
