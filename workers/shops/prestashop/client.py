"""The PrestaShop Webservice connector (the OCA "adapter"): URLs, paging, lookups and writes.

`{base_url}/api/`, the webservice key as the HTTP Basic user with an empty password, JSON out
(`output_format=JSON` on every call) and XML in. The key needs GET on orders, order_states,
customers, addresses, countries, currencies, carriers, products, stock_availables, languages,
configurations, tax_rule_groups, tax_rules and taxes; POST on products and order_histories;
PUT on products and stock_availables.

Reads page through `filter[date_upd]=[a,b]` (with `date=1`, without which PrestaShop refuses
date filters and sorts) sorted by `[date_upd_ASC,id_ASC]`, by keyset: the lower bound moves to
the last row's `date_upd` after each page, since offset paging over a changing set skips rows.
Bounds and keys stay in the shop's local wall-clock text, the form PrestaShop compares and
sorts in, so the repeated autumn hour cannot reorder anything.

Re-reads by id (the retry set) use `filter[id]=[a|b|…]`, 100 ids a call; the daily
reconciliation lists ids only (no `display`) of orders whose `date_add` is in the window.
What each call relies on, with its source in PrestaShop's code: docs/fidelity/prestashop.md.

There is no batch endpoint: every product, stock level and status is its own call. A connector
call still takes `batch_size` items so that what a batch needs to know (the full objects a PUT
must echo, the stock_available rows) is read in one list call per batch, not one per item.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import httpx

from workers.domain import ItemError, ItemResult, Order, Page, Product, StatusChange, StockQuantity
from workers.ports import ShopConnection, ShopError, ShopRetriableError
from workers.shops import localtime
from workers.shops.http import ShopHttp, ShopHttpError, ShopResponse
from workers.shops.prestashop import mapping, xmlbody
from workers.shops.prestashop.mapping import Catalog, MappingError, OrderRefs

T = TypeVar("T")

API_PATH = "/api/"
#: The Webservice reads XML bodies only (a JSON body is refused).
XML_CONTENT_TYPE = "text/xml; charset=utf-8"
#: Sends of one POST whose outcome was unknown (each checked with a read before the next).
POST_ATTEMPTS = 3
#: `filter[id]=[1|2|…]` lists this many ids per call; keeps URLs far below proxy limits.
IDS_PER_LOOKUP = 100
#: `filter[reference]=[…]` lookups stop adding SKUs at this many characters.
SKU_QUERY_MAX_CHARS = 1500
#: Characters that change the meaning of a filter value (`[a|b]`, `[a,b]`); a SKU holding one
#: cannot be looked up and is treated as not found (a create then binds nothing twice: the
#: engine only creates what the lookup did not find).
_FILTER_SYNTAX = frozenset("[]|")


class PrestaShopAuth(httpx.Auth):
    """The key as the Basic user with an empty password (what the Webservice expects)."""

    def __init__(self, key: str) -> None:
        self._header = "Basic " + base64.b64encode(f"{key}:".encode()).decode()

    def auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


class PrestaShopClient:
    """ShopClient for the PrestaShop Webservice (`{base_url}/api/`)."""

    platform: ClassVar[str] = "prestashop"
    #: No server cap and no total count; 100 rows keep a page of full orders near 0.5 MiB.
    page_size: int = 100
    #: Items per connector call. PrestaShop writes one item per call whatever this says; the
    #: batch only shares the reads a write needs (see the module docstring).
    batch_size: int = 100
    #: Ids per page of the reconciliation's id list: rows of one number each, so a page of
    #: 1,000 stays a few kilobytes (there is no server cap on `limit`).
    ids_page_size: int = 1000
    #: Items one API write call can carry (there is no batch endpoint).
    api_batch_max: ClassVar[int] = 1
    limitations: ClassVar[tuple[str, ...]] = (
        "No free-form order status: the mapped status must be the numeric id of one of the "
        "shop's order_states.",
        "No batch endpoint: every product, stock level and order status costs one call.",
        "Edits to order lines alone keep date_upd and are not re-read (status and paid changes "
        "move it, so no re-scan is needed).",
        "Stock changes made in the shop keep date_upd and are never read: stock only flows from "
        "the ERP.",
        "Products are matched on the product-level reference; combinations are not synced.",
        "An EAN longer than 13 digits does not fit ean13 and is an item error.",
        ("A product name holding any of < > ; = # { }, a line break or more than 128 "
         "characters is refused by PrestaShop (Validate::isCatalogName) and is an item error "
         "until the ERP name changes."),
        "Status changes are sent without sendemail=1: PrestaShop mails the customer nothing.",
    )

    def __init__(
        self,
        conn: ShopConnection,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not conn.api_key or not conn.api_key.strip():
            raise ShopError(f"prestashop integration {conn.integration_id} needs api_key "
                            "(the webservice key)")
        self.conn = conn
        self.zone = localtime.shop_zone(conn.shop_timezone, self.platform)
        self.http = ShopHttp(
            api_base_url(conn.base_url),
            platform=self.platform,
            auth=PrestaShopAuth(conn.api_key.strip()),
            transport=transport,
            verify=conn.verify_tls,
            sleep=sleep,
            secrets=(conn.api_key,),
        )
        self._catalog: Catalog | None = None
        self._refs = OrderRefs()
        self._refs_loaded = False
        self._state_set: frozenset[str] = frozenset()
        self._states_loaded = False

    # -- orders -------------------------------------------------------------------------------

    def iter_orders(self, since: datetime, until: datetime) -> Iterator[Page[Order]]:
        """Orders whose `date_upd` lies in [since, until], oldest change first.

        No re-scan beside the delta: every status change — payments included, which PrestaShop
        records as a paid state — saves the order and so moves `date_upd`
        (src `classes/order/OrderHistory.php`, `changeIdOrderState` and `add` call
        `$order->update()`).
        """
        lower = localtime.lower_bound(since, self.zone)
        upper = localtime.upper_bound(until, self.zone)
        for raw in self._iter_date_window("orders", lower, upper):
            yield self._order_page(raw)

    def _order_page(self, raw: Sequence[Any]) -> Page[Order]:
        refs = self._order_refs(raw)

        def parse(row: Any) -> Order:
            return mapping.parse_order(row, refs, self.zone)

        return _parse_page(raw, parse)

    def set_order_statuses(self, changes: Sequence[StatusChange]) -> list[ItemResult]:
        """One `POST order_histories` per order that needs it.

        The batch's orders are read first (one list call): PrestaShop answers a history for an
        order or state that does not exist with a bare `die()` ("Invalid new order status",
        src `OrderHistory::changeIdOrderState`), not an error we could pin on the item, so both
        are checked here; an order already in the target state is left alone (a second history
        row would repeat the customer mail and the stock movements).
        """
        bodies: dict[int, bytes] = {}
        results: list[ItemResult | None] = [None] * len(changes)
        for i, change in enumerate(changes):
            try:
                bodies[i] = xmlbody.document("order_history", mapping.history_fields(change))
            except MappingError as exc:
                results[i] = ItemResult(key=change.external_id, ok=False, error=str(exc))
        states = self._state_ids()
        current = self._lookup("orders", [changes[i].external_id.strip() for i in bodies],
                               "[id,current_state]")
        for i, body in bodies.items():
            change = changes[i]
            key, state = change.external_id, change.shop_status.strip()
            order = current.get(key.strip())
            if state not in states:
                results[i] = ItemResult(key=key, ok=False, error=f"order state {state} does not "
                                        "exist in the shop (see its order_states)")
            elif order is None:
                results[i] = ItemResult(key=key, ok=False, error=f"order {key} is not in the shop")
            elif str(order.get("current_state")) == state:
                results[i] = ItemResult(key=key, ok=True, shop_id=key)
            else:
                answer = self._post_checked(
                    "order_histories", body,
                    applied=partial(self._order_if_in_state, key, state))
                results[i] = ItemResult(key=key, ok=answer.ok, shop_id=key, error=answer.error)
        return [r for r in results if r is not None]

    def fetch_orders(self, ids: Sequence[str]) -> Page[Order]:
        """Orders by id: `filter[id]=[a|b|…]` with `display=full`, IDS_PER_LOOKUP ids a call
        (src `WebserviceRequest::manageFilters` → `SQLUtils::getSQLRetrieveFilter`: `[a|b]` is
        an OR list; an id the shop lacks simply matches nothing)."""
        page: Page[Order] = Page()
        for raw in self._by_ids("orders", ids):
            _extend(page, self._order_page(raw))
        return page

    def iter_order_ids(self, since: datetime, until: datetime) -> Iterator[list[str]]:
        """Ids of orders *created* in [since, until]: the list without `display` (ids only, the
        "minimum" output of `WebserviceRequest::getFilteredObjectList`), `filter[date_add]`
        in shop-local time (with `date=1`), keyset on the id."""
        low = localtime.wire(localtime.lower_bound(since, self.zone))
        high = localtime.wire(localtime.upper_bound(until, self.zone))
        last = 0
        while True:
            page = self._list("orders", {
                "date": "1", "filter[date_add]": f"[{low},{high}]", "filter[id]": f">[{last}]",
                "sort": "[id_ASC]", "limit": str(self.ids_page_size)})
            ids = [i for i in (_int_or_none(row.get("id")) if isinstance(row, Mapping) else None
                               for row in page) if i is not None]
            if ids:
                yield ids
            if len(page) < self.ids_page_size:
                return
            if not ids or int(ids[-1]) <= last:
                raise ShopError(f"prestashop GET orders: ids do not increase past {last}; "
                                "the shop ignores the id filter")
            last = int(ids[-1])

    # -- products -----------------------------------------------------------------------------

    def fetch_products(self, ids: Sequence[str]) -> Page[Product]:
        """Products by id, as `fetch_orders` reads orders."""
        catalog = self._load_catalog()
        page: Page[Product] = Page()
        def parse(row: Any) -> Product:
            return mapping.parse_product(row, catalog, self.zone)

        for raw in self._by_ids("products", ids):
            _extend(page, _parse_page(raw, parse))
        return page

    def find_products_by_sku(self, skus: Sequence[str]) -> dict[str, list[str]]:
        wanted = list(dict.fromkeys(s for s in skus if s and not _FILTER_SYNTAX & set(s)))
        found: dict[str, list[str]] = {}
        for chunk in _sku_chunks(wanted):
            requested = set(chunk)
            # One value with a comma would read as an interval: say it twice, as an OR list.
            values = chunk if len(chunk) > 1 else chunk * 2
            params = {"display": "[id,reference]", "filter[reference]": f"[{'|'.join(values)}]",
                      "sort": "[id_ASC]"}
            for page in self._iter_offset("products", params, size=len(chunk) + 1):
                for row in page:
                    # Exact match only: PrestaShop compares case-insensitively (MySQL collation).
                    sku = row.get("reference") if isinstance(row, Mapping) else None
                    if isinstance(sku, str) and sku in requested:  # a list is not hashable
                        ids = found.setdefault(sku, [])
                        product_id = str(row.get("id"))
                        if product_id not in ids:
                            ids.append(product_id)
        return found

    def create_products(self, products: Sequence[Product]) -> list[ItemResult]:
        catalog = self._load_catalog()
        results: list[ItemResult] = []
        for product in products:
            try:
                body = xmlbody.document("product", mapping.new_product_fields(product, catalog))
            except (MappingError, xmlbody.XmlValueError) as exc:
                results.append(ItemResult(key=product.sku, ok=False, error=str(exc)))
                continue
            # PrestaShop does not refuse a second product with one reference, so a POST that
            # failed in an unknown state is looked up before it is sent again.
            answer = self._post_checked("products", body,
                                        applied=partial(self._only_id, product.sku))
            results.append(ItemResult(key=product.sku, ok=answer.ok, shop_id=answer.shop_id,
                                      error=answer.error))
        return results

    def update_products(self, products: Sequence[Product]) -> list[ItemResult]:
        catalog = self._load_catalog()
        ids = [_int_id(p.shop_id) for p in products]
        current = self._lookup("products", [i for i in ids if i], "full")
        results: list[ItemResult] = []
        for product, product_id in zip(products, ids, strict=True):
            if product_id is None:
                results.append(ItemResult(key=product.sku, ok=False,
                                          error=f"not a PrestaShop id: {product.shop_id!r}"))
                continue
            if product_id not in current:  # deleted in the shop: the operation unbinds it
                results.append(ItemResult(key=product.sku, ok=False, shop_id=product_id,
                                          error=f"product {product_id} is not in the shop",
                                          gone=True))
                continue
            try:
                body = xmlbody.document("product", mapping.updated_product_fields(
                    product, current[product_id], catalog))
            except (MappingError, xmlbody.XmlValueError) as exc:
                results.append(ItemResult(key=product.sku, ok=False, shop_id=product_id,
                                          error=str(exc)))
                continue
            # A full-object PUT is idempotent: a retry writes the same values again.
            answer = self._write("PUT", f"products/{product_id}", body, idempotent=True)
            results.append(ItemResult(key=product.sku, ok=answer is None, shop_id=product_id,
                                      error=answer))
        return results

    def set_stock(self, quantities: Sequence[StockQuantity]) -> list[ItemResult]:
        """Absolute quantities into each product's stock_available row (id_product_attribute 0).

        One filtered list call per batch finds the rows (and their full content, which a PUT
        must echo); then one PUT per product. The product's `date_upd` does not move.
        """
        ids = [_int_id(q.shop_id) for q in quantities]
        rows = self._stock_rows([i for i in ids if i])
        # Product::delete removes the product's stock_available rows with it (PrestaShop/
        # PrestaShop classes/Product.php, StockAvailable::removeProductFromStockAvailable), so
        # a missing row most likely means a deleted product: one lookup of just those ids says.
        rowless = [i for i in ids if i and i not in rows]
        existing = self._lookup("products", rowless, "[id]") if rowless else {}
        results: list[ItemResult] = []
        for quantity, product_id in zip(quantities, ids, strict=True):
            if product_id is None:
                results.append(ItemResult(key=quantity.sku, ok=False,
                                          error=f"not a PrestaShop id: {quantity.shop_id!r}"))
                continue
            targets = rows.get(product_id, [])
            if not targets:
                gone = product_id not in existing
                reason = "is not in the shop" if gone else "has no stock_available row"
                results.append(ItemResult(key=quantity.sku, ok=False, shop_id=product_id,
                                          error=f"product {product_id} {reason}", gone=gone))
                continue
            error: str | None = None
            for row in targets:  # one row per shop in a multistore without shared stock
                try:
                    body = xmlbody.document("stock_available",
                                            mapping.stock_fields(row, quantity.quantity))
                except (MappingError, xmlbody.XmlValueError) as exc:  # the row echoes junk
                    error = str(exc)
                    break
                error = self._write("PUT", f"stock_availables/{row['id']}", body,
                                    idempotent=True) or error
            results.append(ItemResult(key=quantity.sku, ok=error is None, shop_id=product_id,
                                      error=error))
        return results

    def iter_products(self, since: datetime | None, until: datetime) -> Iterator[Page[Product]]:
        catalog = self._load_catalog()

        def parse(row: Any) -> Product:
            return mapping.parse_product(row, catalog, self.zone)

        if since is None:
            # A full pass in id order: an edit during the pass moves nothing; a product created
            # meanwhile lands at the end and is read too.
            for raw in self._iter_ids("products"):
                yield _parse_page(raw, parse)
            return
        lower = localtime.lower_bound(since, self.zone)
        upper = localtime.upper_bound(until, self.zone)
        for raw in self._iter_date_window("products", lower, upper):
            yield _parse_page(raw, parse)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PrestaShopClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- paging -------------------------------------------------------------------------------

    def _iter_date_window(self, resource: str, lower: datetime,
                          upper: datetime) -> Iterator[list[Any]]:
        """Full rows with `date_upd` in [lower, upper] (inclusive BETWEEN), by keyset.

        After each page the lower bound moves to the last row's `date_upd` and the offset goes
        back to 0 (that second is read again; rows are deduplicated by (id, date_upd)). A page
        that all shares one second cannot move the bound: the offset moves instead. A page
        reached by offset that holds nothing new means the shop repeats itself: the run fails
        rather than loop or truncate silently.
        """
        low, high = localtime.wire(lower), localtime.wire(upper)
        offset = 0
        seen: set[tuple[str, str]] = set()
        while True:
            params = {"display": "full", "date": "1", "filter[date_upd]": f"[{low},{high}]",
                      "sort": "[date_upd_ASC,id_ASC]", "limit": f"{offset},{self.page_size}"}
            page = self._list(resource, params)
            fresh = [row for row in page if _row_key(row) not in seen]
            if offset and page and not fresh:
                raise ShopError(f"prestashop GET {resource}: the page at offset {offset} repeats "
                                "rows already read in this run; the shop keeps returning them")
            seen.update(_row_key(row) for row in page)
            if fresh:
                yield fresh
            if len(page) < self.page_size:
                return
            first, last = _row_key(page[0])[1], _row_key(page[-1])[1]
            if _is_wire_time(last) and last > low and first != last:
                low, offset = last, 0
                seen = {key for key in seen if key[1] >= low}
            else:
                offset += self.page_size

    def _iter_ids(self, resource: str) -> Iterator[list[Any]]:
        """Every row in id order, by keyset on the id (`filter[id]=>[last]`)."""
        last = 0
        while True:
            page = self._list(resource, {"display": "full", "filter[id]": f">[{last}]",
                                         "sort": "[id_ASC]", "limit": str(self.page_size)})
            ids = [_int_or_none(row.get("id")) if isinstance(row, Mapping) else None
                   for row in page]
            if page:
                yield page
            if len(page) < self.page_size:
                return
            if not ids or ids[-1] is None or int(ids[-1]) <= last:
                raise ShopError(f"prestashop GET {resource}: ids do not increase past {last}; "
                                "the shop ignores the id filter")
            last = int(ids[-1])

    def _iter_offset(self, resource: str, params: Mapping[str, Any],
                     size: int | None = None) -> Iterator[list[Any]]:
        """Plain `limit=offset,n` paging (for small, stable lookups sorted by id). A lookup that
        expects about k rows asks for k + 1 at once: PrestaShop counts nothing, so only a short
        page proves the end, and one more row spares the empty page a full one would need."""
        size = size or self.page_size
        offset = 0
        seen: set[Any] = set()
        while True:
            page = self._list(resource, {**params, "limit": f"{offset},{size}"})
            # As text: a hostile id (a list) is not hashable, and "7" and 7 are one row.
            ids = {str(row.get("id")) for row in page if isinstance(row, Mapping)}
            if offset and page and ids <= seen:
                raise ShopError(f"prestashop GET {resource}: the page at offset {offset} repeats "
                                "rows already read in this run")
            seen |= ids
            if page:
                yield page
            if len(page) < size:
                return
            offset += size

    def _list(self, resource: str, params: Mapping[str, Any]) -> list[Any]:
        response = self.http.get(resource, params={**params, **_json()})
        try:
            return mapping.rows(response.data, resource)
        except MappingError as exc:
            raise ShopError(f"prestashop GET {resource}: {exc}") from None

    def _by_ids(self, resource: str, ids: Iterable[str]) -> Iterator[list[Any]]:
        """Full rows by id, one call per IDS_PER_LOOKUP ids (in id order). An id that is not a
        positive number cannot be in the shop and is left out, as an unknown one would be."""
        wanted = sorted({i for i in (_int_id(str(x)) for x in ids) if i is not None}, key=int)
        for start in range(0, len(wanted), IDS_PER_LOOKUP):
            chunk = wanted[start:start + IDS_PER_LOOKUP]
            rows = self._list(resource, {"display": "full", "filter[id]": f"[{'|'.join(chunk)}]",
                                         "sort": "[id_ASC]", "limit": str(len(chunk))})
            if rows:
                yield rows

    def _lookup(self, resource: str, ids: Iterable[str], display: str) -> dict[str, Any]:
        """Rows by id, `filter[id]=[1|2|…]` in chunks: one call per IDS_PER_LOOKUP ids."""
        # Only ids that are numbers: a hostile row's "None" or "{…}" would stop the sort.
        wanted = sorted({i for i in ids if i and _ascii_digits(i)}, key=int)
        found: dict[str, Any] = {}
        for start in range(0, len(wanted), IDS_PER_LOOKUP):
            chunk = wanted[start:start + IDS_PER_LOOKUP]
            params = {"display": display, "filter[id]": f"[{'|'.join(chunk)}]",
                      "limit": str(len(chunk))}
            for row in self._list(resource, params):
                if isinstance(row, Mapping) and row.get("id") is not None:
                    found[str(row["id"])] = row
        return found

    def _stock_rows(self, product_ids: Sequence[str]) -> dict[str, list[Mapping[str, Any]]]:
        wanted = sorted(set(product_ids), key=int)
        rows: dict[str, list[Mapping[str, Any]]] = {}
        for start in range(0, len(wanted), IDS_PER_LOOKUP):
            chunk = wanted[start:start + IDS_PER_LOOKUP]
            params = {"display": "full", "filter[id_product]": f"[{'|'.join(chunk)}]",
                      "filter[id_product_attribute]": "[0]", "sort": "[id_ASC]"}
            for page in self._iter_offset("stock_availables", params, size=len(chunk) + 1):
                for row in page:
                    if isinstance(row, Mapping) and str(row.get("id_product_attribute")) == "0":
                        rows.setdefault(str(row.get("id_product")), []).append(row)
        return rows

    # -- writes -------------------------------------------------------------------------------

    def _post_checked(self, resource: str, body: bytes,
                      applied: Callable[[], str | None]) -> ItemResult:
        """POST one object; after a failure that may have been applied (5xx, timeout) ask the
        shop whether it was (`applied` answers the object's id or None) before sending it
        again, so a retry never creates a second one. A 4xx is this item's error."""
        for attempt in range(1, POST_ATTEMPTS + 1):
            try:
                response = self.http.post(resource, content=body,
                                          content_type=XML_CONTENT_TYPE, params=_json(),
                                          idempotent=False)
            except ShopHttpError as exc:
                if exc.status_code in (401, 403):
                    raise
                return ItemResult(key="", ok=False, error=_item_message(exc))
            except ShopRetriableError:
                try:
                    found = applied()
                except MappingError as exc:
                    return ItemResult(key="", ok=False, error=str(exc))
                if found is not None:
                    return ItemResult(key="", ok=True, shop_id=found)
                if attempt == POST_ATTEMPTS:
                    raise
                continue
            return ItemResult(key="", ok=True, shop_id=_created_id(response, resource))
        raise AssertionError("unreachable")  # pragma: no cover

    def _only_id(self, sku: str) -> str | None:
        """The id of the one product with this reference, None when there is none."""
        ids = self.find_products_by_sku([sku]).get(sku, [])
        if len(ids) > 1:
            raise MappingError(f"reference {sku!r} is on {len(ids)} products "
                               f"({', '.join(ids[:5])}) after a create that failed midway; "
                               "not guessing which one is ours")
        return ids[0] if ids else None

    def _order_if_in_state(self, order_id: str, state: str) -> str | None:
        """`order_id` when the order is in `state` now (a write that did land), else None."""
        return order_id if self._order_state(order_id) == state else None

    def _order_state(self, order_id: str) -> str | None:
        rows = self._list("orders", {"display": "[id,current_state]",
                                     "filter[id]": f"[{order_id}]"})
        return str(rows[0].get("current_state")) if rows and isinstance(rows[0], Mapping) else None

    def _write(self, method: str, path: str, body: bytes, *, idempotent: bool) -> str | None:
        """One XML write; None when it succeeded, the shop's one-line reason when it refused
        this item (4xx). Transient failures that outlive the retries raise."""
        try:
            self.http.request(method, path, params=_json(), content=body,
                              content_type=XML_CONTENT_TYPE, idempotent=idempotent)
        except ShopHttpError as exc:
            if exc.status_code in (401, 403):
                raise  # the key, not this item: the run cannot go on
            return _item_message(exc)
        return None

    # -- what pages refer to ------------------------------------------------------------------

    def _load_catalog(self) -> Catalog:
        """Default language, active languages and tax rates, read once per client (5 calls)."""
        if self._catalog is not None:
            return self._catalog
        # _objects everywhere: a row that is not an object (a hostile answer) is skipped.
        config = {str(r.get("name")): str(r.get("value") or "") for r in _objects(self._list(
            "configurations", {"display": "[name,value]",
                               "filter[name]": "[PS_LANG_DEFAULT|PS_COUNTRY_DEFAULT]"}))}
        default_lang = config.get("PS_LANG_DEFAULT", "").strip()
        country = config.get("PS_COUNTRY_DEFAULT", "").strip()
        if not _ascii_digits(default_lang) or not _ascii_digits(country):
            raise ShopError("prestashop: configurations PS_LANG_DEFAULT / PS_COUNTRY_DEFAULT are "
                            "not readable; give the webservice key GET on configurations")
        languages = tuple(str(r.get("id")) for r in _objects(self._list(
            "languages", {"display": "[id,active]", "filter[active]": "[1]", "sort": "[id_ASC]"})))
        groups = {str(r.get("id")) for r in _objects(self._list(
            "tax_rule_groups", {"display": "[id,active]", "filter[active]": "[1]"}))
            if _ascii_digits(str(r.get("id")))}  # Catalog.group_for sorts them as numbers
        rules = _objects(self._list("tax_rules", {
            "display": "[id_tax_rules_group,id_state,id_tax]",
            "filter[id_country]": f"[{country}]", "sort": "[id_ASC]"}))
        rates = {str(r.get("id")): r.get("rate") for r in _objects(self._list(
            "taxes", {"display": "[id,rate]"}))}
        group_rates: dict[str, Decimal] = {}
        # Country-wide rules (id_state 0) first: a state-specific rule must not decide the rate.
        for rule in sorted(rules, key=lambda r: str(r.get("id_state", "0")) != "0"):
            group = str(rule.get("id_tax_rules_group"))
            rate = rates.get(str(rule.get("id_tax")))
            if group in groups and group not in group_rates and rate not in (None, ""):
                try:
                    group_rates[group] = mapping.decimal(rate, "tax rate").quantize(Decimal("0.01"))
                except MappingError:
                    continue
        self._catalog = Catalog(default_lang=default_lang,
                                languages=languages or (default_lang,),
                                group_rates=group_rates)
        return self._catalog

    def _state_ids(self) -> frozenset[str]:
        """Ids of the shop's order states (read once per client, with their paid flags)."""
        self._load_states()
        return self._state_set

    def _load_states(self) -> None:
        if self._states_loaded:
            return
        states = [s for s in self._list("order_states", {"display": "[id,paid]"})
                  if isinstance(s, Mapping)]
        self._state_set = frozenset(str(s.get("id")) for s in states)
        self._refs.paid_states = frozenset(str(s.get("id")) for s in states
                                           if mapping.flag(s, "paid"))
        self._states_loaded = True

    def _order_refs(self, orders: Sequence[Any]) -> OrderRefs:
        """Customers and invoice addresses of this page (one list call each); states,
        currencies, carriers and countries are read once and remembered."""
        refs = self._refs
        self._load_states()
        if not self._refs_loaded:
            refs.currencies = {str(c.get("id")): str(c.get("iso_code") or "") for c in
                               _objects(self._list("currencies", {"display": "[id,iso_code]"}))}
            self._refs_loaded = True
        wanted = mapping.order_refs_wanted(orders)
        refs.customers = self._lookup("customers", wanted["customers"],
                                      "[id,email,firstname,lastname,company]")
        refs.addresses = self._lookup("addresses", wanted["addresses"], "full")
        new_carriers = wanted["carriers"] - refs.carriers.keys()
        for carrier_id, row in self._lookup("carriers", new_carriers, "[id,name]").items():
            refs.carriers[carrier_id] = str(row.get("name") or "").strip()
        countries = {str(a.get("id_country")) for a in refs.addresses.values()} - \
            refs.countries.keys()
        for country_id, row in self._lookup("countries", countries, "[id,iso_code]").items():
            refs.countries[country_id] = str(row.get("iso_code") or "")
        return refs


# -- module helpers ---------------------------------------------------------------------------


def api_base_url(base_url: str) -> str:
    """The shop's address as the owner knows it → the Webservice base (always ending in `/`)."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ShopError(f"prestashop base_url must be an http(s) address, got {base_url!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}{API_PATH}"


def _json() -> dict[str, str]:
    return {"output_format": "JSON"}


def _row_key(row: Any) -> tuple[str, str]:
    if isinstance(row, Mapping):
        return str(row.get("id")), str(row.get("date_upd") or "")
    return "?", repr(row)


def _is_wire_time(value: str) -> bool:
    try:
        localtime.parse_local(value)
    except ValueError:
        return False
    return value != mapping.ZERO_DATE


def _created_id(response: ShopResponse, resource: str) -> str:
    element = {"products": "product", "order_histories": "order_history"}[resource]
    try:
        return mapping.object_id(mapping.single(response.data, element))
    except MappingError as exc:
        raise ShopError(f"prestashop POST {resource}: unexpected answer ({exc})") from None


def _int_id(value: str | None) -> str | None:
    text = str(value or "").strip()
    return str(int(text)) if _ascii_digits(text) and int(text) > 0 else None


def _objects(rows: Sequence[Any]) -> list[Mapping[str, Any]]:
    return [row for row in rows if isinstance(row, Mapping)]


def _ascii_digits(text: str) -> bool:
    """Digits int() accepts: "²" and "١" pass str.isdigit() but not int()."""
    return text.isascii() and text.isdigit()


def _int_or_none(value: Any) -> str | None:
    return _int_id(str(value)) if value is not None else None


def _item_message(exc: ShopHttpError) -> str:
    """`prestashop PUT /api/products/7: HTTP 400 85: Validation error…` → the shop's part."""
    text = str(exc)
    return text.split(": ", 1)[1] if ": " in text else text


def _parse_page(raw: Sequence[Any], parse: Callable[[Any], T]) -> Page[T]:
    page: Page[T] = Page()
    for row in raw:
        try:
            page.items.append(parse(row))
        except MappingError as exc:
            page.errors.append(ItemError(key=mapping.item_key(row), message=str(exc)))
    return page


def _extend(page: Page[T], more: Page[T]) -> None:
    page.items.extend(more.items)
    page.errors.extend(more.errors)


def _sku_chunks(skus: Sequence[str]) -> Iterator[list[str]]:
    chunk: list[str] = []
    size = 0
    for sku in skus:
        if chunk and size + len(sku) + 1 > SKU_QUERY_MAX_CHARS:
            yield chunk
            chunk, size = [], 0
        chunk.append(sku)
        size += len(sku) + 1
    if chunk:
        yield chunk
