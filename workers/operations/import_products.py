"""import_products — shop products → ERP products, matched by SKU (CONTRACT §2).

Read since the cursor (everything when there is none, or with `--full`); per page one
transaction writes the products, their bindings and the cursor. An ERP product is created
when the SKU is new (VAT 23 %, net price derived from it) and otherwise updated field by field,
its `updated_at` moving only when something really changed. A shop product without a SKU, or
one whose SKU is already bound to a different shop product, is an item error.

A full read goes through the shop in id order, not by modification date, so its cursor moves
only when it has read everything.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from shared.erp.schema import products
from workers.domain import Product
from workers.engine import bindings, watermarks
from workers.engine.context import RunContext
from workers.engine.erp_port import Change, ErpUnit
from workers.engine.runs import INFO
from workers.operations._common import ITEM_DB_ERRORS, ItemProblem, db_problem
from workers.operations.fits import first_problem, number_problem, text_problem


def run(ctx: RunContext) -> None:
    cursor_name = watermarks.cursor_name(ctx.operation)
    stored = ctx.store.read_cursor(cursor_name)
    cursor = None if ctx.full else stored
    window = watermarks.window(cursor, start_if_none=None, now=ctx.started)
    incremental = window.since is not None
    ctx.run.full = not incremental
    ctx.run.cursor_before = stored

    position = cursor
    seen: set[tuple[str | None, datetime | None]] = set()
    for page in ctx.shop.iter_products(window.since, window.until):
        fresh = [p for p in page.items if (p.shop_id, p.modified_at) not in seen]
        seen.update((p.shop_id, p.modified_at) for p in fresh)
        with ctx.store.unit() as tx:
            outcomes = [_import_one(tx, product) for product in fresh]
            if incremental:
                latest = max((p.modified_at for p in fresh if p.modified_at), default=None)
                moved = window.advance(position, latest)
                if moved is not None and moved != position:
                    tx.move_cursor(cursor_name, moved)
                position = moved
        ctx.run.count("read", len(fresh) + len(page.errors))
        for error in page.errors:
            ctx.run.item_error(error.key, error.message, shop_id=error.key)
        for product, (change, erp_id, problem) in zip(fresh, outcomes):
            if problem is not None:
                ctx.run.item_error(product.sku or product.shop_id, problem, erp_id=erp_id,
                                   shop_id=product.shop_id)
                continue
            ctx.run.count(change.value)
            if change is not Change.UNCHANGED:
                ctx.run.event(INFO, change.value, item=product.sku, erp_id=erp_id,
                              shop_id=product.shop_id)
        ctx.checkpoint(advanced=len(fresh) + len(page.errors))

    with ctx.store.unit() as tx:
        tx.move_cursor(cursor_name, window.until)
    ctx.run.cursor_after = window.until


def _import_one(tx: ErpUnit, product: Product) -> tuple[Change, int | None, str | None]:
    """(change, ERP id, None) or (…, problem) — the product's savepoint is rolled back then."""
    try:
        _validate(product)
        with tx.savepoint():
            change, erp_id = tx.upsert_product(product)
            verdict = tx.bind(bindings.PRODUCT, erp_id, product.shop_id)  # type: ignore[arg-type]
            if verdict == bindings.Bound.CONFLICT:
                raise ItemProblem(
                    f"SKU {product.sku!r} is bound to a different shop product than "
                    f"{product.shop_id} (two shop products with one SKU?); not imported")
        return change, erp_id, None
    except ItemProblem as exc:
        return Change.UNCHANGED, None, str(exc)
    except ITEM_DB_ERRORS as exc:
        return Change.UNCHANGED, None, f"the ERP refused the product: {db_problem(exc)}"


def _validate(product: Product) -> None:
    """What the ERP's columns cannot hold, as an item error rather than a database error (the
    same on every backend: see workers.operations.fits)."""
    if not product.sku or not product.sku.strip():
        raise ItemProblem("the shop product has no SKU")
    if not product.shop_id:
        raise ItemProblem("the shop product has no id")
    if not product.name or not product.name.strip():
        raise ItemProblem("the shop product has no name")
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
