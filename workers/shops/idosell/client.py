"""The IdoSell Admin API v6 connector (the OCA "adapter"): searches, slices and batch writes.

`{base_url}/api/admin/v6/`, the key in `X-API-KEY`, every body wrapped in `{"params": …}`.
Searches page with `resultsPage` (from 0) and `resultsLimit` (at most 100); writes take arrays
of up to 100 items and answer per item (`faultCode` 0 = done), HTTP 207 when some failed.

Order search has no documented sort, so a page boundary cannot be a keyset. Instead the
modification window is cut into slices small enough to hold (SLICE_MAX orders, halving the
time range until one fits); each slice is read completely — again from page 0 whenever
`resultsNumberAll` changes under the read, since an order edited meanwhile leaves the window and
shifts the pages behind it — then sorted by `orderChangeDate` and handed out page by page. The
engine's cursor therefore never passes an order not yet handed out.

Reads by id (the retry set) use the searches' own filters — `ordersSerialNumbers`,
`productParams[].productId` — 100 ids a call; the reconciliation lists serials by placing date
(`ordersDateType: "add"`). Sources and what is unverified: docs/fidelity/idosell.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import httpx

from workers.domain import ItemError, ItemResult, Order, Page, Product, StatusChange, StockQuantity
from workers.ports import ShopConnection, ShopError, ShopRetriableError
from workers.shops import localtime
from workers.shops.http import ShopHttp, ShopHttpError
from workers.shops.idosell import mapping
from workers.shops.idosell.mapping import MappingError
from workers.shops.ids import chunked, positive_ids

T = TypeVar("T")

API_PATH = "/api/admin/v6/"
#: Orders held in memory per slice of the modification window (10 pages of 100).
SLICE_MAX = 1000
#: Reads of one slice before giving up on a shop whose result set keeps changing.
SLICE_PASSES = 3
SECOND = timedelta(seconds=1)
#: Fault codes that say the addressed product is not in the shop (deleted there): `edit` of an
#: unknown productId, and a stock write for a size code no product carries. **Unverified**: the
#: codes are the sandbox's reading of the Admin API reference; a wrong "gone" only drops a
#: binding that the next export or full stock pass finds again by SKU, so it is safe either way.
NO_SUCH_PRODUCT, NO_SUCH_SIZE_CODE = "7", "4"


@dataclass(frozen=True, slots=True)
class _Search:
    rows: list[Any]
    total: int


class IdoSellClient:
    """ShopClient for the IdoSell Admin API v6 (`{base_url}/api/admin/v6/`)."""

    platform: ClassVar[str] = "idosell"
    #: `resultsLimit` is 1..100; more is refused.
    page_size: int = 100
    #: Array writes (orders, products, stock) carry up to 100 items.
    batch_size: int = 100
    api_batch_max: ClassVar[int] = 100
    #: Read payments as a second delta (`last_payments_operation`) in every slice. Whether a
    #: payment moves `orderChangeDate` is undocumented; the price is one more search per slice
    #: (two pages per 100 orders paid inside the window). Switch off once a live shop shows that
    #: payments move the modification date.
    payments_delta: bool = True
    limitations: ClassVar[tuple[str, ...]] = (
        "No free-form order status: only IdoSell's own status codes (new, on_order, packed, "
        "ready, finished, canceled, …) can be sent.",
        "Product changes are filtered by whole days (productDate has no time), so every "
        "import re-reads the first day of its window.",
        "Whether a payment moves orderChangeDate is not documented, so payments are read as a "
        "second delta on last_payments_operation.",
        "Stock goes to warehouse M1 (stockId 1), addressed by the size's external code (SKU).",
        "Products with several sizes are not imported; names and descriptions are Polish only.",
        "The rate limit's numbers are not published: 429 answers are waited out (Retry-After).",
    )

    def __init__(
        self,
        conn: ShopConnection,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not conn.api_key or not conn.api_key.strip():
            raise ShopError(f"idosell integration {conn.integration_id} needs api_key "
                            "(the Admin API key, X-API-KEY)")
        self.conn = conn
        self.zone = localtime.shop_zone(conn.shop_timezone, self.platform)
        self.http = ShopHttp(
            api_base_url(conn.base_url),
            platform=self.platform,
            headers={"X-API-KEY": conn.api_key.strip()},
            transport=transport,
            verify=conn.verify_tls,
            sleep=sleep,
            error_detail=mapping.error_detail,
            secrets=(conn.api_key,),
        )

    # -- orders -------------------------------------------------------------------------------

    def iter_orders(self, since: datetime, until: datetime) -> Iterator[Page[Order]]:
        """Orders changed (or paid) in [since, until], slice by slice, oldest change first."""
        lower = localtime.lower_bound(since, self.zone)
        upper = localtime.upper_bound(until, self.zone)
        for rows in self._order_slices(lower, upper):
            for start in range(0, len(rows), self.page_size):
                yield _parse_page(rows[start:start + self.page_size],
                                  lambda row: mapping.parse_order(row, self.zone),
                                  mapping.order_key)

    def fetch_orders(self, ids: Sequence[str]) -> Page[Order]:
        """Orders by serial number: `orders/orders/search` with `ordersSerialNumbers`, 100 per
        call (the documented cap of the GET form; the search states none, so the smaller one
        holds). A serial the shop does not have is absent; one that is not a number cannot
        be a serial and is left out."""
        page: Page[Order] = Page()
        for chunk in chunked(positive_ids(ids), self.page_size):
            rows = self._search_all("orders/orders/search", {"ordersSerialNumbers": chunk},
                                    "Results")
            _extend(page, _parse_page(rows, lambda row: mapping.parse_order(row, self.zone),
                                      mapping.order_key))
        return page

    def fetch_products(self, ids: Sequence[str]) -> Page[Product]:
        """Products by id: `products/products/search` with `productParams: [{productId}]`,
        100 per call. Deleted products are not returned (`returnProducts` defaults to
        "active"), so an id gone from the shop is simply absent."""
        page: Page[Product] = Page()
        for chunk in chunked(positive_ids(ids), self.page_size):
            params = {"productParams": [{"productId": n} for n in chunk]}
            rows = self._search_all("products/products/search", params, "results")
            _extend(page, _parse_page(rows, lambda row: mapping.parse_product(row, self.zone),
                                      mapping.product_key))
        return page

    def iter_order_ids(self, since: datetime, until: datetime) -> Iterator[list[str]]:
        """Serial numbers of orders placed (`ordersDateType: "add"`) in [since, until], 100 per
        call. The search has no field selection and no documented sort, so whole pages are
        read and a read whose total changes under it starts again from page 0 (ids already
        handed out are not repeated)."""
        lower = localtime.lower_bound(since, self.zone)
        upper = localtime.upper_bound(until, self.zone)
        seen: set[str] = set()
        for _ in range(SLICE_PASSES):
            search = self._search_orders("add", lower, upper, 0)
            total, page = search.total, 0
            while search.total == total:
                fresh = [key for key in map(mapping.order_key, search.rows)
                         if key != "?" and key not in seen]
                seen.update(fresh)
                if fresh:
                    yield fresh
                page += 1
                if not search.rows or page * self.page_size >= total:
                    return
                search = self._search_orders("add", lower, upper, page)
        raise ShopRetriableError(f"idosell orders/orders/search: the orders placed in "
                                 f"{localtime.wire(lower)}…{localtime.wire(upper)} kept "
                                 f"changing during {SLICE_PASSES} reads")

    def set_order_statuses(self, changes: Sequence[StatusChange]) -> list[ItemResult]:
        items = [(c.external_id, _mapped(mapping.status_item, c)) for c in changes]

        def results(data: Any, sent: Sequence[tuple[str, dict[str, Any]]]) -> list[ItemResult]:
            answers = mapping.result_list(data, "results", "ordersResults")
            by_serial = {str(a.get("orderSerialNumber")): a for a in answers
                         if isinstance(a, Mapping)}
            out = []
            for key, body in sent:
                answer = by_serial.get(str(body["orderSerialNumber"]))
                if answer is None:
                    raise ShopError(f"idosell PUT orders/orders: no result for order {key}")
                error = mapping.fault(answer)
                out.append(ItemResult(key=key, ok=error is None, shop_id=key, error=error))
            return out

        return self._write_batches("PUT", "orders/orders", "orders", items, results)

    # -- products -----------------------------------------------------------------------------

    def find_products_by_sku(self, skus: Sequence[str]) -> dict[str, list[str]]:
        wanted = list(dict.fromkeys(s.strip() for s in skus if s and s.strip()))
        found: dict[str, list[str]] = {}
        for chunk in mapping.sku_chunks(wanted, self.page_size):
            requested = set(chunk)
            params = {"productParams": [{"productSizeCodeExternal": s} for s in chunk],
                      "ordersBy": [{"elementName": "id", "sortDirection": "ASC"}]}
            for rows in self._product_pages(params):
                for row in rows:
                    for code in mapping.size_codes(row):
                        # Exact match only; one product is listed once per SKU.
                        if code in requested:
                            ids = found.setdefault(code, [])
                            if mapping.product_key(row) not in ids:
                                ids.append(mapping.product_key(row))
        return found

    def create_products(self, products: Sequence[Product]) -> list[ItemResult]:
        """`settingModificationType: all` finds a product by its external code before adding
        one, so a batch retried after a lost answer updates what the first try created instead
        of making a second product."""
        return self._product_write(products, with_id=False, mode="all")

    def update_products(self, products: Sequence[Product]) -> list[ItemResult]:
        """`edit` never adds: a product gone from the shop answers `gone` (unbound by the
        operation), never a new one."""
        return self._product_write(products, with_id=True, mode="edit")

    def set_stock(self, quantities: Sequence[StockQuantity]) -> list[ItemResult]:
        items = [(q.sku, _mapped(mapping.stock_item, q)) for q in quantities]
        shop_ids = {q.sku: q.shop_id for q in quantities}

        def results(data: Any, sent: Sequence[tuple[str, dict[str, Any]]]) -> list[ItemResult]:
            answers = mapping.result_list(data, "results")
            if len(answers) != len(sent):
                raise ShopError(f"idosell PUT products/stockQuantity: {len(answers)} results "
                                f"for {len(sent)} items")
            out = []
            for (key, body), answer in zip(sent, answers, strict=True):
                code = (answer.get("productSizeCodeExternal") if isinstance(answer, Mapping)
                        else None)
                if code not in (None, "", body["productSizeCodeExternal"]):
                    raise ShopError("idosell PUT products/stockQuantity: results out of order")
                error = mapping.fault(answer)
                out.append(ItemResult(key=key, ok=error is None, shop_id=shop_ids.get(key),
                                      error=error,
                                      gone=NO_SUCH_SIZE_CODE in _fault_codes(answer)))
            return out

        return self._write_batches("PUT", "products/stockQuantity", "products", items, results)

    def iter_products(self, since: datetime | None, until: datetime) -> Iterator[Page[Product]]:
        def parse(row: Any) -> Product:
            return mapping.parse_product(row, self.zone)

        if since is None:
            # A full pass in id order: an edit during the pass moves nothing.
            params = {"ordersBy": [{"elementName": "id", "sortDirection": "ASC"}]}
            for rows in self._product_pages(params):
                yield _parse_page(rows, parse, mapping.product_key)
            return
        first_day = localtime.lower_bound(since, self.zone).date()
        last_day = localtime.upper_bound(until, self.zone).date()
        yield from self._iter_product_days(first_day.isoformat(), last_day.isoformat(), parse)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> IdoSellClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- order slices -------------------------------------------------------------------------

    def _order_slices(self, lower: datetime, upper: datetime) -> Iterator[list[Any]]:
        """Sorted slices of raw orders covering [lower, upper] (shop-local, inclusive)."""
        first = self._search_orders("modified", lower, upper, 0)
        if first.total > SLICE_MAX and upper - lower > SECOND:
            middle = lower + (upper - lower) // 2
            middle = middle.replace(microsecond=0)
            yield from self._order_slices(lower, middle)
            yield from self._order_slices(middle + SECOND, upper)
            return
        changed = self._read_slice("modified", lower, upper, first)
        if self.payments_delta:
            # Payments whose order date did not move (undocumented either way). An order
            # changed after this slice is left to the slice (or run) that holds its change.
            high = localtime.wire(upper)
            for key, row in self._read_slice("last_payments_operation", lower, upper).items():
                if key not in changed and mapping.change_date(row) <= high:
                    changed[key] = row
        if changed:
            yield sorted(changed.values(),
                         key=lambda row: (mapping.change_date(row), mapping.order_key(row)))

    def _read_slice(self, date_type: str, lower: datetime, upper: datetime,
                    first: _Search | None = None) -> dict[tuple[str, str], Any]:
        """Every order of one search, keyed by (serial, change date). Read again from page 0
        whenever the total changes under the read (rows left or entered the result set and the
        pages shifted); SLICE_PASSES such reads and the shop counts as unusable for this run."""
        collected: dict[tuple[str, str], Any] = {}
        for _ in range(SLICE_PASSES):
            search = first or self._search_orders(date_type, lower, upper, 0)
            first = None
            total = search.total
            stable = True
            page = 0
            while True:
                for row in search.rows:
                    collected[(mapping.order_key(row), mapping.change_date(row))] = row
                if search.total != total:
                    stable = False
                    break
                page += 1
                if page * self.page_size >= total or not search.rows:
                    break
                search = self._search_orders(date_type, lower, upper, page)
            if stable:
                return collected
        raise ShopRetriableError(f"idosell orders/orders/search: the orders of "
                                 f"{localtime.wire(lower)}…{localtime.wire(upper)} kept changing "
                                 f"during {SLICE_PASSES} reads; leaving them to the next run")

    def _search_orders(self, date_type: str, lower: datetime, upper: datetime,
                       page: int) -> _Search:
        params = {"ordersRange": {"ordersDateRange": {
            "ordersDateType": date_type, "ordersDateBegin": localtime.wire(lower),
            "ordersDateEnd": localtime.wire(upper)}},
            "resultsPage": page, "resultsLimit": self.page_size}
        return self._search("orders/orders/search", params, "Results")

    # -- product pages ------------------------------------------------------------------------

    def _product_pages(self, params: Mapping[str, Any]) -> Iterator[list[Any]]:
        """Plain `resultsPage` paging of one product search, failing on a repeated page."""
        page = 0
        seen: set[str] = set()
        while True:
            search = self._search("products/products/search",
                                  {**params, "resultsPage": page, "resultsLimit": self.page_size},
                                  "results")
            keys = {mapping.product_key(row) for row in search.rows}
            if page and search.rows and keys <= seen:
                raise ShopError(f"idosell products/products/search: page {page} repeats "
                                "products already read in this run")
            seen |= keys
            if search.rows:
                yield search.rows
            page += 1
            if not search.rows or page * self.page_size >= search.total:
                return

    def _iter_product_days(self, first_day: str, last_day: str,
                           parse: Callable[[Any], Product]) -> Iterator[Page[Product]]:
        """Products modified in [first_day, last_day] sorted by modification time, by keyset on
        the day: after a page the first day moves to the last row's day (that day is read
        again; rows are deduplicated by (id, modification time)). A page all of one day pages
        on by number."""
        order = [{"elementName": "modification_time", "sortDirection": "ASC"},
                 {"elementName": "id", "sortDirection": "ASC"}]
        low, page = first_day, 0
        seen: set[tuple[str, str]] = set()
        while True:
            params = {"productDate": {"productDateMode": "modified", "productDateBegin": low,
                                      "productDateEnd": last_day},
                      "ordersBy": order, "resultsPage": page, "resultsLimit": self.page_size}
            search = self._search("products/products/search", params, "results")
            rows = search.rows
            keys = [(mapping.product_key(r), mapping.modification_time(r)) for r in rows]
            fresh = [row for row, key in zip(rows, keys, strict=True) if key not in seen]
            if page and rows and not fresh:
                raise ShopError(f"idosell products/products/search: page {page} repeats "
                                "products already read in this run")
            seen.update(keys)
            if fresh:
                yield _parse_page(fresh, parse, mapping.product_key)
            if not rows or (page + 1) * self.page_size >= search.total:
                return
            first, last = keys[0][1][:10], keys[-1][1][:10]
            if last > low and first != last:
                low, page = last, 0
                seen = {key for key in seen if key[1][:10] >= low}
            else:
                page += 1

    def _search_all(self, path: str, params: Mapping[str, Any], key: str) -> list[Any]:
        """Every row of a search that fits a page or a few (a read by id), page by page."""
        rows: list[Any] = []
        page = 0
        while True:
            search = self._search(path, {**params, "resultsPage": page,
                                         "resultsLimit": self.page_size}, key)
            rows += search.rows
            page += 1
            if not search.rows or page * self.page_size >= search.total:
                return rows

    def _search(self, path: str, params: Mapping[str, Any], key: str) -> _Search:
        try:
            response = self.http.post(path, json={"params": params})
        except ShopHttpError as exc:
            # "No results" may come back as fault 2 with HTTP 404 instead of an empty list.
            if exc.status_code == 404 and exc.code == "2":
                return _Search([], 0)
            raise
        try:
            rows, total = mapping.rows_of(response.data, key)
        except MappingError as exc:
            raise ShopError(f"idosell POST {path}: {exc}") from None
        return _Search(rows, total)

    # -- writes -------------------------------------------------------------------------------

    def _product_write(self, products: Sequence[Product], *, with_id: bool,
                       mode: str) -> list[ItemResult]:
        items = [(p.sku, _mapped(mapping.product_item, p, with_id=with_id)) for p in products]
        requested_ids = {p.sku: p.shop_id for p in products}

        def results(data: Any, sent: Sequence[tuple[str, dict[str, Any]]]) -> list[ItemResult]:
            answers = mapping.result_list(data, "results", "productsResults")
            if len(answers) != len(sent):
                raise ShopError(f"idosell PUT products/products: {len(answers)} results for "
                                f"{len(sent)} items")
            out = []
            for (key, _), answer in zip(sent, answers, strict=True):
                error = mapping.fault(answer)
                product_id = answer.get("productId") if isinstance(answer, Mapping) else None
                shop_id = str(product_id) if str(product_id or "").isdigit() and \
                    int(str(product_id)) > 0 else None
                if error is not None:
                    # A code someone else holds names its owner: bind to it, never duplicate.
                    owner = mapping.owner_of_code(answer) if not with_id else None
                    out.append(ItemResult(key=key, ok=False, error=error,
                                          shop_id=owner or requested_ids.get(key),
                                          gone=with_id and NO_SUCH_PRODUCT in _fault_codes(answer)))
                elif shop_id is None:
                    out.append(ItemResult(key=key, ok=False, error="result has no productId"))
                else:
                    out.append(ItemResult(key=key, ok=True, shop_id=shop_id))
            return out

        return self._write_batches("PUT", "products/products", "products", items, results,
                                   settings={"settingModificationType": mode})

    def _write_batches(
        self,
        method: str,
        path: str,
        list_key: str,
        items: Sequence[tuple[str, dict[str, Any] | str]],
        parse: Callable[[Any, Sequence[tuple[str, dict[str, Any]]]], list[ItemResult]],
        settings: Mapping[str, Any] | None = None,
    ) -> list[ItemResult]:
        """Send `items` in arrays of `batch_size`; one ItemResult per item, in order. An item
        given as a string could not be mapped: it is that item's error and is not sent.
        Retrying a batch is safe: quantities and statuses are absolute, product writes find
        products by id or external code."""
        results: list[ItemResult | None] = [None] * len(items)
        sendable = [(i, key, body) for i, (key, body) in enumerate(items) if isinstance(body, dict)]
        for i, (key, body) in enumerate(items):
            if isinstance(body, str):
                results[i] = ItemResult(key=key, ok=False, error=body)
        for start in range(0, len(sendable), self.batch_size):
            chunk = sendable[start:start + self.batch_size]
            params: dict[str, Any] = {list_key: [body for _, _, body in chunk]}
            if settings:
                params = {"settings": dict(settings), **params}
            response = self.http.request(method, path, json={"params": params})
            try:
                answers = parse(response.data, [(key, body) for _, key, body in chunk])
            except MappingError as exc:
                code, message = mapping.error_detail(response.data)
                detail = f"{code}: {message}" if code else str(exc)
                raise ShopError(f"idosell {method} {path}: {detail}") from None
            for (i, _, _), answer in zip(chunk, answers, strict=True):
                results[i] = answer
        return [r for r in results if r is not None]


# -- module helpers ---------------------------------------------------------------------------


def _fault_codes(answer: Any) -> set[str]:
    """Every faultCode of one result item (its own and its `faults[]`), as text."""
    if not isinstance(answer, Mapping):
        return set()
    faults = answer.get("faults")
    entries = [answer, *(f for f in (faults if isinstance(faults, list) else [])
                         if isinstance(f, Mapping))]
    return {str(e.get("faultCode")) for e in entries if e.get("faultCode") not in (None, "")}


def api_base_url(base_url: str) -> str:
    """The panel's address as the owner knows it → the Admin API v6 base (ending in `/`)."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ShopError(f"idosell base_url must be an http(s) address, got {base_url!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}{API_PATH}"


def _mapped(build: Callable[..., dict[str, Any]], *args: Any,
            **kwargs: Any) -> dict[str, Any] | str:
    try:
        return build(*args, **kwargs)
    except MappingError as exc:
        return str(exc)


def _extend(page: Page[T], part: Page[T]) -> None:
    page.items += part.items
    page.errors += part.errors


def _parse_page(rows: Sequence[Any], parse: Callable[[Any], T],
                key: Callable[[Any], str]) -> Page[T]:
    page: Page[T] = Page()
    for row in rows:
        try:
            page.items.append(parse(row))
        except MappingError as exc:
            page.errors.append(ItemError(key=key(row), message=str(exc)))
    return page

