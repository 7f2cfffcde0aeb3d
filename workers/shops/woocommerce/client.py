"""The WooCommerce REST v3 connector (the OCA "adapter"): URLs, paging and batches.

Reads use keyset paging over `date_modified_gmt` (see `_iter_keyset`) because offset paging over
a set that changes while we read skips rows; writes use the `…/batch` endpoints, 100 items at a
time, and report one ItemResult per item. Products are read with `context=edit` (the stored text;
the default `view` context renders the description through `wpautop()`). Re-reads by id use
`include=` (100 ids a call), the reconciliation lists ids with `_fields=id`. Mapping lives in
`mapping.py`, HTTP in `shops/http.py`; the behaviours relied on are cited in
docs/fidelity/woocommerce.md.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Self, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from workers.domain import ItemError, ItemResult, Order, Page, Product, StatusChange, StockQuantity
from workers.ports import ShopConnection, ShopError
from workers.shops.http import ShopHttp, ShopHttpError, ShopResponse
from workers.shops.woocommerce import mapping, oauth
from workers.shops.woocommerce.mapping import MappingError

T = TypeVar("T")

API_PATH = "/wp-json/wc/v3/"

#: Keep `GET products?sku=…` URLs short: proxies and WAFs start refusing around 2–8 KiB.
SKU_QUERY_MAX_CHARS = 1500

#: Product reads ask for what is stored: in the default `view` context
#: WC_REST_Products_V2_Controller::get_product_data answers `wpautop(do_shortcode(description))`
#: and the short description through the `woocommerce_short_description` filter.
EDIT_CONTEXT = {"context": "edit"}

#: One second: WooCommerce stores modification times in whole seconds and compares strictly, so
#: moving a bound by one second makes it inclusive of the boundary second.
_SECOND = timedelta(seconds=1)


class WooOAuth1(httpx.Auth):
    """OAuth 1.0a one-legged signing, as WooCommerce requires over plain http.

    Signed per request (and so per retry attempt): WooCommerce remembers nonces and rejects a
    replay. The signature goes into the query string, never into error messages (ShopHttp prints
    paths only).
    """

    def __init__(
        self,
        key: str,
        secret: str,
        *,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: secrets.token_hex(16),
        algorithm: str = "HMAC-SHA256",
    ) -> None:
        self._key = key
        self._secret = secret
        self._clock = clock
        self._nonce = nonce
        self._algorithm = algorithm

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        params = dict(request.url.params.multi_items())
        base_url = str(request.url.copy_with(query=None, fragment=None))
        # `sign` (shared with the sandbox, which verifies with it) answers the whole query.
        signed = oauth.sign(
            request.method, base_url, params, self._key, self._secret,
            timestamp=int(self._clock()), nonce=self._nonce(), algorithm=self._algorithm,
        )
        request.url = request.url.copy_with(params=signed)
        yield request


class WooCommerceClient:
    """ShopClient for WooCommerce REST v3 (`{base_url}/wp-json/wc/v3/`)."""

    platform: ClassVar[str] = "woocommerce"
    #: `per_page` above 100 is refused with 400 rest_invalid_param.
    page_size: int = 100
    #: `…/batch` accepts at most 100 items in total (filter woocommerce_rest_batch_items_limit).
    batch_size: int = 100

    def __init__(
        self,
        conn: ShopConnection,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.conn = conn
        self._site_zone = _zone(conn.shop_timezone)
        self.http = ShopHttp(
            api_base_url(conn.base_url),
            platform=self.platform,
            auth=_auth_for(conn),
            transport=transport,
            verify=conn.verify_tls,
            sleep=sleep,
            secrets=(conn.api_key, conn.api_secret),
        )

    # -- orders -------------------------------------------------------------------------------

    def iter_orders(self, since: datetime, until: datetime) -> Iterator[Page[Order]]:
        """Orders whose `date_modified_gmt` lies in [since, until], oldest change first.

        Not covered: edits of items/totals that WooCommerce saves without bumping the date
        (woocommerce/woocommerce#34798); they need a re-scan of open orders beside this delta.
        """
        params = {
            "modified_after": _after_param(since),
            "modified_before": _before_param(until),
            "dates_are_gmt": True,  # compare with post_modified_gmt, not the site's local time
            "orderby": "modified",
            "order": "asc",
        }
        yield from self._iter_keyset("orders", params, mapping.parse_order)

    def fetch_orders(self, ids: Sequence[str]) -> Page[Order]:
        """The orders with these ids: `include=` in chunks of 100 (one call per chunk)."""
        return self._fetch_by_id("orders", ids, {"status": "any"}, mapping.parse_order)

    def iter_order_ids(self, since: datetime, until: datetime) -> Iterator[list[str]]:
        """Ids of orders created in [since, until]: `after`/`before` on the creation date (in
        GMT with `dates_are_gmt`), `_fields=id` so each row is `{"id": n}`, id order."""
        params = {
            "after": _after_param(since),
            "before": _before_param(until),
            "dates_are_gmt": True,
            "status": "any",
            "orderby": "id",
            "order": "asc",
            "_fields": "id",
        }
        for rows in self._iter_page_numbers("orders", params):
            yield [str(row["id"]) for row in rows
                   if isinstance(row, Mapping) and mapping.is_shop_id(row.get("id"))]

    def set_order_statuses(self, changes: Sequence[StatusChange]) -> list[ItemResult]:
        items = [(c.external_id, _mapped(mapping.status_payload, c)) for c in changes]
        return self._write_batches("orders/batch", "update", items)

    # -- products -----------------------------------------------------------------------------

    def find_products_by_sku(self, skus: Sequence[str]) -> dict[str, list[str]]:
        wanted = list(dict.fromkeys(s for s in skus if s))
        found: dict[str, list[str]] = {}
        for chunk in _sku_chunks(wanted):
            params = {"sku": ",".join(chunk), "status": "any", "orderby": "id", "order": "asc",
                      "_fields": "id,sku,type,parent_id"}
            requested = set(chunk)
            for rows in self._iter_page_numbers("products", params):
                for row in rows:
                    # Exact match only: the shop's lookup is case-insensitive (MySQL collation).
                    sku = row.get("sku") if isinstance(row, Mapping) else None
                    # isinstance first: a hostile list as the SKU is not hashable.
                    if isinstance(sku, str) and sku in requested and row.get("id"):
                        # A variation is bound as `parent/variation` (see mapping.variation_ref).
                        shop_id = mapping.variation_shop_id(row) or str(row["id"])
                        ids = found.setdefault(sku, [])
                        if shop_id not in ids:
                            ids.append(shop_id)
        return found

    def create_products(self, products: Sequence[Product]) -> list[ItemResult]:
        items = [(p.sku, _mapped(mapping.product_payload, p, with_id=False)) for p in products]
        return self._write_batches("products/batch", "create", items)

    def update_products(self, products: Sequence[Product]) -> list[ItemResult]:
        items = [(p.sku, _mapped(mapping.product_payload, p, with_id=True)) for p in products]
        return self._write_updates(items, [p.shop_id for p in products])

    def set_stock(self, quantities: Sequence[StockQuantity]) -> list[ItemResult]:
        items = [(q.sku, _mapped(mapping.stock_payload, q)) for q in quantities]
        return self._write_updates(items, [q.shop_id for q in quantities])

    def fetch_products(self, ids: Sequence[str]) -> Page[Product]:
        """The products with these ids (any status but trash), as `fetch_orders` reads orders."""
        params = {"status": "any", **EDIT_CONTEXT}
        return self._fetch_by_id("products", ids, params, mapping.parse_product)

    def iter_products(self, since: datetime | None, until: datetime) -> Iterator[Page[Product]]:
        # `status=any` lists drafts, pending and private products too (not trash).
        if since is None:
            # A full pass in id order without an upper bound: an edit during the pass leaves the
            # row where it is, whereas a `modified_before` bound would drop it and shift the
            # pages behind it. Products created during the pass land at the tail.
            full: dict[str, Any] = {"status": "any", "orderby": "id", "order": "asc",
                                    **EDIT_CONTEXT}
            for rows in self._iter_page_numbers("products", full):
                yield _parse_page(rows, mapping.parse_product)
            return
        params: dict[str, Any] = {
            "modified_after": _after_param(since),
            "modified_before": _before_param(until),
            "dates_are_gmt": True,
            "orderby": "modified",
            "order": "asc",
            "status": "any",
            **EDIT_CONTEXT,
        }
        yield from self._iter_keyset("products", params, mapping.parse_product)

    # -- webhooks (`webhooks register` / `webhooks check`) -------------------------------------

    def list_webhooks(self) -> list[dict[str, Any]]:
        """The shop's webhooks (never with their secrets: the REST API does not return them)."""
        return [row for row in _rows(self.http.get("webhooks", params={"per_page": 100}),
                                     "webhooks") if isinstance(row, dict)]

    def create_webhook(self, name: str, topic: str, delivery_url: str, secret: str) -> str:
        """POST /webhooks; the shop pings the URL once (it must answer exactly 200)."""
        answer = self.http.post("webhooks", json={
            "name": name, "topic": topic, "delivery_url": delivery_url, "secret": secret,
            "status": "active"}, idempotent=False)
        return str(answer.data["id"])

    def update_webhook(self, webhook_id: str, **fields: str) -> dict[str, Any]:
        """PUT /webhooks/{id}: re-enable one the shop disabled, with our secret again."""
        answer = self.http.request("PUT", f"webhooks/{webhook_id}", json=fields)
        return dict(answer.data)

    def delete_webhook(self, webhook_id: str) -> None:
        self.http.request("DELETE", f"webhooks/{webhook_id}", params={"force": "true"})

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- paging -------------------------------------------------------------------------------

    def _iter_keyset(
        self, path: str, params: Mapping[str, Any], parse: Callable[[Any], T]
    ) -> Iterator[Page[T]]:
        """Read a `orderby=modified&order=asc` collection so that no row is skipped.

        Offset paging over a set that changes while we read skips rows: an edited row jumps to
        the tail and every row behind it moves one place forward. So after each page the lower
        bound moves to the last row's `date_modified_gmt` (minus one second, which makes the
        strict `modified_after` include that second) and paging restarts at page 1; rows read
        twice are dropped by (id, date_modified_gmt). When a page cannot move the bound (all of
        it shares one second) we page on by number within that bound instead. A page reached by
        number that holds nothing new means the shop keeps answering the same rows: that fails
        the run rather than loop or silently truncate.
        """
        lower: str = params["modified_after"]
        page = 1
        seen: set[tuple[Any, Any]] = set()
        while True:
            response = self._get_page(path, {**params, "modified_after": lower}, page)
            rows = _rows(response, path)
            fresh = [row for row in rows if _row_key(row) not in seen]
            if page > 1 and rows and not fresh:
                raise ShopError(f"woocommerce GET {path}: page {page} repeats rows already read "
                                "in this run; the shop keeps returning the same page")
            seen.update(_row_key(row) for row in rows)
            if fresh:
                yield _parse_page(fresh, parse)
            if not rows or not _has_next(response, page, len(rows), self.page_size):
                return
            next_lower = _keyset_bound(rows, self._site_zone)
            if next_lower is None or next_lower <= lower:
                page += 1
            else:
                lower, page = next_lower, 1
                seen = {key for key in seen if not _older_than(key, lower)}

    def _iter_page_numbers(self, path: str, params: Mapping[str, Any]) -> Iterator[list[Any]]:
        """Plain page-number paging (stable `orderby=id`), with the same repeat check."""
        page = 1
        seen_ids: set[Any] = set()
        while True:
            response = self._get_page(path, params, page)
            rows = _rows(response, path)
            # As text: a hostile id (a list) is not hashable, and "7" and 7 are one row.
            ids = {str(row.get("id")) for row in rows if isinstance(row, Mapping)}
            if page > 1 and rows and ids and ids <= seen_ids:
                raise ShopError(f"woocommerce GET {path}: page {page} repeats rows already read "
                                "in this run; the shop keeps returning the same page")
            seen_ids |= ids
            if rows:
                yield rows
            if not rows or not _has_next(response, page, len(rows), self.page_size):
                return
            page += 1

    def _fetch_by_id(
        self, path: str, ids: Sequence[str], params: Mapping[str, Any], parse: Callable[[Any], T]
    ) -> Page[T]:
        """`GET path?include=a,b,…&per_page=100`, 100 ids a call. `include` does not lift
        `per_page` (its default is 10), so each chunk asks for as many rows as it has ids; an id
        the shop does not have is simply not in the answer. Ids that are not WooCommerce ids
        cannot be asked for and are left out (absent, as the port says)."""
        wanted = list(dict.fromkeys(
            str(i).strip() for i in ids if mapping.is_shop_id(str(i).strip())))
        page: Page[T] = Page()
        for start in range(0, len(wanted), self.page_size):
            chunk = wanted[start:start + self.page_size]
            query = {**params, "include": ",".join(chunk), "orderby": "include",
                     "per_page": len(chunk), "page": 1}
            rows = _rows(self.http.get(path, params=query), path)
            found = _parse_page(rows, parse)
            page.items.extend(found.items)
            page.errors.extend(found.errors)
        return page

    def _get_page(self, path: str, params: Mapping[str, Any], page: int) -> ShopResponse:
        return self.http.get(path, params={**params, "per_page": self.page_size, "page": page})

    # -- batch writes -------------------------------------------------------------------------

    def _write_updates(
        self, items: Sequence[tuple[str, dict[str, Any] | str]], shop_ids: Sequence[str | None]
    ) -> list[ItemResult]:
        """Product updates: `products/batch`, and a variation's through its parent's
        `products/{parent}/variations/batch` (one call per parent and 100 items). Results come
        back in the items' order, a variation's under its `parent/variation` shop id."""
        routes: dict[str, list[int]] = {}
        for index, shop_id in enumerate(shop_ids):
            variation = mapping.variation_ref(shop_id)
            path = (f"products/{variation[0]}/variations/batch" if variation is not None
                    else "products/batch")
            routes.setdefault(path, []).append(index)
        results: list[ItemResult | None] = [None] * len(items)
        for path, indices in routes.items():
            answers = self._write_batches(path, "update", [items[i] for i in indices])
            for index, answer in zip(indices, answers, strict=True):
                rebind = path != "products/batch" and answer.shop_id is not None
                results[index] = replace(answer, shop_id=shop_ids[index]) if rebind else answer
        return [r for r in results if r is not None]

    def _write_batches(
        self, path: str, action: str, items: Sequence[tuple[str, dict[str, Any] | str]]
    ) -> list[ItemResult]:
        """POST `{action: [...]}` in chunks of `batch_size`; one ItemResult per item, in order.

        An item given as a string is already an error (it could not be mapped) and is not sent.
        """
        results: list[ItemResult | None] = [None] * len(items)
        sendable = [(i, key, body) for i, (key, body) in enumerate(items) if isinstance(body, dict)]
        for i, (key, body) in enumerate(items):
            if isinstance(body, str):
                results[i] = ItemResult(key=key, ok=False, error=body)
        start = 0
        while start < len(sendable):
            # batch_size is re-read each time: a 413 may have shrunk it.
            chunk = sendable[start:start + self.batch_size]
            answers = self._post_batch(path, action, chunk)  # one per item, or it raises
            for (i, _, _), result in zip(chunk, answers, strict=True):
                results[i] = result
            start += len(chunk)
        return [r for r in results if r is not None]

    def _post_batch(
        self, path: str, action: str, chunk: Sequence[tuple[int, str, dict[str, Any]]],
        *, may_split: bool = True,
    ) -> list[ItemResult]:
        # Retrying a batch is safe: updates are absolute values, and a create applied twice
        # fails on the duplicate SKU with the owner's id, which the caller binds.
        try:
            response = self.http.post(path, json={action: [body for _, _, body in chunk]})
        except ShopHttpError as exc:
            if exc.status_code != 413 or not may_split or len(chunk) < 2:
                raise
            # The shop's item limit (or its web server's body limit) is lower than ours: halve
            # the batch once, and keep the smaller size for the rest of this client's life.
            half = (len(chunk) + 1) // 2
            self.batch_size = max(1, min(self.batch_size, half))
            return [*self._post_batch(path, action, chunk[:half], may_split=False),
                    *self._post_batch(path, action, chunk[half:], may_split=False)]
        return _batch_results(response, path, action, chunk)


# -- module helpers ---------------------------------------------------------------------------


def api_base_url(base_url: str) -> str:
    """The shop's address as the owner knows it → the REST v3 base (always ending in `/`)."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ShopError(f"woocommerce base_url must be an http(s) address, got {base_url!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}{API_PATH}"


def _auth_for(conn: ShopConnection) -> httpx.Auth:
    """HTTP Basic over https; OAuth 1.0a signing over plain http (WooCommerce refuses Basic
    there, since the consumer secret would travel in clear)."""
    if not conn.api_key or not conn.api_secret:
        raise ShopError(f"woocommerce integration {conn.integration_id} needs api_key (ck_…) "
                        "and api_secret (cs_…)")
    if urlsplit(conn.base_url.strip()).scheme == "https":
        return httpx.BasicAuth(conn.api_key, conn.api_secret)
    return WooOAuth1(conn.api_key, conn.api_secret)


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("datetimes passed to a ShopClient must be timezone-aware")
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0)


def _after_param(since: datetime) -> str:
    """`modified_after` is strict; one second earlier makes `since`'s own second inclusive."""
    return (_naive_utc(since) - _SECOND).isoformat()


def _before_param(until: datetime) -> str:
    """`modified_before` is strict; the next whole second makes `until` inclusive."""
    return (_naive_utc(until) + _SECOND).isoformat()


def _rows(response: ShopResponse, path: str) -> list[Any]:
    if response.data is None:
        return []
    try:
        return list(mapping.ensure_list(response.data, path))
    except MappingError as exc:
        raise ShopError(f"woocommerce GET {path}: {exc}") from None


def _has_next(response: ShopResponse, page: int, count: int, page_size: int) -> bool:
    """Is there a page after `page`? The Link header says best, X-WP-TotalPages next; a short
    page ends the collection whatever the headers claim."""
    if count < page_size:
        return False
    link = response.headers.get("Link")
    if link is not None:
        return 'rel="next"' in link
    total_pages = response.headers.get("X-WP-TotalPages", "")
    if total_pages.isascii() and total_pages.isdigit():  # "²" is a digit to isdigit()
        return page < int(total_pages)
    return True


def _row_key(row: Any) -> tuple[Any, Any]:
    if isinstance(row, Mapping):  # as text, so a hostile list can still be a set member
        return str(row.get("id")), str(row.get("date_modified_gmt"))
    return None, repr(row)[:200]


def _keyset_bound(rows: Sequence[Any], site_zone: ZoneInfo | None) -> str | None:
    """The next `modified_after`: the last row's time minus one second, if the page moved on.

    None when the last row has no usable time or the whole page shares one second (restarting
    there would answer the same page again).

    WooCommerce sorts `orderby=modified` by the site-local `post_modified` while we filter on
    the GMT column. In the hour repeated when clocks go back, local order is not GMT order: a
    row read at 02:40 (second pass, CET) can be followed by one at 02:45 (first pass, CEST) that
    is an hour earlier in GMT. For a last row in that second pass the bound is taken from the
    earlier reading of its local time, so those rows stay inside the window (re-reads are
    dropped as duplicates).
    """
    first, last = mapping.modified_gmt(rows[0]), mapping.modified_gmt(rows[-1])
    if last is None or first == last:
        return None
    bound = _earlier_reading(rows[-1], last, site_zone)
    try:
        return (_naive_utc(bound) - _SECOND).isoformat()
    except OverflowError:  # a row stamped in year 1: no bound below it, page on by number
        return None


def _earlier_reading(row: Any, modified: datetime, site_zone: ZoneInfo | None) -> datetime:
    """`modified`, or the first occurrence of the row's local time if it lies in a repeated hour."""
    local_text = row.get("date_modified") if isinstance(row, Mapping) else None
    if site_zone is None or not isinstance(local_text, str):
        return modified
    try:
        local = datetime.fromisoformat(local_text)
    except ValueError:
        return modified
    if local.tzinfo is not None:
        return modified
    try:
        second = local.replace(tzinfo=site_zone, fold=1).astimezone(UTC)
        first = local.replace(tzinfo=site_zone, fold=0).astimezone(UTC)
    except OverflowError:  # year 1 or 9999 local text: no earlier reading to offer
        return modified
    # Only when the row's own GMT time is the second reading: then the site zone is right and
    # the hour really was repeated.
    return first if second == modified and first < second else modified


def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _older_than(key: tuple[Any, Any], lower: str) -> bool:
    """Rows modified before the current lower bound cannot come back; forget them."""
    modified = key[1]
    return isinstance(modified, str) and modified[:19] <= lower


def _parse_page(rows: Sequence[Any], parse: Callable[[Any], T]) -> Page[T]:
    page: Page[T] = Page()
    for row in rows:
        try:
            page.items.append(parse(row))
        except MappingError as exc:
            page.errors.append(ItemError(key=mapping.item_key(row), message=str(exc)))
    return page


def _mapped(
    build: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any
) -> dict[str, Any] | str:
    """A batch item body, or the reason it cannot be built (that item is then not sent)."""
    try:
        return build(*args, **kwargs)
    except MappingError as exc:
        return str(exc)


def _sku_chunks(skus: Sequence[str]) -> Iterator[list[str]]:
    """Comma lists of SKUs short enough for a URL. A SKU holding a comma cannot be asked for
    this way (the shop splits on commas); it is left out and so treated as not found, and a
    create then fails on the duplicate with the owner's id."""
    chunk: list[str] = []
    size = 0
    for sku in skus:
        if "," in sku:
            continue
        if chunk and size + len(sku) + 1 > SKU_QUERY_MAX_CHARS:
            yield chunk
            chunk, size = [], 0
        chunk.append(sku)
        size += len(sku) + 1
    if chunk:
        yield chunk


def _batch_results(
    response: ShopResponse, path: str, action: str,
    chunk: Sequence[tuple[int, str, dict[str, Any]]],
) -> list[ItemResult]:
    answers = response.data.get(action) if isinstance(response.data, Mapping) else None
    if not isinstance(answers, list) or len(answers) != len(chunk):
        got = len(answers) if isinstance(answers, list) else "no"
        raise ShopError(f"woocommerce POST {path}: answered {got} {action} results "
                        f"for {len(chunk)} items")
    return [_item_result(key, answer, action)
            for (_, key, _), answer in zip(chunk, answers, strict=True)]


def _item_result(key: str, answer: Any, action: str) -> ItemResult:
    if not isinstance(answer, Mapping):
        return ItemResult(key=key, ok=False, error=f"unexpected batch answer {answer!r:.80}")
    failure = mapping.batch_item_error(answer)
    if failure is not None:
        message, owner = failure
        # Only a create carries the owner: the caller binds the SKU to it instead of creating
        # a duplicate. For an update, shop_id stays the product we tried to change.
        return ItemResult(key=key, ok=False, error=message,
                          shop_id=owner if action == "create" else _answer_id(answer),
                          gone=action == "update" and _no_such_product(answer))
    answer_id = _answer_id(answer)
    if answer_id is None:
        return ItemResult(key=key, ok=False, error="batch answer has no id")
    return ItemResult(key=key, ok=True, shop_id=answer_id)


def _no_such_product(answer: Mapping[str, Any]) -> bool:
    """The batch answer for an update of a product the shop no longer has (deleted for good,
    not trashed: a trashed product still updates). WC_REST_CRUD_Controller::update_item answers
    `woocommerce_rest_product_invalid_id` (status 400) when get_object() finds nothing, and
    WC_REST_Controller::batch_items puts that WP_Error in the item's place (woocommerce/
    woocommerce, includes/rest-api/Controllers/Version3/class-wc-rest-crud-controller.php and
    class-wc-rest-controller.php)."""
    error = answer.get("error")
    # A variation written through its parent's variations batch: the same check in
    # WC_REST_Product_Variations_Controller answers with its post type in the code.
    return isinstance(error, Mapping) and error.get("code") in (
        "woocommerce_rest_product_invalid_id", "woocommerce_rest_product_variation_invalid_id")


def _answer_id(answer: Mapping[str, Any]) -> str | None:
    value = answer.get("id")
    return str(value) if mapping.is_shop_id(value) else None
