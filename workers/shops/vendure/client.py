"""The Vendure 3 connector: the Admin GraphQL API at `{base_url}/admin-api`.

Read it like a set of Singer streams: `ListQuery` names a list field, its filter and the time
field the pages are ordered by; `_pages` pages through it (skip/take, keyset on that time field);
`mapping.py` parses rows. Writes are Vendure's array mutations, with a per-item fallback because
one bad item fails a whole array call.

Platform facts designed around (observed on Vendure 3.7.3, see tests/vendure):
- every answer is HTTP 200, failures included: GraphQL `errors[]` (code in `extensions.code`) and
  typed `ErrorResult`s inside `data` (a refused state transition) are both failures here;
- `take` is capped at 1000 (`adminListQueryLimit`); pages by time ask for 250, reads by id
  (`filter: {id: {in: …}}`) for up to the whole limit at once, and both for less when a shop's
  configured limit is lower (its refusal names the limit);
- a sort object with several keys is applied in the *schema's* field order, not ours (`{updatedAt,
  id}` sorts by id first), so there is no usable tie-break: we sort by one time field, page by
  offset only inside a tie, and drop rows already read;
- settling a payment, shipping and delivering a fulfilment leave the order's `updatedAt` alone
  (only their own `updatedAt` moves): besides the `updatedAt` window, every read re-scans the
  placed, non-terminal orders of the last `rescan_window`, and the terminal ones whose payments
  or fulfilments changed in the window (an order delivered between two runs);
- carts are orders too (`AddingItems`, `ArrangingPayment`, and admin drafts in `Draft`): only
  orders with `orderPlacedAt` set are read — that is Vendure's own definition of "placed", set
  when the first payment is authorised or settled, the moment it also allocates stock. Reads by
  id and the reconciliation's id list use the same definition, so a cart is never "missing";
- SKUs are not unique: `find_products_by_sku` returns every variant carrying one.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import httpx

from shared.redact import register_secret
from workers.domain import ItemError, ItemResult, Order, Page, Product, StatusChange, StockQuantity
from workers.ports import ShopConnection, ShopError
from workers.shops.http import ShopHttp, ShopHttpError
from workers.shops.vendure import mapping, queries
from workers.shops.vendure.mapping import Channel, MappingError

T = TypeVar("T")

API_PATH = "admin-api"
AUTH_TOKEN_HEADER = "vendure-auth-token"
API_KEY_HEADER = "vendure-api-key"

#: Strict `after` bounds move back this much: sql.js stores whole seconds, PostgreSQL
#: milliseconds; re-reading the boundary second costs a few duplicates, which are dropped.
_BOUNDARY = timedelta(seconds=1)

#: GraphQL error codes that concern the item a mutation was about, not the whole run.
ITEM_ERROR_CODES = frozenset({"USER_INPUT_ERROR", "ENTITY_NOT_FOUND", "BAD_USER_INPUT",
                              "ILLEGAL_OPERATION"})

#: The permissions the connector needs (its role in Vendure): catalogue and orders, plus the
#: tax rates (with their customer groups) and stock locations it reads from the channel.
PERMISSIONS = ("ReadCatalog", "CreateCatalog", "UpdateCatalog", "ReadOrder", "UpdateOrder",
               "ReadTaxRate", "ReadCustomerGroup", "ReadStockLocation")

#: What an ERP status may ask for beyond a plain order transition.
SHIPPED, DELIVERED, CANCELLED = "Shipped", "Delivered", "Cancelled"
FULFILLMENT_HANDLER = "manual-fulfillment"
#: Default fulfilment process: Created → Pending → Shipped → Delivered (or Cancelled).
_FULFILMENT_RANK = {"Created": 0, "Pending": 1, SHIPPED: 2, DELIVERED: 3}


class GraphQLError(ShopError):
    """A GraphQL `errors[]` answer; `code` is `extensions.code` (FORBIDDEN, USER_INPUT_ERROR…)."""

    def __init__(self, message: str, *, code: str | None) -> None:
        super().__init__(message)
        self.code = code


class ItemFailure(Exception):
    """One item of a write failed (an ErrorResult or an item-level GraphQL error)."""


class _TakeRefused(Exception):
    """The shop refused a `take` that had to come whole; `list_limit` now holds its limit."""


@dataclass(frozen=True, slots=True)
class ListQuery:
    """One Admin API list read page by page: the stream's definition.

    `time_field` orders the pages and bounds them (strictly after `lower`, before `upper`);
    `filter` is ANDed with those bounds.
    """

    document: str
    field: str
    time_field: str
    # dataclasses.field by its full name: the attribute `field` above shadows it for mypy.
    filter: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    lower: datetime | None = None
    upper: datetime | None = None


class VendureClient:
    """ShopClient for Vendure 3 (Admin GraphQL API)."""

    platform: ClassVar[str] = "vendure"
    #: Vendure refuses `take` above 1000; 250 keeps an order page around a megabyte.
    page_size: int = 250
    #: The most rows one list call may return (`adminListQueryLimit`, 1000 by default): reads by
    #: id ask for this many ids at once. Lowered when a shop's refusal names a smaller limit.
    list_limit: int = 1000
    #: Items per array mutation; Vendure documents no cap, each call is one DB transaction.
    batch_size: int = 100
    #: How far back the re-scan of non-terminal orders reaches (by `orderPlacedAt`). Older
    #: orders still open are an operator's business, not worth re-reading every few minutes.
    rescan_window: timedelta = timedelta(days=30)
    limitations: ClassVar[tuple[str, ...]] = (
        "Order statuses are Vendure state names (PaymentSettled, Shipped, Delivered, "
        "Cancelled, …); Shipped and Delivered are reached through one manual fulfilment of "
        "everything not yet fulfilled.",
        "Payment and fulfilment changes do not move an order's updatedAt: placed orders not yet "
        "Delivered or Cancelled are re-read on every import, for 30 days after placement, and "
        "closed ones whose payments or fulfilments changed since the last import.",
        "Vendure has no EAN, weight or NIP fields: EAN and weight are not exported, and "
        "imported products and customers come without them.",
        "Stock is written to the channel's first stock location; stock held in other locations "
        "is left alone and adds to what the shop may sell.",
        "With an API key Vendure checks the key with bcrypt for every top-level field of every "
        "request (about 0.25 s of server time each on Vendure 3.7); a user name and password "
        "(bearer session) avoid that cost.",
        "An ERP VAT rate without an enabled tax rate of that value in the channel's default "
        "tax zone makes the product an item error.",
        "On a channel whose prices exclude tax (pricesIncludeTax off) Vendure keeps a whole net "
        "price and shows round(net × (1 + rate)): some gross prices cannot be reached (0.99 at "
        "23 % shows as 0.98), and an import of products brings that price back. Channels with "
        "prices including tax keep every gross price exactly.",
    )

    def __init__(
        self,
        conn: ShopConnection,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.conn = conn
        if not conn.api_key:
            raise ShopError(f"vendure integration {conn.integration_id} needs api_key: an API key, "
                            "or an administrator's user name with the password in api_secret")
        #: Log in for a bearer token when a password is given; otherwise api_key is an API key.
        self._login_mode = bool(conn.api_secret)
        self._token: str | None = None
        self._saw_token_header: str | None = None
        self._channel_probe: bool | None = None
        self._channel: Channel | None = None
        headers = {} if self._login_mode else {API_KEY_HEADER: conn.api_key}
        self.http = ShopHttp(
            server_url(conn.base_url),
            platform=self.platform,
            headers=headers,
            auth=_Bearer(self) if self._login_mode else None,
            transport=transport,
            verify=conn.verify_tls,
            sleep=sleep,
            observe=self._observe,
            error_detail=graphql_error_detail,
            secrets=(conn.api_key, conn.api_secret),
        )

    # -- orders -------------------------------------------------------------------------------

    def iter_orders(self, since: datetime, until: datetime) -> Iterator[Page[Order]]:
        # Placed orders only (see the module docstring for why `orderPlacedAt`).
        delta = ListQuery(queries.ORDERS, "orders", "updatedAt",
                          filter={"orderPlacedAt": {"isNull": False}},
                          lower=since - _BOUNDARY, upper=until + _BOUNDARY)
        seen: set[str] = set()
        for rows in self._pages(delta):
            seen.update(str(row.get("id")) for row in rows)
            yield _parse_page(rows, mapping.parse_order)
        # The delta comes first: the engine moves its cursor as pages commit, and the re-scan's
        # orders may be older than the window.
        rescan = ListQuery(queries.ORDERS, "orders", "orderPlacedAt",
                           filter={"state": {"notIn": list(mapping.TERMINAL_ORDER_STATES)}},
                           lower=until - self.rescan_window, upper=until + _BOUNDARY)
        for rows in self._pages(rescan):
            fresh = [row for row in rows if str(row.get("id")) not in seen]
            seen.update(str(row.get("id")) for row in fresh)
            if fresh:
                yield _parse_page(fresh, mapping.parse_order)
        # An order that reached a terminal state since the last run through its fulfilments
        # (Delivered) moved neither its own `updatedAt` nor is it open any more; its
        # fulfilments' and payments' `updatedAt` did move. Find those in a light list, then
        # read them whole by id.
        closed = [oid for oid in self._recently_closed(since - _BOUNDARY, until) if oid not in seen]
        if closed:
            yield self.fetch_orders(closed)

    def _recently_closed(self, since: datetime, until: datetime) -> Iterator[str]:
        """Ids of orders in a terminal state, placed within `rescan_window`, whose latest
        change (the order's, its payments' or fulfilments' `updatedAt`) is after `since`."""
        query = ListQuery(queries.ORDER_STAMPS, "orders", "orderPlacedAt", filter={
            "state": {"in": list(mapping.TERMINAL_ORDER_STATES)},
            "orderPlacedAt": {"after": mapping.iso_z(until - self.rescan_window),
                              "before": mapping.iso_z(until + _BOUNDARY)}})
        for rows in self._pages_by_offset(query, whole_limit=True):
            for row in rows:
                if not mapping.is_id(row.get("id")):
                    continue
                try:
                    changed = mapping.order_modified(row, since)
                except MappingError:
                    continue
                if changed > since:
                    yield str(row["id"])

    def fetch_orders(self, ids: Sequence[str]) -> Page[Order]:
        """Placed orders by id, `list_limit` ids a call; a cart's id is simply absent."""
        rows = [row for chunk in self._by_ids(queries.ORDERS, "orders", ids,
                                              {"orderPlacedAt": {"isNull": False}})
                for row in chunk]
        return _parse_page(rows, mapping.parse_order)

    def iter_order_ids(self, since: datetime, until: datetime) -> Iterator[list[str]]:
        """Ids of the orders *placed* in [since, until]: Vendure's `createdAt` is when the cart
        was made, which may be long before the order exists; `orderPlacedAt` is iter_orders'
        definition of an order. Sorted by id, which never changes, so offset paging over a set
        that only grows at its tail cannot skip a row."""
        query = ListQuery(queries.ORDER_IDS, "orders", "orderPlacedAt", filter={
            "orderPlacedAt": {"between": {"start": mapping.iso_z(since),
                                          "end": mapping.iso_z(until)}}})
        for rows in self._pages_by_offset(query, whole_limit=True):
            ids = [str(row["id"]) for row in rows if mapping.is_id(row.get("id"))]
            if ids:
                yield ids

    def set_order_statuses(self, changes: Sequence[StatusChange]) -> list[ItemResult]:
        orders = self._orders_by_id([c.external_id for c in changes])
        results = []
        for change in changes:
            order = orders.get(change.external_id)
            if order is None:
                results.append(ItemResult(change.external_id, False,
                                          error="the order does not exist in the shop"))
                continue
            try:
                self._move_order(order, change.shop_status.strip())
            except ItemFailure as exc:
                results.append(ItemResult(change.external_id, False, shop_id=change.external_id,
                                          error=str(exc)))
                continue
            results.append(ItemResult(change.external_id, True, shop_id=change.external_id))
        return results

    def _move_order(self, order: Mapping[str, Any], target: str) -> None:
        """The mutations that take one order to `target`; Vendure has no free-form status.

        Shipped/Delivered go through fulfilments (the order follows them), Cancelled through
        cancelOrder, anything else is a plain order transition. Each step re-reads nothing: the
        order was read just before, and a step that fails leaves a state the next run resumes
        from (a created but unshipped fulfilment is shipped next time, not created twice).
        """
        state = str(order.get("state"))
        if state == target or (state == DELIVERED and target == SHIPPED):
            return  # already there (or past it): nothing to send
        oid = str(order["id"])
        if target == CANCELLED:
            result = self._mutate(queries.CANCEL_ORDER, {"input": {
                "orderId": oid, "cancelShipping": True, "reason": "Cancelled in the ERP"}})
            _expect(result["cancelOrder"], "Order")
            return
        if target in (SHIPPED, DELIVERED):
            if state == CANCELLED:
                raise ItemFailure(f"the order is {CANCELLED} in the shop; it cannot be {target}")
            self._fulfil(order, target)
            return
        result = self._mutate(queries.TRANSITION_ORDER, {"id": oid, "state": target})
        _expect(result["transitionOrderToState"], "Order")

    def _fulfil(self, order: Mapping[str, Any], target: str) -> None:
        """Ship (and deliver) everything: one manual fulfilment for the lines not yet in a
        live fulfilment, then every fulfilment moved on to `target`. Vendure moves the order
        to Shipped/Delivered by itself once all its fulfilments are."""
        live = [f for f in order.get("fulfillments") or []
                if isinstance(f, Mapping) and f.get("state") != CANCELLED]
        fulfilled: dict[str, int] = {}
        for fulfilment in live:
            for line in fulfilment.get("lines") or []:
                key = str(line.get("orderLineId"))
                fulfilled[key] = fulfilled.get(key, 0) + int(line.get("quantity") or 0)
        missing = []
        for line in order.get("lines") or []:
            left = int(line.get("quantity") or 0) - fulfilled.get(str(line.get("id")), 0)
            if left > 0:
                missing.append({"orderLineId": str(line["id"]), "quantity": left})
        states = {str(f["id"]): str(f.get("state")) for f in live}
        if missing:
            result = self._mutate(queries.ADD_FULFILLMENT, {"input": {
                "lines": missing,
                "handler": {"code": FULFILLMENT_HANDLER, "arguments": [
                    {"name": "method", "value": "ERP"}, {"name": "trackingCode", "value": ""}]},
            }})
            created = _expect(result["addFulfillmentToOrder"], "Fulfillment")
            states[str(created["id"])] = str(created.get("state"))
        steps = [SHIPPED, DELIVERED] if target == DELIVERED else [SHIPPED]
        for fulfilment_id, state in states.items():
            for step in steps:
                if _FULFILMENT_RANK.get(state, 0) >= _FULFILMENT_RANK[step]:
                    continue
                result = self._mutate(queries.TRANSITION_FULFILLMENT,
                                      {"id": fulfilment_id, "state": step})
                state = str(_expect(result["transitionFulfillmentToState"], "Fulfillment")["state"])

    def _orders_by_id(self, ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        return {str(row["id"]): row
                for rows in self._by_ids(queries.ORDERS_FOR_STATUS, "orders", ids)
                for row in rows}

    # -- products -----------------------------------------------------------------------------

    def find_products_by_sku(self, skus: Sequence[str]) -> dict[str, list[str]]:
        wanted = list(dict.fromkeys(s for s in skus if s))
        found: dict[str, list[str]] = {}
        for chunk in _chunks(wanted, self.page_size):
            query = ListQuery(queries.VARIANT_IDS_BY_SKU, "productVariants", "",
                              filter={"sku": {"in": chunk}})
            requested = set(chunk)
            for rows in self._pages_by_offset(query):
                for row in rows:
                    # Exact match only: on MySQL/MariaDB `IN` ignores case.
                    sku = row.get("sku")
                    if sku in requested:
                        ids = found.setdefault(sku, [])
                        if str(row["id"]) not in ids:
                            ids.append(str(row["id"]))
        return found

    def create_products(self, products: Sequence[Product]) -> list[ItemResult]:
        """One Vendure product per ERP product, holding one variant that carries the SKU.

        The parents are made in one aliased document (`createProduct` has no array form), their
        variants in one `createProductVariants` call. A parent whose variant could not be made is
        deleted again, so a failed create leaves nothing behind for the next run to trip on.
        """
        channel = self.channel()
        results: list[ItemResult | None] = [None] * len(products)
        prepared: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
        for i, product in enumerate(products):
            try:
                prepared.append((i, mapping.product_input(product, channel),
                                 mapping.variant_input(product, channel, product_id="")))
            except MappingError as exc:
                results[i] = ItemResult(product.sku, False, error=str(exc))
        made = self._mutate_each("createProduct", "CreateProductInput", "id",
                                 [parent for _, parent, _ in prepared])
        parents: list[tuple[int, str, dict[str, Any]]] = []  # (index, product id, variant input)
        for (i, _, variant), answer in zip(prepared, made, strict=True):
            if isinstance(answer, ItemFailure):
                results[i] = ItemResult(products[i].sku, False, error=str(answer))
                continue
            product_id = str(answer["id"])
            parents.append((i, product_id, {**variant, "productId": product_id}))
        outcomes = self._write_array(queries.CREATE_VARIANTS, "createProductVariants",
                                     [body for _, _, body in parents])
        for (i, product_id, _), outcome in zip(parents, outcomes, strict=True):
            sku = products[i].sku
            if isinstance(outcome, ItemFailure):
                self._delete_orphan(product_id)
                results[i] = ItemResult(sku, False, error=str(outcome))
            else:
                results[i] = ItemResult(sku, True, shop_id=outcome)
        return [r for r in results if r is not None]

    def update_products(self, products: Sequence[Product]) -> list[ItemResult]:
        """Update the variants (`shop_id`) and, where the parent holds only that variant, the
        parent's name, description and visibility. A parent with several variants was built
        in Vendure by hand; its own texts are left to the shop."""
        channel = self.channel()
        parents = self._variant_parents([p.shop_id for p in products if p.shop_id])
        results: list[ItemResult | None] = [None] * len(products)
        sendable: list[tuple[int, dict[str, Any]]] = []
        for i, product in enumerate(products):
            if not product.shop_id or product.shop_id not in parents:
                results[i] = ItemResult(product.sku, False, shop_id=product.shop_id,
                                        error=f"variant {product.shop_id} is not in the shop "
                                              "(deleted there?)", gone=True)
                continue
            try:
                sendable.append((i, mapping.variant_input(product, channel,
                                                          variant_id=product.shop_id)))
            except MappingError as exc:
                results[i] = ItemResult(product.sku, False, shop_id=product.shop_id,
                                        error=str(exc))
        outcomes = self._write_array(queries.UPDATE_VARIANTS, "updateProductVariants",
                                     [body for _, body in sendable])
        own_parents: list[tuple[int, dict[str, Any]]] = []
        for (i, _), outcome in zip(sendable, outcomes, strict=True):
            product = products[i]
            if isinstance(outcome, ItemFailure):
                results[i] = ItemResult(product.sku, False, shop_id=product.shop_id,
                                        error=str(outcome))
                continue
            results[i] = ItemResult(product.sku, True, shop_id=product.shop_id)
            parent_id, siblings = parents[str(product.shop_id)]
            if siblings == 1:
                own_parents.append((i, mapping.product_input(product, channel,
                                                             product_id=parent_id)))
        outcomes = self._write_array(queries.UPDATE_PRODUCTS, "updateProducts",
                                     [body for _, body in own_parents])
        for (i, _), outcome in zip(own_parents, outcomes, strict=True):
            if isinstance(outcome, ItemFailure):
                product = products[i]
                results[i] = ItemResult(product.sku, False, shop_id=product.shop_id,
                                        error=f"variant updated, product not: {outcome}")
        return [r for r in results if r is not None]

    def iter_products(self, since: datetime | None, until: datetime) -> Iterator[Page[Product]]:
        upper = until + _BOUNDARY
        if since is None:
            # A full pass keyed on `createdAt`, which never changes: an edit during the pass
            # does not move a row, and a deletion does not shift the rows behind it.
            for rows in self._pages(ListQuery(queries.VARIANTS, "productVariants", "createdAt",
                                              upper=upper)):
                yield _parse_page(rows, mapping.parse_variant)
            return
        lower = since - _BOUNDARY
        seen: set[str] = set()
        for rows in self._pages(ListQuery(queries.VARIANTS, "productVariants", "updatedAt",
                                          lower=lower, upper=upper)):
            seen.update(str(row.get("id")) for row in rows)
            yield _parse_page(rows, mapping.parse_variant)
        # Renaming a product (or changing its description) leaves its variants' `updatedAt`
        # alone: read the products changed in the window too, with their variants.
        for rows in self._pages(ListQuery(queries.PRODUCTS_WITH_VARIANTS, "products",
                                          "updatedAt", lower=lower, upper=upper)):
            variants = [v for row in rows for v in row.get("variants") or []
                        if isinstance(v, dict) and str(v.get("id")) not in seen]
            seen.update(str(v.get("id")) for v in variants)
            if variants:
                yield _parse_page(variants, mapping.parse_variant)

    def set_stock(self, quantities: Sequence[StockQuantity]) -> list[ItemResult]:
        """Absolute stock on the channel's first stock location, so that Vendure's saleable
        quantity there (on hand − allocated) equals the ERP's number.

        The allocation is read right before the write; an order placed in between is
        allocated on top and corrected by the next run (Vendure has no compare-and-set).
        """
        channel = self.channel()
        location = channel.stock_location_id
        if location is None:
            raise ShopError("vendure: the channel has no stock location to hold stock")
        levels = self._stock_levels([q.shop_id for q in quantities if q.shop_id])
        results: list[ItemResult | None] = [None] * len(quantities)
        sendable: list[tuple[int, dict[str, Any]]] = []
        for i, item in enumerate(quantities):
            if not item.shop_id or item.shop_id not in levels:
                results[i] = ItemResult(item.sku, False, shop_id=item.shop_id,
                                        error=f"variant {item.shop_id} is not in the shop "
                                              "(deleted there?)", gone=True)
                continue
            try:
                on_hand = mapping.stock_on_hand(item.quantity, levels[item.shop_id], location)
            except MappingError as exc:  # the shop's own allocation count is garbage
                results[i] = ItemResult(item.sku, False, shop_id=item.shop_id, error=str(exc))
                continue
            sendable.append((i, {"id": item.shop_id, "stockLevels": [
                {"stockLocationId": location, "stockOnHand": on_hand}]}))
        outcomes = self._write_array(queries.UPDATE_VARIANTS, "updateProductVariants",
                                     [body for _, body in sendable])
        for (i, _), outcome in zip(sendable, outcomes, strict=True):
            item = quantities[i]
            if isinstance(outcome, ItemFailure):
                results[i] = ItemResult(item.sku, False, shop_id=item.shop_id, error=str(outcome))
            else:
                results[i] = ItemResult(item.sku, True, shop_id=item.shop_id)
        return [r for r in results if r is not None]

    def fetch_products(self, ids: Sequence[str]) -> Page[Product]:
        """Variants by id (a Product's `shop_id` is its variant's id), `list_limit` a call."""
        rows = [row for chunk in self._by_ids(queries.VARIANTS, "productVariants", ids)
                for row in chunk]
        return _parse_page(rows, mapping.parse_variant)

    def _variant_parents(self, ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        """variant id → (product id, number of variants the product has). A deleted variant is
        absent: `productVariants` lists only rows with `deletedAt` null (vendure-ecommerce/
        vendure, ProductVariantService.findAll), which is how a variant deleted in the shop
        shows up as `gone` in update_products and set_stock."""
        parents: dict[str, tuple[str, int]] = {}
        for rows in self._by_ids(queries.VARIANTS_FOR_UPDATE, "productVariants", ids):
            for row in rows:
                product = row.get("product") or {}
                count = (product.get("variantList") or {}).get("totalItems") or 0
                parents[str(row["id"])] = (str(product.get("id")), int(count))
        return parents

    def _stock_levels(self, ids: Sequence[str]) -> dict[str, list[Mapping[str, Any]]]:
        levels: dict[str, list[Mapping[str, Any]]] = {}
        for rows in self._by_ids(queries.VARIANT_STOCK, "productVariants", ids):
            for row in rows:
                levels[str(row["id"])] = [lv for lv in row.get("stockLevels") or []
                                          if isinstance(lv, Mapping)]
        return levels

    def _delete_orphan(self, product_id: str) -> None:
        """Best effort: the key may lack DeleteCatalog, and an empty product (no variant, no
        SKU) misleads nobody; the item error is what matters."""
        try:
            self._mutate(queries.DELETE_PRODUCT, {"id": product_id})
        except (ItemFailure, ShopError):
            pass

    def _write_array(self, document: str, field_name: str,
                     inputs: Sequence[dict[str, Any]]) -> list[str | ItemFailure]:
        """Send `inputs` to an array mutation in `batch_size` chunks; the id written for each
        input, or its ItemFailure. One bad input fails Vendure's whole call (one transaction),
        so a chunk that fails on an item-level error is sent again one input at a time."""
        outcomes: list[str | ItemFailure] = []
        for start in range(0, len(inputs), max(1, self.batch_size)):
            chunk = list(inputs[start:start + self.batch_size])
            try:
                outcomes.extend(self._write_chunk(document, field_name, chunk))
            except ItemFailure as exc:
                if len(chunk) == 1:
                    outcomes.append(exc)
                    continue
                for body in chunk:
                    try:
                        outcomes.extend(self._write_chunk(document, field_name, [body]))
                    except ItemFailure as single:
                        outcomes.append(single)
        return outcomes

    def _write_chunk(self, document: str, field_name: str,
                     chunk: list[dict[str, Any]]) -> list[str | ItemFailure]:
        answers = self._mutate(document, {"input": chunk}).get(field_name)
        if not isinstance(answers, list) or len(answers) != len(chunk):
            got = len(answers) if isinstance(answers, list) else "no"
            raise ShopError(f"vendure {field_name}: answered {got} results for {len(chunk)} "
                            "inputs")
        return [str(answer["id"]) if isinstance(answer, Mapping) and answer.get("id")
                else ItemFailure("the shop answered no id for this item") for answer in answers]

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> VendureClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- paging -------------------------------------------------------------------------------

    def _pages(self, query: ListQuery) -> Iterator[list[dict[str, Any]]]:
        """Rows of `query` in ascending `time_field` order, each row once (keyset paging).

        Offset paging over a set that changes while we read skips rows (an edited row jumps to
        the tail). So after each full page the lower bound moves to the last row's time less
        one second and paging restarts at offset 0; rows read again are dropped by (id, time).
        Only while a page cannot move the bound (all of it inside one second) do we page on by
        offset. A page reached by offset holding nothing new means the shop keeps answering the
        same rows: the run fails rather than loop or silently truncate.
        """
        lower, skip = query.lower, 0
        seen: set[tuple[str, str]] = set()
        while True:
            rows = self._request_page(query, lower, skip, take=self.page_size)
            keys = [_row_key(row, query.time_field) for row in rows]
            fresh = [row for row, key in zip(rows, keys, strict=True) if key not in seen]
            if skip and rows and not fresh:
                raise ShopError(f"vendure {query.field}: the page at offset {skip} repeats rows "
                                "already read in this run")
            seen.update(keys)
            if fresh:
                yield fresh
            if len(rows) < self.page_size:  # read after the call: a refusal may lower it
                return
            bound = _next_bound(rows, query.time_field)
            if bound is not None and (lower is None or bound > lower):
                lower, skip = bound, 0
            else:
                skip += len(rows)

    def _pages_by_offset(self, query: ListQuery, *, whole_limit: bool = False
                         ) -> Iterator[list[dict[str, Any]]]:
        """A list that does not change under us (an id filter, a past window), in id order;
        `page_size` rows a call, or the shop's whole `list_limit` for light rows."""
        skip = 0
        seen: set[str] = set()
        while True:
            rows = self._request_page(query, None, skip, sort={"id": "ASC"},
                                      take=self.list_limit if whole_limit else self.page_size)
            # Read after the call: a refusal of the take lowers both.
            size = self.list_limit if whole_limit else self.page_size
            ids = {str(row.get("id")) for row in rows}
            if skip and rows and ids <= seen:
                raise ShopError(f"vendure {query.field}: the page at offset {skip} repeats rows "
                                "already read in this run")
            seen |= ids
            if rows:
                yield rows
            if len(rows) < size:
                return
            skip += len(rows)

    def _by_ids(self, document: str, field_name: str, ids: Sequence[str],
                filter_: Mapping[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """The rows with these ids (`filter: {id: {in: …}}`), `list_limit` ids per call: an id
        matches one row at most, so `take` = the chunk's size brings every match in one call.
        An id the shop does not have is absent; so is one it cannot decode (Vendure's default
        id strategy reads it as -1)."""
        pending = list(dict.fromkeys(str(i) for i in ids if str(i)))
        while pending:
            chunk = pending[:self.list_limit]
            query = ListQuery(document, field_name, "id",
                              filter={**(filter_ or {}), "id": {"in": chunk}})
            try:
                rows = self._request_page(query, None, 0, sort={"id": "ASC"}, take=len(chunk),
                                          shrink=False)
            except _TakeRefused:
                continue  # the shop's limit is now known (list_limit): chunk again
            pending = pending[len(chunk):]
            yield rows

    def _request_page(self, query: ListQuery, lower: datetime | None, skip: int, *, take: int,
                      sort: Mapping[str, str] | None = None, shrink: bool = True,
                      ) -> list[dict[str, Any]]:
        """One list call. A `take` above the shop's limit lowers `page_size` and `list_limit`
        to the limit its refusal names; then the call is repeated with the smaller take, or,
        with `shrink` off (an id chunk that must come whole), _TakeRefused is raised."""
        bounds: dict[str, str] = {}
        if lower is not None:
            bounds["after"] = mapping.iso_z(lower)
        if query.upper is not None:
            bounds["before"] = mapping.iso_z(query.upper)
        filter_ = dict(query.filter)
        if bounds:
            filter_[query.time_field] = {**filter_.get(query.time_field, {}), **bounds}
        options: dict[str, Any] = {
            "skip": skip, "take": take,
            # One sort key only: Vendure applies several in its schema's order, not ours.
            "sort": dict(sort) if sort else {query.time_field: "ASC"},
        }
        if filter_:
            options["filter"] = filter_
        try:
            data = self._query(query.document, {"options": options})
        except GraphQLError as exc:
            limit = _take_limit(exc)
            if limit is None or limit >= take:
                raise
            # The shop lowered `adminListQueryLimit` below our take: use its limit from now on.
            self.page_size = min(self.page_size, limit)
            self.list_limit = min(self.list_limit, limit)
            if not shrink:
                raise _TakeRefused(limit) from None
            return self._request_page(query, lower, skip, take=limit, sort=sort)
        listing = data.get(query.field)
        if not isinstance(listing, Mapping) or not isinstance(listing.get("items"), list):
            raise ShopError(f"vendure {query.field}: the answer has no items list")
        return [row for row in listing["items"] if isinstance(row, dict)]

    # -- GraphQL ------------------------------------------------------------------------------

    def _query(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._graphql(document, variables, idempotent=True)

    def _mutate(self, document: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """A mutation whose GraphQL errors of the item kind become ItemFailure."""
        try:
            return self._graphql(document, variables, idempotent=False)
        except GraphQLError as exc:
            if exc.code in ITEM_ERROR_CODES:
                raise ItemFailure(str(exc)) from None
            raise
        except ShopHttpError as exc:
            if exc.status_code == 400 and exc.code in ITEM_ERROR_CODES:
                raise ItemFailure(str(exc)) from None
            raise

    def _graphql(self, document: str, variables: Mapping[str, Any] | None, *,
                 idempotent: bool) -> dict[str, Any]:
        """POST one document; the `data` of a clean answer, else GraphQLError/ShopError."""
        data, errors = self._post(document, variables, idempotent=idempotent)
        if errors:
            code, message = graphql_error_detail({"errors": errors})
            raise self._error(document, code, message)
        if data is None:
            raise ShopError(f"vendure {_operation(document)}: the answer has no data")
        return data

    def _post(self, document: str, variables: Mapping[str, Any] | None, *,
              idempotent: bool) -> tuple[dict[str, Any] | None, list[Mapping[str, Any]]]:
        """POST one document; (data, errors) as answered.

        A FORBIDDEN answer with a logged-in session logs in again once (the session may have
        expired or been revoked) and repeats the call.
        """
        self._ensure_session()
        body = {"query": document, "variables": dict(variables or {})}
        for attempt in (1, 2):
            response = self.http.post(API_PATH, json=body, idempotent=idempotent)
            answer = response.data if isinstance(response.data, Mapping) else None
            if answer is None:
                raise ShopError(f"vendure {_operation(document)}: the answer is not a GraphQL "
                                "response object")
            errors = [e for e in answer.get("errors") or [] if isinstance(e, Mapping)]
            if answer.get("errors") and not errors:
                errors = [{"message": str(answer["errors"])[:200]}]
            forbidden = any(_error_code(e) == "FORBIDDEN" for e in errors)
            if forbidden and self._login_mode and attempt == 1:
                self._token = None
                self._login()
                continue
            data = answer.get("data")
            return (data if isinstance(data, dict) else None), errors
        raise AssertionError("unreachable")

    def _mutate_each(self, field_name: str, input_type: str, selection: str,
                     inputs: Sequence[dict[str, Any]]) -> list[dict[str, Any] | ItemFailure]:
        """Run a single-item mutation for many inputs in one document, one alias per input.

        Vendure has no array form of some mutations (`createProduct`); a call per item would
        cost a round trip — and, with an API key, a bcrypt check on the server — each. Every
        root field runs in its own transaction, so one failing alias fails only its item.
        """
        if not inputs:
            return []
        header = ", ".join(f"$i{n}: {input_type}!" for n in range(len(inputs)))
        fields = " ".join(f"a{n}: {field_name}(input: $i{n}) {{ {selection} }}"
                          for n in range(len(inputs)))
        name = f"IluoEach{field_name[:1].upper()}{field_name[1:]}"
        document = f"mutation {name}({header}) {{ {fields} }}"
        data, errors = self._post(document, {f"i{n}": body for n, body in enumerate(inputs)},
                                  idempotent=False)
        by_alias: dict[str, Mapping[str, Any]] = {}
        for error in errors:
            path = error.get("path")
            alias = path[0] if isinstance(path, list) and path else None
            code = _error_code(error)
            if alias is None or code not in ITEM_ERROR_CODES:
                code, message = graphql_error_detail({"errors": [error]})
                raise self._error(document, code, message)
            by_alias.setdefault(str(alias), error)
        results: list[dict[str, Any] | ItemFailure] = []
        for n in range(len(inputs)):
            answer = (data or {}).get(f"a{n}")
            if f"a{n}" in by_alias:
                code, message = graphql_error_detail({"errors": [by_alias[f"a{n}"]]})
                results.append(ItemFailure(f"vendure {field_name}: {code}: {message}"))
            elif isinstance(answer, dict):
                results.append(answer)
            else:
                results.append(ItemFailure(f"vendure {field_name}: no answer for this item"))
        return results

    def _error(self, document: str, code: str | None, message: str | None) -> ShopError:
        operation = _operation(document)
        detail = ": ".join(part for part in (code, message) if part) or "unknown error"
        if code == "FORBIDDEN":
            if not self._credentials_accepted():
                return ShopError(self._not_authenticated(detail))
            return ShopError(
                f"vendure refused {operation} ({detail}): the {self._who()} lacks a permission "
                f"it needs. Give its role {', '.join(PERMISSIONS)}"
            )
        return GraphQLError(f"vendure {operation}: {detail}", code=code)

    def _who(self) -> str:
        return f"administrator {self.conn.api_key!r}" if self._login_mode else "API key"

    def _not_authenticated(self, detail: str) -> str:
        if self._login_mode:
            return (f"vendure did not accept the session of administrator {self.conn.api_key!r} "
                    f"({detail}); check the user name and password")
        if self._saw_token_header is not None:
            # The server read the key (it answered by clearing the session token): the key
            # itself is wrong, revoked or rotated.
            return (f"vendure rejected the API key ({detail}): the key is wrong, revoked or was "
                    "rotated; create a new one in Vendure (Settings › API Keys)")
        return (f"vendure did not accept the API key ({detail}). Most likely the server ignores "
                "API keys: Vendure reads the `vendure-api-key` header only when its "
                "authOptions.tokenMethod includes 'api-key' (Vendure 3.6 or newer) and says "
                "nothing when it does not. Enable it, or set api_key to an administrator's user "
                "name and api_secret to the password. Otherwise the key is wrong or revoked")

    def _ensure_session(self) -> None:
        """Log in first when the connection gives a password."""
        if self._login_mode and self._token is None:
            self._login()

    def _credentials_accepted(self) -> bool:
        """After a FORBIDDEN: are we authenticated at all? `activeChannel` is readable by any
        session, so FORBIDDEN there means the credentials were not accepted, while FORBIDDEN
        elsewhere only means a missing permission. Asked only on failure: with an API key each
        root field costs the server a bcrypt check (≈0.25 s on Vendure 3.7)."""
        if self._channel_probe is None:
            _, errors = self._post(queries.CHANNEL_PROBE, None, idempotent=True)
            self._channel_probe = not any(_error_code(e) == "FORBIDDEN" for e in errors)
        return self._channel_probe

    def _login(self) -> None:
        response = self.http.post(API_PATH, json={"query": queries.LOGIN, "variables": {
            "username": self.conn.api_key, "password": self.conn.api_secret}})
        answer = response.data if isinstance(response.data, Mapping) else {}
        if answer.get("errors"):
            code, message = graphql_error_detail(answer)
            raise ShopError(f"vendure login failed: {code}: {message}")
        result = (answer.get("data") or {}).get("login") or {}
        if result.get("__typename") != "CurrentUser":
            raise ShopError(f"vendure login of {self.conn.api_key!r} refused: "
                            f"{result.get('errorCode')}: {result.get('message')}")
        token = response.headers.get(AUTH_TOKEN_HEADER, "").strip()
        if not token:
            raise ShopError("vendure login succeeded but the server sent no bearer token: its "
                            "authOptions.tokenMethod must include 'bearer' (or use an API key)")
        register_secret(token)  # the session token opens the admin API like the password
        self._token = token

    def _observe(self, response: httpx.Response) -> None:
        token = response.headers.get(AUTH_TOKEN_HEADER)
        self._saw_token_header = token
        # Vendure may hand out a fresh token for the session; keep using the newest one.
        if token and self._login_mode and self._token is not None:
            register_secret(token.strip())
            self._token = token.strip()

    def channel(self) -> Channel:
        """The channel's language, currency, tax setup and stock location (read once)."""
        if self._channel is None:
            data = self._query(queries.CHANNEL)
            try:
                self._channel = mapping.channel_from(data.get("activeChannel") or {}, data)
            except MappingError as exc:  # without the channel nothing can be written
                raise ShopError(f"vendure: unusable channel settings ({exc})") from None
        return self._channel


class _Bearer(httpx.Auth):
    """Adds the client's current session token, read at send time (it may be renewed)."""

    def __init__(self, client: VendureClient) -> None:
        self._client = client

    def auth_flow(self, request: httpx.Request
                  ) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._client._token
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        yield request


# -- module helpers ---------------------------------------------------------------------------


def server_url(base_url: str) -> str:
    """The Vendure server's address as the owner knows it, with a trailing slash so the API
    path is added after any path prefix (a server behind `/shop/` keeps it)."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ShopError(f"vendure base_url must be an http(s) address, got {base_url!r}")
    path = parts.path.rstrip("/")
    if path.endswith("/" + API_PATH):  # tolerate an address copied with the API path on it
        path = path[: -len(API_PATH) - 1]
    return f"{parts.scheme}://{parts.netloc}{path}/"


def graphql_error_detail(body: Any) -> tuple[str | None, str | None]:
    """(extensions.code, message) of the first GraphQL error; also used by ShopHttp for 4xx."""
    if not isinstance(body, Mapping):
        return None, None
    errors = body.get("errors")
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], Mapping):
        return None, None
    first = errors[0]
    extensions = first.get("extensions")
    code = extensions.get("code") if isinstance(extensions, Mapping) else None
    message = first.get("message")
    return (str(code) if code else None, " ".join(str(message).split()) if message else None)


_TAKE_LIMIT = re.compile(r"Cannot take more than (\d+) results")


def _take_limit(exc: GraphQLError) -> int | None:
    """The shop's list limit from its refusal of our `take`, if that is what it refused."""
    match = _TAKE_LIMIT.search(str(exc)) if exc.code == "USER_INPUT_ERROR" else None
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


def _error_code(error: Mapping[str, Any]) -> str | None:
    extensions = error.get("extensions")
    code = extensions.get("code") if isinstance(extensions, Mapping) else None
    return str(code) if code else None


def _operation(document: str) -> str:
    """The operation name of a document (`IluoOrders`), for messages."""
    words = document.replace("(", " ").replace("{", " ").split()
    for i, word in enumerate(words[:-1]):
        if word in ("query", "mutation"):
            return words[i + 1]
    return "query"


def _expect(result: Any, typename: str) -> Mapping[str, Any]:
    """A union result must be `typename`; an ErrorResult becomes an item failure."""
    if not isinstance(result, Mapping):
        raise ItemFailure(f"unexpected answer {result!r:.80}")
    if result.get("__typename") == typename:
        return result
    message = result.get("transitionError") or result.get("message") or "no message"
    raise ItemFailure(f"{result.get('errorCode') or result.get('__typename')}: {message}")


def _row_key(row: Mapping[str, Any], time_field: str) -> tuple[str, str]:
    return str(row.get("id")), str(row.get(time_field))


def _next_bound(rows: Sequence[Mapping[str, Any]], time_field: str) -> datetime | None:
    """The next strict lower bound: the last row's time less the boundary second, or None
    when the last row has no usable time."""
    try:
        last = mapping.parse_time(rows[-1].get(time_field), time_field)
    except MappingError:
        return None
    return last - _BOUNDARY


def _parse_page(rows: Sequence[Any], parse: Callable[[Any], T]) -> Page[T]:
    page: Page[T] = Page()
    for row in rows:
        try:
            page.items.append(parse(row))
        except MappingError as exc:
            page.errors.append(ItemError(key=mapping.item_key(row), message=str(exc)))
    return page


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), max(1, size)):
        yield list(items[start:start + size])
