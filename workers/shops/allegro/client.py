"""The Allegro REST connector (the OCA "adapter"): a seller's account on the marketplace.

- Base: `base_url` is the API root (`https://api.allegro.pl`); every call sends
  `Accept: application/vnd.allegro.public.v1+json` and bodies with that content type. The
  seller's bearer token comes from `auth.TokenKeeper` (tokens in the tenant DB, refreshed before
  they end); OAuth itself lives on the host without `api.` (CONTRACT §5).
- Orders are checkout forms. `iter_orders` reads `GET /order/checkout-forms` filtered on
  `updatedAt` (the documented "last modification date"), 100 a page (the documented default and
  maximum), sorted by `updatedAt` ascending and keyset-paged: after each page the window starts
  at the page's last `updatedAt`, so the offset stays near 0 whatever the window holds and never
  nears the offset limit. Each page is checked to be inside the window and in order: a server
  that ignored the filter or the sort fails the run instead of losing forms. Why not the order
  event journal (`/order/events`): it keeps 60 days, needs its own position cursor beside the
  time watermark every other operation uses, and each event still costs a form read by id; the
  list carries whole forms, so one call brings 100 orders.
- Only forms READY_FOR_PROCESSING (and cancelled ones that had got that far) become orders
  (`mapping.importable`); forms still being filled in are skipped until they change again.
- `fetch_orders` reads forms one by one (the API has no list-by-ids); `iter_order_ids` lists
  ready forms by `lineItems.boughtAt`, halving a window whose `totalCount` would page past the
  offset limit.
- Statuses: `PUT /order/checkout-forms/{id}/fulfillment?checkoutForm.revision=…` with the
  form's current revision (optimistic lock); a 409 (changed meanwhile) re-reads it once.
- Stock: `PUT /sale/offer-quantity-change-commands/{uuid}` (one value per command, so offers are
  grouped by quantity, up to 1000 a command), then the command's task report, per offer. Stock 0
  cannot be a quantity on Allegro: the offer is ended (`offer-publication-commands` END) and
  remembered as ended by us; when stock returns, only offers we ended are activated again.
- Products: offers cannot be created without a product-catalogue decision; existing offers
  (matched by `external.id` = SKU) get their title and price (`PATCH /sale/product-offers/{id}`).
- Rate: `rate.RateGate` per client id; a 429 closes it instead of inviting retries.

Every behaviour relied on is cited in docs/fidelity/allegro.md; mapping lives in `mapping.py`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Self
from urllib.parse import urlencode

import httpx
import orjson

from workers.domain import ItemError, ItemResult, Order, Page, Product, StatusChange, StockQuantity
from workers.ports import ConnectorState, ShopConnection, ShopError
from workers.shops.allegro import mapping
from workers.shops.allegro.auth import (
    AuthorisationEnded,
    BasicAuth,
    BearerAuth,
    OAuthEndpoint,
    TokenKeeper,
    config_hint,
    oauth_base,
)
from workers.shops.allegro.mapping import Json, MappingError
from workers.shops.allegro.rate import RateGate, gate_for
from workers.shops.http import ShopHttp, ShopHttpError, ShopResponse

VND = "application/vnd.allegro.public.v1+json"
FORMS = "/order/checkout-forms"
OFFERS = "/sale/offers"
PRODUCT_OFFERS = "/sale/product-offers"
QUANTITY_COMMANDS = "/sale/offer-quantity-change-commands"
PUBLICATION_COMMANDS = "/sale/offer-publication-commands"

#: The largest offset + limit the checkout-form list takes (unverified: the reference says only
#: that out-of-range offsets answer 422; see the fidelity sheet).
MAX_OFFSET = 10_000
#: The offers list documents offset + limit ≤ 10 000 000.
OFFERS_MAX_OFFSET = 10_000_000
#: Values of a multi-valued offers filter sent in one call (keeps the URL well under 8 KiB).
SKUS_PER_CALL = 50
#: `external.id` values longer than this are not accepted by the filter.
MAX_SIGNATURE = 100
#: Offers per command (`offerCriteria`), and per offers-list page.
COMMAND_MAX = 1000
#: Tasks per report page: the documented default (the maximum is not documented).
TASKS_PAGE = 100
#: How often and how long a command's report is polled before its open tasks count as failed
#: (they are sent again by the next run: absolute quantities, idempotent).
POLL_EVERY = 1.0
POLL_FOR = 30.0

CREATE_REFUSED = ("Allegro: an offer cannot be created by the integrator (a new offer needs a "
                  "product from Allegro's catalogue, a choice only the seller can make); list it "
                  "in Allegro with the signature (external id) = SKU and the next export binds it")

#: Checkout form ids are UUIDs and offer ids digits: anything else cannot exist there.
_FORM_ID = re.compile(r"[0-9A-Za-z-]{1,64}")
_OFFER_ID = re.compile(r"[0-9]{1,20}")


class AllegroClient:
    """ShopClient for a seller's Allegro account."""

    platform: ClassVar[str] = "allegro"
    #: checkout-forms `limit` is 1..100.
    page_size: int = 100
    #: offers per quantity/publication command.
    batch_size: int = COMMAND_MAX
    #: For the benchmark's minimum (bench/bench_calls.py): an offer's title and price take one
    #: PATCH each, a status one PUT each, and a stock command carries one quantity.
    product_write_batch: ClassVar[int] = 1
    status_write_batch: ClassVar[int] = 1
    stock_writes_per_value: ClassVar[bool] = True
    #: offers per list page (orders come 100 a page, offers 1000).
    product_page_size: ClassVar[int] = COMMAND_MAX

    limitations: ClassVar[tuple[str, ...]] = (
        ("Needs the seller's authorisation first: iluo-sync integration-auth TENANT ID "
        "(OAuth device flow); a revoked or expired authorisation stops every run until renewed."),
        CREATE_REFUSED + ".",
        ("Export changes only the title (at most 75 characters) and price of existing offers; "
        "description, EAN, weight and VAT live in Allegro's product card and are not sent."),
        ("A product leaving the export scope is not ended on Allegro by export; stock 0 "
        "(update_stock) ends offers, and only offers ended that way are activated again."),
        ("An offer ended by the seller, or by Allegro unless it ended it for lack of stock, is "
        "never activated again by the integrator."),
        ("Product import reads every offer each run (the offers list has no modification "
        "filter); offers without a signature (external id) are item errors."),
        ("Orders are checkout forms: forms still being filled in are imported once they are "
        "ready for processing; the order status is the seller's fulfilment status."),
    )

    def __init__(
        self,
        conn: ShopConnection,
        *,
        transport: httpx.BaseTransport | None = None,
        oauth_transport: httpx.BaseTransport | None = None,
        state: ConnectorState | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        gate: RateGate | None = None,
        poll_every: float = POLL_EVERY,
        poll_for: float = POLL_FOR,
        max_offset: int = MAX_OFFSET,
    ) -> None:
        if not conn.api_key or not conn.api_secret:
            raise ShopError(f"allegro integration {conn.integration_id} needs api_key (the "
                            "application's client id) and api_secret (its client secret)")
        state = state if state is not None else conn.state
        if state is None:
            raise ShopError("allegro: the seller's tokens live in the tenant database; this "
                            "connector runs only through the service (iluo-sync run)")
        self.conn = conn
        self.state = state
        self._sleep = sleep
        self._monotonic = monotonic
        self.poll_every = poll_every
        self.poll_for = poll_for
        self.max_offset = max_offset
        root = api_root(conn.base_url)
        secrets = (conn.api_key, conn.api_secret)
        self.gate = gate if gate is not None else gate_for(root, conn.api_key)
        self.auth = BearerAuth()
        self.http = ShopHttp(
            root, platform=self.platform, auth=self.auth, headers={"Accept": VND},
            transport=transport, verify=conn.verify_tls, sleep=sleep,
            limiter=self.gate.acquire, observe=self.gate.observe, secrets=secrets)
        self.oauth_http = ShopHttp(
            oauth_base(root), platform=self.platform, auth=BasicAuth(conn.api_key, conn.api_secret),
            transport=oauth_transport if oauth_transport is not None else transport,
            verify=conn.verify_tls, sleep=sleep, limiter=self.gate.acquire,
            observe=self.gate.observe, secrets=secrets)
        self.tokens = TokenKeeper(state, OAuthEndpoint(self.oauth_http, conn.api_key,
                                                       conn.api_secret, clock),
                                  conn.integration_id, clock)

    # -- orders ---------------------------------------------------------------------------------

    def iter_orders(self, since: datetime, until: datetime) -> Iterator[Page[Order]]:
        """Ready forms changed in [since, until], keyset-paged on `updatedAt` (see module doc);
        a form read twice in one run (a tie re-read) is emitted once."""
        low, offset = since, 0
        seen: set[tuple[str, datetime]] = set()
        while True:
            forms = self._forms({"updatedAt.gte": mapping.wire_time(low),
                                 "updatedAt.lte": mapping.wire_time(until),
                                 "sort": "updatedAt", "limit": self.page_size, "offset": offset})
            stamps = self._check_window(forms, low, until)
            page: Page[Order] = Page()
            for form, stamp in zip(forms, stamps, strict=True):
                key = (mapping.form_id(form), stamp)
                if key in seen:
                    continue
                seen.add(key)
                self._take(form, page)
            if page.items or page.errors:
                yield page
            if len(forms) < self.page_size:
                return
            last = stamps[-1]
            if last > low and stamps.count(last) < len(forms):
                low, offset = last, 0  # keyset: re-reading the ties costs nothing (deduped)
            else:  # a whole page at one instant: page on through it by offset
                offset += len(forms)
                if offset + self.page_size > self.max_offset:
                    raise ShopError(f"allegro GET {FORMS}: more than {self.max_offset} forms share "
                                    f"updatedAt {mapping.wire_time(last)}; cannot page past it")

    def _check_window(self, forms: list[Json], low: datetime, high: datetime) -> list[datetime]:
        """The forms' `updatedAt`, checked to lie in the window and ascend: a server that ignored
        the filter or the sort would otherwise make the keyset skip forms."""
        stamps: list[datetime] = []
        for form in forms:
            try:
                stamp = mapping.timestamp(form.get("updatedAt"), "updatedAt")
            except MappingError:
                # Unreadable: it cannot steer the keyset; order it where it stands.
                stamp = stamps[-1] if stamps else low
            if not low - timedelta(milliseconds=1) <= stamp <= high + timedelta(milliseconds=1):
                raise ShopError(f"allegro GET {FORMS}: the answer ignored the updatedAt filter "
                                f"(form {mapping.form_id(form)!r} of {mapping.wire_time(stamp)})")
            if stamps and stamp < stamps[-1]:
                raise ShopError(f"allegro GET {FORMS}: the answer is not sorted by updatedAt; "
                                "refusing to page through it")
            stamps.append(stamp)
        return stamps

    def _take(self, form: Json, page: Page[Order]) -> None:
        if not mapping.importable(form):
            return
        try:
            page.items.append(mapping.parse_order(form))
        except MappingError as exc:
            page.errors.append(ItemError(key=mapping.form_id(form) or "(no id)", message=str(exc)))

    def _forms(self, params: Mapping[str, Any]) -> list[Json]:
        data = self._call("GET", FORMS, params=params).data
        forms = data.get("checkoutForms") if isinstance(data, dict) else None
        if not isinstance(forms, list) or not all(isinstance(f, dict) for f in forms):
            raise ShopError(f"allegro GET {FORMS}: the answer holds no checkoutForms list")
        return forms

    def fetch_orders(self, ids: Sequence[str]) -> Page[Order]:
        """Forms by id, one call each (the API has no list by ids). An id Allegro does not have,
        or a form not ready yet, is absent."""
        page: Page[Order] = Page()
        for form_id in dict.fromkeys(i.strip() for i in ids):
            if not _FORM_ID.fullmatch(form_id):
                continue
            form = self._get_or_none(f"{FORMS}/{form_id}")
            if isinstance(form, dict):
                self._take(form, page)
        return page

    def iter_order_ids(self, since: datetime, until: datetime) -> Iterator[list[str]]:
        """Ids of ready forms bought in [since, until], by offset; a window whose `totalCount`
        would page past the offset limit is halved first."""
        windows = [(since, until)]
        seen: set[str] = set()  # halves share their middle (both bounds are inclusive)
        while windows:
            low, high = windows.pop(0)
            params = {"status": mapping.READY,
                      "lineItems.boughtAt.gte": mapping.wire_time(low),
                      "lineItems.boughtAt.lte": mapping.wire_time(high),
                      "sort": "lineItems.boughtAt", "limit": self.page_size}
            offset = 0
            while True:
                data = self._call("GET", FORMS, params={**params, "offset": offset}).data
                forms = data.get("checkoutForms") if isinstance(data, dict) else None
                if not isinstance(forms, list):
                    raise ShopError(f"allegro GET {FORMS}: the answer holds no checkoutForms list")
                total = data.get("totalCount") if isinstance(data, dict) else None
                if (offset == 0 and isinstance(total, int) and total > self.max_offset
                        and high - low > timedelta(seconds=1)):
                    middle = low + (high - low) / 2
                    windows[:0] = [(low, middle), (middle, high)]
                    break
                ids = [i for i in (mapping.form_id(f) for f in forms) if i and i not in seen]
                seen.update(ids)
                if ids:
                    yield ids
                offset += len(forms)
                if len(forms) < self.page_size:
                    break
                if offset + self.page_size > self.max_offset:
                    raise ShopError(f"allegro GET {FORMS}: more than {self.max_offset} forms "
                                    "bought within one second; cannot list them")

    def set_order_statuses(self, changes: Sequence[StatusChange]) -> list[ItemResult]:
        return [self._set_status(change) for change in changes]

    def _set_status(self, change: StatusChange) -> ItemResult:
        key = change.external_id
        status = change.shop_status.strip().upper()
        if status not in mapping.FULFILLMENT_STATUSES:
            return ItemResult(key, False, key, error=(
                f"{change.shop_status!r} is not an Allegro fulfilment status (expected one of "
                f"{', '.join(sorted(mapping.FULFILLMENT_STATUSES))})"))
        if not _FORM_ID.fullmatch(key):
            return ItemResult(key, False, key, error=f"{key!r} is not an Allegro order id")
        for attempt in (1, 2):
            form = self._get_or_none(f"{FORMS}/{key}")
            if form is None:
                return ItemResult(key, False, key, error="Allegro has no such order")
            try:
                self._call("PUT", f"{FORMS}/{key}/fulfillment", json={"status": status},
                           params={"checkoutForm.revision": mapping.revision(form)})
                return ItemResult(key, True, key)
            except ShopHttpError as exc:
                if exc.status_code == 409 and attempt == 1:
                    continue  # changed since we read it: read the new revision once
                return ItemResult(key, False, key, error=str(exc))
        return ItemResult(key, False, key, error="the order kept changing")

    # -- products -------------------------------------------------------------------------------

    def find_products_by_sku(self, skus: Sequence[str]) -> dict[str, list[str]]:
        """Offers whose `external.id` is exactly the SKU: the filter takes many values at once
        (`external.id=A&external.id=B`), so SKUS_PER_CALL SKUs cost one read. A SKU longer than
        the filter takes (100 characters) cannot be an offer's signature."""
        wanted = [s for s in dict.fromkeys(skus) if s and s.strip() and len(s) <= MAX_SIGNATURE]
        found: dict[str, list[str]] = {}
        for start in range(0, len(wanted), SKUS_PER_CALL):
            chunk = wanted[start:start + SKUS_PER_CALL]
            asked = set(chunk)
            for offers in self._offer_pages([("external.id", sku) for sku in chunk]):
                for offer in offers:
                    offer_id, sku = mapping.offer_id(offer), mapping.offer_sku(offer)
                    if offer_id and sku in asked and offer_id not in found.get(sku, []):
                        found.setdefault(sku, []).append(offer_id)
        return found

    def create_products(self, products: Sequence[Product]) -> list[ItemResult]:
        return [ItemResult(p.sku, False, error=CREATE_REFUSED) for p in products]

    def update_products(self, products: Sequence[Product]) -> list[ItemResult]:
        results: list[ItemResult] = []
        for product in products:
            offer_id = (product.shop_id or "").strip()
            if not _OFFER_ID.fullmatch(offer_id):
                results.append(ItemResult(product.sku, False, product.shop_id,
                                          error=f"{product.shop_id!r} is not an Allegro offer id"))
                continue
            try:
                body = mapping.offer_patch(product)
            except MappingError as exc:
                results.append(ItemResult(product.sku, False, offer_id, error=str(exc)))
                continue
            try:
                self._call("PATCH", f"{PRODUCT_OFFERS}/{offer_id}", json=body)
                results.append(ItemResult(product.sku, True, offer_id))
            except ShopHttpError as exc:
                results.append(ItemResult(product.sku, False, offer_id, error=str(exc),
                                          gone=exc.status_code == 404))
        return results

    def iter_products(self, since: datetime | None, until: datetime) -> Iterator[Page[Product]]:
        """Every offer, 1000 a page (the list has no modification filter, so `since` cannot
        narrow it)."""
        for offers in self._offer_pages([]):
            yield self._products_page(offers)

    def fetch_products(self, ids: Sequence[str]) -> Page[Product]:
        """Offers by id through the list's `offer.id` filter (many values a call); an id the
        seller has no offer with is simply absent."""
        wanted = [i for i in dict.fromkeys(x.strip() for x in ids) if _OFFER_ID.fullmatch(i)]
        offers: list[Json] = []
        for start in range(0, len(wanted), SKUS_PER_CALL):
            chunk = wanted[start:start + SKUS_PER_CALL]
            for page in self._offer_pages([("offer.id", offer_id) for offer_id in chunk]):
                offers += [o for o in page if mapping.offer_id(o) in chunk]
        return self._products_page(offers)

    def _products_page(self, offers: list[Json]) -> Page[Product]:
        ours = self.state.ended_offers([mapping.offer_id(o) for o in offers if mapping.offer_id(o)])
        page: Page[Product] = Page()
        for offer in offers:
            offer_id = mapping.offer_id(offer)
            try:
                page.items.append(mapping.parse_offer(offer, ended_by_us=offer_id in ours))
            except MappingError as exc:
                page.errors.append(ItemError(key=offer_id or "(no id)", message=str(exc)))
        return page

    def _offer_pages(self, filters: list[tuple[str, str]]) -> Iterator[list[Json]]:
        """`GET /sale/offers` page by page; `filters` may repeat a name (multi-valued filters),
        so the query is encoded here rather than by ShopHttp."""
        offset = 0
        while True:
            query = urlencode([*filters, ("limit", str(COMMAND_MAX)), ("offset", str(offset))])
            data = self._call("GET", f"{OFFERS}?{query}").data
            offers = data.get("offers") if isinstance(data, dict) else None
            if not isinstance(offers, list) or not all(isinstance(o, dict) for o in offers):
                raise ShopError(f"allegro GET {OFFERS}: the answer holds no offers list")
            if offers:
                yield offers
            offset += len(offers)
            if len(offers) < COMMAND_MAX:
                return
            if offset + COMMAND_MAX > OFFERS_MAX_OFFSET:
                raise ShopError(f"allegro GET {OFFERS}: more than {OFFERS_MAX_OFFSET} offers; "
                                "the list cannot be paged further")

    # -- stock ----------------------------------------------------------------------------------

    def set_stock(self, quantities: Sequence[StockQuantity]) -> list[ItemResult]:
        """Positive quantities in quantity commands (grouped by value), then activation of the
        offers we had ended; zeros end the offers (remembered as ours)."""
        outcome: dict[int, ItemResult] = {}
        positive: dict[int, list[tuple[int, str]]] = {}
        zero: list[tuple[int, str]] = []
        for index, item in enumerate(quantities):
            offer_id = (item.shop_id or "").strip()
            if not _OFFER_ID.fullmatch(offer_id):
                outcome[index] = ItemResult(item.sku, False, item.shop_id,
                                            error=f"{item.shop_id!r} is not an Allegro offer id")
            elif item.quantity <= 0:
                zero.append((index, offer_id))
            else:
                positive.setdefault(item.quantity, []).append((index, offer_id))
        done: list[tuple[int, str]] = []
        for value, group in positive.items():
            report = self._command(QUANTITY_COMMANDS, [o for _, o in group],
                                   {"changeType": "FIXED", "value": value})
            for index, offer_id in group:
                error = report.get(offer_id)
                if error is None:
                    done.append((index, offer_id))
                else:
                    outcome[index] = ItemResult(quantities[index].sku, False, offer_id,
                                                error=error, gone=_gone(error))
        self._activate_ours(done, quantities, outcome)
        self._end(zero, quantities, outcome)
        return [outcome[i] for i in range(len(quantities))]

    def _activate_ours(self, done: list[tuple[int, str]], quantities: Sequence[StockQuantity],
                       outcome: dict[int, ItemResult]) -> None:
        ours = self.state.ended_offers([o for _, o in done])
        report = (self._command(PUBLICATION_COMMANDS, sorted(ours), {"action": "ACTIVATE"},
                                key="publication") if ours else {})
        activated = [o for o in ours if o not in report]
        if activated:
            self.state.forget_ended(activated)
        for index, offer_id in done:
            error = report.get(offer_id)
            outcome[index] = ItemResult(
                quantities[index].sku, error is None, offer_id,
                error=None if error is None else f"quantity set, but the offer we ended could "
                                                 f"not be activated again: {error}")

    def _end(self, zero: list[tuple[int, str]], quantities: Sequence[StockQuantity],
             outcome: dict[int, ItemResult]) -> None:
        """Stock 0: end the offer (Allegro holds no quantity of 0). An offer that is already
        not active is left as it is; if Allegro ended it because it sold out (`endedBy`
        EMPTY_STOCK), it is remembered as ended for lack of stock — what we would have done —
        so it comes back with the stock. An offer the seller ended is never remembered."""
        if not zero:
            return
        ours = self.state.ended_offers([o for _, o in zero])
        to_end = [o for _, o in zero if o not in ours]
        report = (self._command(PUBLICATION_COMMANDS, to_end, {"action": "END"},
                                key="publication") if to_end else {})
        ended = [o for o in to_end if o not in report]
        if ended:
            self.state.record_ended(ended)
        for index, offer_id in zero:
            sku = quantities[index].sku
            error = report.get(offer_id)
            if error is None:
                outcome[index] = ItemResult(sku, True, offer_id)
                continue
            offer = self._get_or_none(f"{PRODUCT_OFFERS}/{offer_id}")
            if offer is None:
                outcome[index] = ItemResult(sku, False, offer_id, error=error, gone=True)
            elif mapping.offer_status(offer) in ("ENDED", "INACTIVE"):
                if mapping.ended_for_lack_of_stock(offer):
                    # Allegro ended it when it sold out, as we would have: ours to re-activate.
                    self.state.record_ended([offer_id])
                outcome[index] = ItemResult(sku, True, offer_id)  # not for sale: as wanted
            else:
                outcome[index] = ItemResult(sku, False, offer_id, error=error)

    def _command(self, path: str, offer_ids: list[str], change: Json,
                 key: str = "modification") -> dict[str, str]:
        """Send the change for these offers, COMMAND_MAX a command, and read each report;
        offer id → error for every offer that did not succeed (absent = done)."""
        errors: dict[str, str] = {}
        for start in range(0, len(offer_ids), COMMAND_MAX):
            errors.update(self._one_command(path, offer_ids[start:start + COMMAND_MAX],
                                            change, key))
        return errors

    def _one_command(self, path: str, chunk: list[str], change: Json,
                     key: str) -> dict[str, str]:
        """One command; refused as a whole (4xx) with more than one offer, it is split in two
        and each half sent on its own — the per-command offer limit is unverified, and a
        smaller real limit must cost calls, not stock updates."""
        command_id = str(uuid.uuid4())
        try:
            # PUT with our own command id: a retry of a lost answer is the same command.
            self._call("PUT", f"{path}/{command_id}",
                       json=mapping.command_body(chunk, change, key))
        except ShopHttpError as exc:
            if len(chunk) > 1 and exc.status_code in (400, 413, 422):
                half = len(chunk) // 2
                return {**self._one_command(path, chunk[:half], change, key),
                        **self._one_command(path, chunk[half:], change, key)}
            return dict.fromkeys(chunk, f"Allegro refused the command: {exc}")
        return self._report(path, command_id, chunk)

    def _report(self, path: str, command_id: str, offer_ids: list[str]) -> dict[str, str]:
        """Poll the command's tasks until each of our offers has a final status (or POLL_FOR
        passed: the rest count as not confirmed, to be sent again by the next run)."""
        deadline = self._monotonic() + self.poll_for
        while True:
            tasks = self._tasks(path, command_id)
            pending = [o for o in offer_ids if tasks.get(o, ("", ""))[0] not in ("SUCCESS", "FAIL")]
            if not pending or self._monotonic() >= deadline:
                break
            self._sleep(self.poll_every)
        errors: dict[str, str] = {}
        for offer_id in offer_ids:
            status, message = tasks.get(offer_id, ("", ""))
            if status == "SUCCESS":
                continue
            errors[offer_id] = (
                f"Allegro: {message or 'the change failed'}" if status == "FAIL"
                else "Allegro has not confirmed the change yet; sent again next run")
        return errors

    def _tasks(self, path: str, command_id: str) -> dict[str, tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        offset = 0
        while True:
            data = self._call("GET", f"{path}/{command_id}/tasks",
                              params={"limit": TASKS_PAGE, "offset": offset}).data
            tasks = data.get("tasks") if isinstance(data, dict) else None
            try:
                found.update(mapping.task_results(tasks))
            except MappingError as exc:
                raise ShopError(f"allegro GET {path}/…/tasks: {exc}") from None
            assert isinstance(tasks, list)
            offset += len(tasks)
            if len(tasks) < TASKS_PAGE:
                return found

    # -- calls ----------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              json: Any = None) -> ShopResponse:
        """One API call with a valid access token; a 401 (revoked or expired early) refreshes
        once and sends the call again. Writes are idempotent here (absolute values, our own
        command ids), so ShopHttp may retry them."""
        content = orjson.dumps(json) if json is not None else None
        kind = VND if content is not None else None
        for attempt in (1, 2):
            self.auth.token = self.tokens.access_token()
            try:
                return self.http.request(method, path, params=params, content=content,
                                         content_type=kind)
            except ShopHttpError as exc:
                if exc.status_code != 401 or attempt == 2:
                    if exc.status_code == 401:
                        raise AuthorisationEnded(
                            f"configuration error: allegro refused the seller's token ({exc}); "
                            f"check the application's scopes, or "
                            f"{config_hint(self.conn.integration_id)}") from None
                    raise
                self.tokens.expired()
        raise AssertionError("unreachable")

    def _get_or_none(self, path: str) -> Any:
        try:
            return self._call("GET", path).data
        except ShopHttpError as exc:
            if exc.status_code == 404:
                return None
            raise

    def close(self) -> None:
        self.http.close()
        self.oauth_http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def api_root(base_url: str) -> str:
    """`base_url` is the API root already (CONTRACT §5): only checked and trimmed."""
    text = base_url.strip().rstrip("/")
    if not text.startswith(("http://", "https://")):
        raise ShopError(f"allegro base_url must be an http(s) address, got {base_url!r}")
    return text


def _gone(error: str) -> bool:
    """A task report naming an offer that does not exist (any more)."""
    lowered = error.lower()
    return "not found" in lowered or "does not exist" in lowered
