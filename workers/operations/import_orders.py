"""import_orders — orders created or modified in the shop since the watermark → ERP orders.

Per page, one transaction holds every new order (customer, order, lines), every update of an
order already imported, and the cursor move that covers them. Each order sits in its own
savepoint, so one bad order is an item error and the rest of the page still commits.

"Already imported" is decided by the ERP's unique key (integration_id, external_id): the insert
is tried and a clash sends the order down the update path — redelivery, overlapping windows,
two workers or a crash between the shop read and the commit can never make a second order.
The update path follows the shop: `is_paid` always, the status only while the ERP order is
still `new` (afterwards the ERP owns it). Every status the ERP takes from the shop is recorded
as "last sent", so update_order_statuses never echoes it back.

No order is left behind (DESIGN rule 8). A run has three passes, each committing page by page:
1. the retry set (shared.erp.retry_set): orders earlier runs could not take, re-read by id;
2. the window since the cursor; an order that fails here is kept in the page's transaction,
   which is what lets the cursor move past it;
3. once a day (ILUO_SYNC_RECONCILE_HOURS) or with `--full`, the reconciliation: the ids of the
   shop's orders created in the last days against the ERP's and the retry set's, the missing
   ones imported and counted as `reconciled`.
Mapping is lenient (`_lenient`): only what would make the ERP row wrong is refused.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from shared.erp.retry_set import Failure
from shared.erp.schema import customers, order_lines, orders
from workers.domain import Customer, Order, OrderLine, Page
from workers.engine import watermarks
from workers.engine.context import RunContext
from workers.engine.erp_port import ErpUnit
from workers.engine.fingerprints import ORDER_STATUS
from workers.engine.runs import INFO
from workers.engine.store import order_number
from workers.operations import _kept
from workers.operations._common import ITEM_DB_ERRORS, ItemProblem, chunked, db_problem
from workers.operations.countries import country_of_zone, storable_country
from workers.operations.fits import first_problem, number_problem, text_problem

NEW_STATUS = "new"
#: When the last reconciliation ran (sync_cursors).
RECONCILE_CURSOR = "reconcile:import_orders"
#: A line the shop gives neither a name nor a SKU.
NO_NAME = "(no name)"


class Result(str, enum.Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(slots=True)
class Outcome:
    external_id: str
    result: Result
    order_id: int | None = None
    message: str | None = None
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (event kind, text)
    status_id: int | None = None  # an ERP status taken from the shop (so: already "sent")
    customer: tuple[str, int] | None = None  # (e-mail, id) of a customer created for it
    #: The shop's data cannot be held as it is (no run fixes that by itself): a FAILED order is
    #: kept as needing attention rather than for hourly retries.
    attention: bool = False
    number: str | None = None  # the shop's order number, for the retry set's listing

    def failure(self) -> Failure:
        return Failure(shop_id=self.external_id, error=self.message or "failed",
                       item=self.number, attention=self.attention)


class _AlreadyImported(Exception):
    """Raised inside the create savepoint to undo it (and any customer made for it)."""


def run(ctx: RunContext) -> None:
    importer = OrderImporter(ctx)
    seen: set[tuple[str, datetime]] = set()

    # 1. The retry set first: items kept by earlier runs, re-read by id.
    for ids in _kept.due_chunks(ctx):
        _commit(ctx, importer, ctx.shop.fetch_orders(ids), seen, asked=ids)

    # 2. The window since the cursor.
    cursor_name = watermarks.cursor_name(ctx.operation)
    cursor = ctx.store.read_cursor(cursor_name)
    window = watermarks.window(cursor, start_if_none=_orders_since(ctx), now=ctx.started)
    assert window.since is not None
    ctx.run.cursor_before = cursor
    position = cursor
    for page in ctx.shop.iter_orders(window.since, window.until):
        latest = max((o.modified_at for o in page.items), default=None)
        moved = window.advance(position, latest)
        # The cursor moves past a failed order only in the transaction that keeps it.
        _commit(ctx, importer, page, seen,
                move_to=moved if moved is not None and moved != position else None)
        position = moved

    # The whole window was read and committed: the next one starts from its end (less overlap).
    if position is None or position < window.until:
        with ctx.store.unit() as tx:
            tx.move_cursor(cursor_name, window.until)
        position = window.until
    ctx.run.cursor_after = position

    # 3. The net under the cursor, once a day (or with --full). A first import read everything
    # since `orders_since` itself: the net would only read it again, so it starts a day later.
    if cursor is None and not ctx.full:
        with ctx.store.unit() as tx:
            tx.move_cursor(RECONCILE_CURSOR, ctx.started)
    elif _reconciliation_due(ctx):
        _reconcile(ctx, importer, seen, until=window.until)


def _orders_since(ctx: RunContext) -> datetime:
    """Where the first import starts: the integration's `orders_since`, else 30 days back."""
    since = ctx.integration.orders_since
    return (since.replace(tzinfo=UTC) if since
            else ctx.started - watermarks.FIRST_ORDERS_LOOKBACK)


def _reconciliation_due(ctx: RunContext) -> bool:
    if ctx.full:
        return True
    last = ctx.store.read_cursor(RECONCILE_CURSOR)
    return last is None or ctx.started - last >= ctx.limits.reconcile_every


def _reconcile(
    ctx: RunContext, importer: OrderImporter, seen: set[tuple[str, datetime]], *,
    until: datetime,
) -> None:
    """Ids of the shop's orders created in the last days against the ERP's and the retry set's;
    every order missing from both is read by id and imported now, counted as `reconciled`."""
    since = max(ctx.started - ctx.limits.reconcile_days, _orders_since(ctx))
    for ids in ctx.shop.iter_order_ids(since, until):
        with ctx.store.unit() as tx:
            known = tx.known_order_ids(ids) | tx.kept_ids(ctx.operation.value, ids)
        missing = [i for i in dict.fromkeys(ids) if i not in known]
        for chunk in chunked(missing, max(1, ctx.shop.page_size)):
            _commit(ctx, importer, ctx.shop.fetch_orders(chunk), seen, asked=chunk,
                    reconciled=True)
    with ctx.store.unit() as tx:
        tx.move_cursor(RECONCILE_CURSOR, ctx.started)


def _commit(
    ctx: RunContext, importer: OrderImporter, page: Page[Order],
    seen: set[tuple[str, datetime]], *, asked: list[str] | None = None,
    move_to: datetime | None = None, reconciled: bool = False,
) -> None:
    """One page in one transaction: its orders, the retry set's rows for them (kept when they
    failed, forgotten when they imported) and the cursor move that covers them."""
    # Overlapping reads deliver some orders twice; the same (id, modified) is done already.
    fresh = [o for o in page.items if (o.external_id, o.modified_at) not in seen]
    seen.update((o.external_id, o.modified_at) for o in fresh)
    missing = _kept.not_answered(asked, page, lambda o: o.external_id)
    with ctx.store.unit() as tx:
        outcomes = importer.import_page(tx, fresh)
        _kept.settle(tx, ctx.operation.value, page, missing,
                     failures=[o.failure() for o in outcomes if o.result is Result.FAILED],
                     imported=[o.external_id for o in outcomes if o.result is not Result.FAILED])
        if move_to is not None:
            tx.move_cursor(watermarks.cursor_name(ctx.operation), move_to)
    _record(ctx, page, outcomes, missing, reconciled=reconciled)
    ctx.checkpoint(advanced=len(fresh) + len(page.errors) + len(missing))


def _record(
    ctx: RunContext, page: Page[Order], outcomes: list[Outcome], missing: list[Failure], *,
    reconciled: bool,
) -> None:
    run = ctx.run
    run.count("read", len(outcomes) + len(page.errors))
    _kept.record_unread(ctx, page, missing)
    for outcome in outcomes:
        for kind, warning in outcome.warnings:
            run.warning(kind, outcome.external_id, warning, erp_id=outcome.order_id,
                        shop_id=outcome.external_id)
        if outcome.result is Result.FAILED:
            run.item_error(outcome.external_id, _kept.describe(outcome.failure()),
                           shop_id=outcome.external_id)
            continue
        run.count(outcome.result.value)
        if reconciled and outcome.result is Result.CREATED:
            # Healthy systems never get here: it names a shop behaviour our cursor missed.
            run.count("reconciled")
            run.warning("reconciled", outcome.external_id,
                        "the order was missing from the ERP although older than the cursor; "
                        "imported by the daily reconciliation", erp_id=outcome.order_id,
                        shop_id=outcome.external_id)
        if outcome.result is not Result.UNCHANGED:
            run.event(INFO, outcome.result.value, item=outcome.external_id,
                      erp_id=outcome.order_id, shop_id=outcome.external_id,
                      message=outcome.message)


class OrderImporter:
    """The flow for one order: create it with its customer and lines, or update it."""

    def __init__(self, ctx: RunContext) -> None:
        self.integration_id = ctx.integration.id
        status_ids = ctx.store.order_status_ids()
        if NEW_STATUS not in status_ids:
            raise RuntimeError("the ERP has no order status 'new'")
        self.new_status_id = status_ids[NEW_STATUS]
        self.from_shop = ctx.integration.shop_status_to_erp  # shop status → ERP status id
        self.country = country_of_zone(ctx.integration.shop_timezone)

    def import_page(self, tx: ErpUnit, page: list[Order]) -> list[Outcome]:
        product_ids = tx.product_ids_by_sku({line.sku.strip() for o in page for line in o.lines})
        customers = tx.find_customers({o.customer.email for o in page})
        outcomes = []
        for order in page:
            outcome = self.import_one(tx, order, product_ids, customers)
            if outcome.customer is not None:  # its savepoint committed: reuse on this page
                customers[outcome.customer[0]] = outcome.customer[1]
            outcomes.append(outcome)
        # The shop has these statuses already: record them so they are never sent back.
        sent = {o.order_id: str(o.status_id) for o in outcomes
                if o.status_id is not None and o.order_id is not None}
        if sent:
            tx.record_sent(ORDER_STATUS, sent)
        return outcomes

    def import_one(
        self, tx: ErpUnit, order: Order, product_ids: dict[str, int], customers: dict[str, int]
    ) -> Outcome:
        number = order.external_number
        try:
            _validate(order)
            order, warnings = _lenient(order, self.country)
            try:
                with tx.savepoint():
                    created = self._create(tx, order, product_ids, customers)
                    created.warnings[:0] = warnings
                    return created
            except _AlreadyImported:
                pass
            with tx.savepoint():
                return self._update(tx, order)
        except ItemProblem as exc:
            # What the ERP cannot hold as the shop sent it: retrying alone never fixes that.
            return Outcome(order.external_id, Result.FAILED, message=str(exc), attention=True,
                           number=number)
        except ITEM_DB_ERRORS as exc:
            # The ERP refused it (a lock, a trigger, a clash): the cause may go away; retried.
            return Outcome(order.external_id, Result.FAILED,
                           message=f"the ERP refused the order: {db_problem(exc)}",
                           number=number)

    def _create(
        self, tx: ErpUnit, order: Order, product_ids: dict[str, int], customers: dict[str, int]
    ) -> Outcome:
        email = order.customer.email.strip().lower()
        # A guest without e-mail: the same person and address, else a new customer.
        customer_id = (customers.get(email) if email
                       else tx.find_customer_by_address(order.customer))
        new_customer = None
        if customer_id is None:
            customer_id = tx.add_customer(order.customer)
            new_customer = (email, customer_id) if email else None
        status_id = self.from_shop.get(order.status, self.new_status_id)
        order_id = tx.add_order(order, number=order_number(self.integration_id, order.external_id),
                                customer_id=customer_id, status_id=status_id)
        if order_id is None:
            raise _AlreadyImported
        lines: list[tuple[OrderLine, int | None]] = []
        warnings: list[tuple[str, str]] = []
        for n, line in enumerate(order.lines, start=1):
            product_id = product_ids.get(line.sku) if line.sku else None
            if product_id is None:
                what = f"SKU {line.sku!r} is not in the ERP" if line.sku else "no SKU"
                warnings.append(("unknown_sku", f"line {n} ({line.name[:60]}): {what}; "
                                                f"imported without a product"))
            lines.append((line, product_id))
        tx.add_order_lines(order_id, lines)
        return Outcome(order.external_id, Result.CREATED, order_id=order_id, warnings=warnings,
                       status_id=status_id, customer=new_customer)

    def _update(self, tx: ErpUnit, order: Order) -> Outcome:
        state = tx.order_state(order.external_id)
        if state is None:  # cannot happen: the insert clashed on this very key
            raise ItemProblem("the order clashed with an existing one that cannot be found")
        is_paid = order.is_paid if order.is_paid != state.is_paid else None
        status_id = None
        mapped = self.from_shop.get(order.status)
        if state.status_id == self.new_status_id and mapped not in (None, state.status_id):
            status_id = mapped
        if is_paid is None and status_id is None:
            return Outcome(order.external_id, Result.UNCHANGED, order_id=state.order_id)
        tx.update_order(state.order_id, is_paid=is_paid, status_id=status_id)
        changes = []
        if is_paid is not None:
            changes.append(f"is_paid → {is_paid}")
        if status_id is not None:
            changes.append(f"status → {order.status}")
        return Outcome(order.external_id, Result.UPDATED, order_id=state.order_id,
                       message=", ".join(changes), status_id=status_id)


def _clean(text: str | None) -> str | None:
    """A free text without NUL (PostgreSQL refuses it in text, the others keep it)."""
    return None if text is None else text.replace("\x00", "")


def _lenient(order: Order, country: str) -> tuple[Order, list[tuple[str, str]]]:
    """The order as the ERP can hold it, and a warning for each thing made up on the way.

    Nothing here makes an ERP row wrong: a line without a name is named by its SKU, a country
    code the ERP's char(2) cannot hold becomes the shop's country, NUL leaves free texts.
    """
    warnings: list[tuple[str, str]] = []
    lines = []
    for n, line in enumerate(order.lines, start=1):
        sku, name = (_clean(line.sku) or "").strip(), _clean(line.name) or ""
        if not name.strip():
            name = sku or NO_NAME
            warnings.append(("line_renamed", f"line {n} has no name in the shop; "
                                             f"imported as {name!r}"))
        lines.append(replace(line, sku=sku, name=name))
    c = order.customer
    code = storable_country(c.country_code)
    if code is None:
        code = country
        warnings.append(("country_replaced", f"country code {c.country_code!r:.20} cannot be "
                                             f"stored; the shop's country {code} is used"))
    if not c.email.strip():
        warnings.append(("no_email", "the customer has no e-mail; matched by name and address"))
    if not order.lines:
        warnings.append(("no_lines", "the shop's order has no product lines"))
    customer = Customer(
        email=(_clean(c.email) or "").strip(), first_name=_clean(c.first_name) or "",
        last_name=_clean(c.last_name) or "", company=_clean(c.company),
        tax_id=_clean(c.tax_id), phone=_clean(c.phone), street=_clean(c.street) or "",
        city=_clean(c.city) or "", postcode=_clean(c.postcode) or "", country_code=code,
    )
    cleaned = replace(
        order, customer=customer, lines=tuple(lines), notes=_clean(order.notes),
        external_number=_clean(order.external_number),
        payment_method=_clean(order.payment_method),
        shipping_method=_clean(order.shipping_method),
    )
    return cleaned, warnings


def _validate(order: Order) -> None:
    """What the ERP cannot hold without being wrong, as an item error rather than a database
    error (the same on every backend: see workers.operations.fits). Everything else is made to
    fit by `_lenient`: free texts the ERP keeps shorter are cut where they are written, and what
    identifies something (ids, e-mail, currency) and every amount must fit as it is."""
    if not order.external_id or len(order.external_id) > 64:
        raise ItemProblem(f"the shop's order id {order.external_id!r:.80} is empty or too long")
    if len(order.currency or "") != 3:
        raise ItemProblem(f"currency {order.currency!r:.40} is not a 3-letter code")
    if order.ordered_at.tzinfo is None or order.modified_at.tzinfo is None:
        raise ItemProblem("order dates without a time zone")
    o, c, line_table = orders.c, customers.c, order_lines.c
    zero = Decimal(0)
    problem = first_problem(
        text_problem(order.external_id, o.external_id, "the shop's order id"),
        text_problem(order.currency, o.currency, "currency"),
        # The customer is found again by e-mail: a cut address would never match again.
        text_problem(_clean(order.customer.email.strip()), c.email, "customer e-mail"),
        number_problem(order.total_gross, o.total_gross, "order total", minimum=zero),
        number_problem(order.shipping_gross, o.shipping_gross, "shipping", minimum=zero),
    )
    if problem is not None:
        raise ItemProblem(problem)
    for n, line in enumerate(order.lines, start=1):
        problem = first_problem(
            number_problem(line.quantity, line_table.quantity, "quantity"),
            number_problem(line.unit_price_gross, line_table.unit_price_gross, "price",
                           minimum=zero),
            number_problem(line.vat_rate, line_table.vat_rate, "VAT rate", minimum=zero),
        )
        # A line of 0 is odd but true (the shop shows it so); a negative one is a refund, which
        # the shop keeps apart from lines: never an ERP line.
        if problem is None and line.quantity < 0:
            problem = f"quantity must not be negative, got {line.quantity}"
        if problem is not None:
            raise ItemProblem(f"line {n}: {problem}")
