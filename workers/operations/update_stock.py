"""update_stock — ERP stock → the shop's saleable quantity (CONTRACT §2).

quantity = floor(max(0, Σ(quantity − reserved))) over the integration's warehouses (all when
none is listed), for products in the shop — bound, or found by SKU (looked up in batches) —
and, when the integration has `export_stock` labels, carrying one of them. A product that
loses its stock label is simply no longer sent (its shop quantity stays as last sent).

Only values that differ from what the shop last received are sent (sync_sent, kind stock), in
the connector's largest batches: a run where nothing changed makes no write call at all. A full
pass (`--full`, the first run, or every FULL_PASS_EVERY) re-sends every quantity and also looks
up by SKU the products that have no binding yet; in between, products bound meanwhile (by an
export, say) have no last-sent value and so go out on the next run anyway.

A product deleted in the shop behind our back (the connector answers `gone`) loses its binding
and last-sent values, recorded as a `deleted_in_shop` warning and counted as skipped: stock
simply stops going to it, until an export creates it again or a full pass finds it by SKU.

Safety valve (workers.engine.safety): before the first write, a counting pass over the bound
products compares each last-sent quantity with the one this run would send; when more than
`safety_max_zero_stock_pct` % of those the shop has in stock (last sent positive) would drop
to 0, the run stops without writing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from workers.domain import StockQuantity
from workers.engine import bindings, watermarks
from workers.engine.context import RunContext
from workers.engine.erp_port import StockCandidate
from workers.engine.fingerprints import STOCK, fingerprint
from workers.engine.runs import INFO
from workers.operations._common import CHUNK, Batcher, Gone, forget_gone, paired


def saleable(available: Decimal) -> int:
    """What the shop may sell: whole units, never negative."""
    return int(max(Decimal(0), available).to_integral_value(rounding=ROUND_FLOOR))


@dataclass(frozen=True, slots=True)
class _Send:
    quantity: StockQuantity
    fingerprint: str


def run(ctx: RunContext) -> None:
    full_name = watermarks.full_pass_name(ctx.operation)
    full = watermarks.full_pass_due(ctx.store.read_cursor(full_name), forced=ctx.full,
                                    now=ctx.started)
    ctx.run.full = full
    cfg = ctx.integration
    read = check_zeroing(ctx)
    # Not a full pass: the valve read the same bound products; one chunk of them is reused.
    chunks: Iterable[list[StockCandidate]] = (
        read if read is not None and not full else
        ctx.store.iter_stock_candidates(tuple(cfg.stock_labels), cfg.warehouses,
                                        bound_only=not full, chunk=CHUNK))
    batcher: Batcher[_Send] = Batcher(lambda: ctx.shop.batch_size, lambda b: _send(ctx, b))
    for chunk in chunks:
        ctx.run.count("read", len(chunk))
        for candidate in _with_shop_ids(ctx, chunk):
            quantity = StockQuantity(sku=candidate.sku, quantity=saleable(candidate.available),
                                     erp_id=candidate.erp_id, shop_id=candidate.shop_id)
            fp = stock_fingerprint(quantity.shop_id, quantity.quantity)
            if not full and candidate.sent == fp:
                ctx.run.count("unchanged")
                continue
            batcher.add(_Send(quantity, fp))
        ctx.checkpoint(advanced=len(chunk))
    batcher.flush()
    ctx.checkpoint()
    if full:
        with ctx.store.unit() as tx:
            tx.move_cursor(full_name, ctx.started)


def stock_fingerprint(shop_id: str | None, quantity: int) -> str:
    return fingerprint({"shop_id": shop_id, "quantity": quantity})


def check_zeroing(ctx: RunContext) -> list[list[StockCandidate]] | None:
    """The safety valve, before any write: of the bound products whose last-sent quantity is
    positive, how many would this run set to 0? (Counted over the ERP.) Returns what it read
    when that was a single chunk (a small catalogue: the run reuses it), else None."""
    cfg = ctx.integration
    in_stock = dropping = 0
    read: list[list[StockCandidate]] | None = []
    for chunk in ctx.store.iter_stock_candidates(tuple(cfg.stock_labels), cfg.warehouses,
                                                 bound_only=True, chunk=CHUNK):
        read = [chunk] if read == [] else None  # more than one chunk: not kept in memory
        for candidate in chunk:
            if candidate.sent is None or candidate.sent == stock_fingerprint(candidate.shop_id, 0):
                continue  # never sent, or the shop has 0 already
            in_stock += 1
            dropping += saleable(candidate.available) == 0
    ctx.safety_check("set positive shop stock to 0:", dropping, in_stock,
                     ctx.safety.max_zero_stock_pct)
    return read


def _with_shop_ids(ctx: RunContext, chunk: list[StockCandidate]) -> list[StockCandidate]:
    """The chunk's products that are in the shop, binding the ones found by SKU."""
    bound = [c for c in chunk if c.shop_id is not None]
    unbound = [c for c in chunk if c.shop_id is None]
    if not unbound:
        return bound
    found = ctx.shop.find_products_by_sku([c.sku for c in unbound])
    matched: list[StockCandidate] = []
    for candidate in unbound:
        ids = found.get(candidate.sku, [])
        if not ids:
            ctx.run.count("skipped")  # not in the shop: nothing to set
        elif len(ids) > 1:
            ctx.run.item_error(candidate.sku, f"SKU {candidate.sku!r} is carried by {len(ids)} "
                               f"shop products ({', '.join(ids[:5])}); not guessing",
                               erp_id=candidate.erp_id)
        else:
            matched.append(StockCandidate(candidate.erp_id, candidate.sku, candidate.available,
                                          ids[0], None))
    if not matched:
        return bound
    with ctx.store.unit() as tx:
        clashes = set(tx.bind_many(bindings.PRODUCT,
                                   [(c.erp_id, c.shop_id) for c in matched]))  # type: ignore[misc]
    usable: list[StockCandidate] = []
    for candidate in matched:
        if (candidate.erp_id, candidate.shop_id) in clashes:
            ctx.run.item_error(candidate.sku, f"shop product {candidate.shop_id} with SKU "
                               f"{candidate.sku!r} is bound to another ERP product",
                               erp_id=candidate.erp_id, shop_id=candidate.shop_id)
            continue
        ctx.run.event(INFO, "bound", item=candidate.sku, erp_id=candidate.erp_id,
                      shop_id=candidate.shop_id, message="matched by SKU")
        usable.append(candidate)
    return bound + usable


def _send(ctx: RunContext, batch: list[_Send]) -> None:
    quantities = [s.quantity for s in batch]
    answers = paired(batch, ctx.shop.set_stock(quantities), "stock quantities")
    sent = {s.quantity.erp_id: s.fingerprint for s, r in answers if r.ok}
    if sent:
        with ctx.store.unit() as tx:
            tx.record_sent(STOCK, sent)  # type: ignore[arg-type]
    gone: list[Gone] = []
    for item, result in answers:
        q = item.quantity
        if result.ok:
            ctx.run.count("updated")
            ctx.run.event(INFO, "stock_sent", item=q.sku, erp_id=q.erp_id, shop_id=q.shop_id,
                          message=str(q.quantity))
        elif result.gone and q.erp_id is not None and q.shop_id is not None:
            ctx.run.count("skipped")  # not in the shop any more: nothing to set
            gone.append(Gone(q.erp_id, q.shop_id, q.sku))
        else:
            ctx.run.item_error(q.sku, result.error or "the shop refused the quantity",
                               erp_id=q.erp_id, shop_id=q.shop_id)
    forget_gone(ctx, gone, then="stock is no longer sent to it until it is bound again")
