"""import_products — shop products → ERP products, matched by SKU (CONTRACT §2).

Read since the cursor (everything when there is none, or with `--full`); per page one
transaction writes the products, their bindings, the retry set's rows and the cursor. An ERP
product is created when the SKU is new (VAT 23 %, net price derived from it) and otherwise
updated field by field, its `updated_at` moving only when something really changed. A product
without a name is named by its SKU (with a warning).

What fails is kept in the retry set (shared.erp.retry_set) in its page's transaction, and every
run re-reads the due ones by id first: a product the ERP refused (retried), and one whose shop
data no run can fix by itself — no SKU, a SKU bound to another shop product, a value the ERP's
columns cannot hold (kept as needing attention, re-checked daily, paging nobody).

A full read goes through the shop in id order, not by modification date, so its cursor moves
only when it has read everything.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from shared.erp.retry_set import Failure
from shared.erp.schema import products
from workers.domain import Page, Product
from workers.engine import bindings, watermarks
from workers.engine.context import RunContext
from workers.engine.erp_port import Change, ErpUnit
from workers.engine.runs import INFO
from workers.operations import _kept
from workers.operations._common import ITEM_DB_ERRORS, ItemProblem, db_problem
from workers.operations.fits import first_problem, number_problem, text_problem

Seen = set[tuple[str | None, datetime | None]]


def run(ctx: RunContext) -> None:
    seen: Seen = set()
    # The retry set first: products earlier runs could not take, re-read by id.
    for ids in _kept.due_chunks(ctx):
        _commit(ctx, ctx.shop.fetch_products(ids), seen, asked=ids)

    cursor_name = watermarks.cursor_name(ctx.operation)
    stored = ctx.store.read_cursor(cursor_name)
    cursor = None if ctx.full else stored
    window = watermarks.window(cursor, start_if_none=None, now=ctx.started)
    incremental = window.since is not None
    ctx.run.full = not incremental
    ctx.run.cursor_before = stored

    position = cursor
    for page in ctx.shop.iter_products(window.since, window.until):
        move_to = None
        if incremental:
            latest = max((p.modified_at for p in page.items if p.modified_at), default=None)
            moved = window.advance(position, latest)
            move_to = moved if moved is not None and moved != position else None
            position = moved
        _commit(ctx, page, seen, move_to=move_to)

    with ctx.store.unit() as tx:
        tx.move_cursor(cursor_name, window.until)
    ctx.run.cursor_after = window.until


def _commit(
    ctx: RunContext, page: Page[Product], seen: Seen, *, asked: list[str] | None = None,
    move_to: datetime | None = None,
) -> None:
    """One page in one transaction: its products, their bindings, the retry set's rows for
    them and the cursor move that covers them."""
    fresh = [p for p in page.items if (p.shop_id, p.modified_at) not in seen]
    seen.update((p.shop_id, p.modified_at) for p in fresh)
    missing = _kept.not_answered(asked, page, lambda p: p.shop_id)
    op = ctx.operation.value
    with ctx.store.unit() as tx:
        outcomes = [_import_one(tx, product) for product in fresh]
        _kept.settle(tx, op, page, missing,
                     failures=[f for _, _, _, f in outcomes if f is not None],
                     imported=[p.shop_id for p, (*_, f) in zip(fresh, outcomes, strict=True)
                               if f is None])
        if move_to is not None:
            tx.move_cursor(watermarks.cursor_name(ctx.operation), move_to)
    run = ctx.run
    run.count("read", len(fresh) + len(page.errors))
    _kept.record_unread(ctx, page, missing)
    for product, (change, erp_id, warning, failure) in zip(fresh, outcomes, strict=True):
        if warning is not None:
            run.warning("product_renamed", product.sku, warning, erp_id=erp_id,
                        shop_id=product.shop_id)
        if failure is not None:
            run.item_error(product.sku or product.shop_id, _kept.describe(failure),
                           erp_id=erp_id, shop_id=product.shop_id)
            continue
        run.count(change.value)
        if change is not Change.UNCHANGED:
            run.event(INFO, change.value, item=product.sku, erp_id=erp_id,
                      shop_id=product.shop_id)
    ctx.checkpoint(advanced=len(fresh) + len(page.errors) + len(missing))


def _import_one(
    tx: ErpUnit, product: Product
) -> tuple[Change, int | None, str | None, Failure | None]:
    """(change, ERP id, warning, None), or (…, failure) when the product's savepoint was
    rolled back."""
    shop_id, item = product.shop_id or "", product.sku or None
    try:
        _validate(product)
        product, warning = _lenient(product)
        with tx.savepoint():
            change, erp_id = tx.upsert_product(product)
            verdict = tx.bind(bindings.PRODUCT, erp_id, shop_id)
            if verdict == bindings.Bound.CONFLICT:
                raise ItemProblem(
                    f"SKU {product.sku!r} is bound to a different shop product than "
                    f"{shop_id} (two shop products with one SKU?); not imported")
        return change, erp_id, warning, None
    except ItemProblem as exc:
        # The shop's data as it is cannot become an ERP product: a person must look.
        return Change.UNCHANGED, None, None, Failure(shop_id, str(exc), item, attention=True)
    except ITEM_DB_ERRORS as exc:
        return Change.UNCHANGED, None, None, Failure(
            shop_id, f"the ERP refused the product: {db_problem(exc)}", item)


def _lenient(product: Product) -> tuple[Product, str | None]:
    """A product without a name is named by its SKU rather than refused."""
    if product.name and product.name.strip():
        return product, None
    return (replace(product, name=product.sku),
            f"the shop product {product.shop_id} has no name; imported as {product.sku!r}")


def _validate(product: Product) -> None:
    """What the ERP's columns cannot hold, as an item error rather than a database error (the
    same on every backend: see workers.operations.fits)."""
    if not product.sku or not product.sku.strip():
        raise ItemProblem("the shop product has no SKU")
    if not product.shop_id:
        raise ItemProblem("the shop product has no id")
    p = products.c
    problem = first_problem(
        text_problem(product.sku, p.sku, "SKU"),
        text_problem(product.name, p.name, "name"),
        text_problem(product.ean, p.ean, "EAN"),
        text_problem(product.description, p.description, "description"),
        number_problem(product.price_gross, p.price_gross, "price", minimum=Decimal(0)),
        number_problem(product.vat_rate, p.vat_rate, "VAT rate", minimum=Decimal(0)),
        number_problem(product.weight_kg, p.weight_kg, "weight", minimum=Decimal(0)),
    )
    if problem is not None:
        raise ItemProblem(problem)
