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
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from shared.erp.schema import customers, order_lines, orders
from workers.domain import Order, Page
from workers.engine import watermarks
from workers.engine.context import RunContext
from workers.engine.erp_port import ErpUnit
from workers.engine.fingerprints import ORDER_STATUS
from workers.engine.runs import INFO
from workers.engine.store import order_number
from workers.operations._common import ITEM_DB_ERRORS, ItemProblem, db_problem
from workers.operations.fits import first_problem, number_problem, text_problem

NEW_STATUS = "new"


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
    warnings: list[str] = field(default_factory=list)
    status_id: int | None = None  # an ERP status taken from the shop (so: already "sent")
    customer: tuple[str, int] | None = None  # (e-mail, id) of a customer created for it


class _AlreadyImported(Exception):
    """Raised inside the create savepoint to undo it (and any customer made for it)."""


def run(ctx: RunContext) -> None:
    cfg = ctx.integration
    cursor_name = watermarks.cursor_name(ctx.operation)
    cursor = ctx.store.read_cursor(cursor_name)
    first_start = (cfg.orders_since.replace(tzinfo=UTC) if cfg.orders_since
                   else ctx.started - watermarks.FIRST_ORDERS_LOOKBACK)
    window = watermarks.window(cursor, start_if_none=first_start, now=ctx.started)
    assert window.since is not None
    ctx.run.cursor_before = cursor
    importer = OrderImporter(ctx)

    position = cursor
    seen: set[tuple[str, datetime]] = set()
    for page in ctx.shop.iter_orders(window.since, window.until):
        # Overlapping reads deliver some orders twice; the same (id, modified) is done already.
        fresh = [o for o in page.items if (o.external_id, o.modified_at) not in seen]
        seen.update((o.external_id, o.modified_at) for o in fresh)
        with ctx.store.unit() as tx:
            outcomes = importer.import_page(tx, fresh)
            latest = max((o.modified_at for o in fresh), default=None)
            moved = window.advance(position, latest)
            if moved is not None and moved != position:
                tx.move_cursor(cursor_name, moved)
        position = moved
        _record(ctx, page, outcomes)
        ctx.checkpoint(advanced=len(fresh) + len(page.errors))

    # The whole window was read and committed: the next one starts from its end (less overlap).
    if position is None or position < window.until:
        with ctx.store.unit() as tx:
            tx.move_cursor(cursor_name, window.until)
        position = window.until
    ctx.run.cursor_after = position


def _record(ctx: RunContext, page: Page[Order], outcomes: list[Outcome]) -> None:
    run = ctx.run
    run.count("read", len(outcomes) + len(page.errors))
    for error in page.errors:
        run.item_error(error.key, error.message, shop_id=error.key)
    for outcome in outcomes:
        for warning in outcome.warnings:
            run.warning("unknown_sku", outcome.external_id, warning, erp_id=outcome.order_id,
                        shop_id=outcome.external_id)
        if outcome.result is Result.FAILED:
            run.item_error(outcome.external_id, outcome.message or "failed",
                           shop_id=outcome.external_id)
            continue
        run.count(outcome.result.value)
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

    def import_page(self, tx: ErpUnit, page: list[Order]) -> list[Outcome]:
        product_ids = tx.product_ids_by_sku({line.sku for o in page for line in o.lines})
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
        try:
            _validate(order)
            try:
                with tx.savepoint():
                    return self._create(tx, order, product_ids, customers)
            except _AlreadyImported:
                pass
            with tx.savepoint():
                return self._update(tx, order)
        except ItemProblem as exc:
            return Outcome(order.external_id, Result.FAILED, message=str(exc))
        except ITEM_DB_ERRORS as exc:
            return Outcome(order.external_id, Result.FAILED,
                           message=f"the ERP refused the order: {db_problem(exc)}")

    def _create(
        self, tx: ErpUnit, order: Order, product_ids: dict[str, int], customers: dict[str, int]
    ) -> Outcome:
        email = order.customer.email.strip().lower()
        customer_id = customers.get(email) if email else None
        new_customer = None
        if customer_id is None:
            customer_id = tx.add_customer(order.customer)
            new_customer = (email, customer_id) if email else None
        status_id = self.from_shop.get(order.status, self.new_status_id)
        order_id = tx.add_order(order, number=order_number(self.integration_id, order.external_id),
                                customer_id=customer_id, status_id=status_id)
        if order_id is None:
            raise _AlreadyImported
        lines, warnings = [], []
        for n, line in enumerate(order.lines, start=1):
            product_id = product_ids.get(line.sku) if line.sku else None
            if product_id is None:
                what = f"SKU {line.sku!r} is not in the ERP" if line.sku else "no SKU"
                warnings.append(f"line {n} ({line.name[:60]}): {what}; imported without a product")
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


def _validate(order: Order) -> None:
    """What the ERP's columns cannot hold, as an item error rather than a database error (the
    same on every backend: see workers.operations.fits). Free texts the ERP keeps shorter
    (names, addresses, methods) are cut to fit where they are written; what identifies
    something (ids, e-mail, currency) and every amount must fit as it is."""
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
        text_problem(order.customer.email.strip(), c.email, "customer e-mail"),
        number_problem(order.total_gross, o.total_gross, "order total", minimum=zero),
        number_problem(order.shipping_gross, o.shipping_gross, "shipping", minimum=zero),
        # Free texts: no NUL (PostgreSQL refuses it, the others keep it), cut to size later.
        *(text_problem(text, None, what) for text, what in (
            (order.external_number, "order number"), (order.notes, "notes"),
            (order.payment_method, "payment method"), (order.shipping_method, "shipping method"),
            (order.customer.first_name, "first name"), (order.customer.last_name, "last name"),
            (order.customer.company, "company"), (order.customer.tax_id, "tax id"),
            (order.customer.phone, "phone"), (order.customer.street, "street"),
            (order.customer.city, "city"), (order.customer.postcode, "postcode"),
            (order.customer.country_code, "country code"),
        )),
    )
    if problem is not None:
        raise ItemProblem(problem)
    for n, line in enumerate(order.lines, start=1):
        problem = first_problem(
            number_problem(line.quantity, line_table.quantity, "quantity"),
            number_problem(line.unit_price_gross, line_table.unit_price_gross, "price",
                           minimum=zero),
            number_problem(line.vat_rate, line_table.vat_rate, "VAT rate", minimum=zero),
            text_problem(line.sku, None, "SKU"),
            text_problem(line.name, None, "name"),
        )
        if problem is None and line.quantity <= 0:
            problem = f"quantity must be positive, got {line.quantity}"
        if problem is not None:
            raise ItemProblem(f"line {n}: {problem}")
