"""export_products — ERP products → the shop (CONTRACT §2).

Which products: active ones carrying any of the integration's `export_products` labels (every
active product when it has none), streamed from the ERP in chunks so memory stays flat.

Matching, never a duplicate: the binding first; else the shop is asked for the SKU — none →
create, one → bind and update, several → item error (we never guess). A create the shop
refuses as a duplicate SKU names the owner: we bind to it and update instead.

Unchanged products cost nothing: the fingerprint of the sent fields (SKU, name, description,
gross price, EAN, weight, active, and the shop id) is compared with the last one the shop
accepted. A full pass (`--full`, the first run, or every FULL_PASS_EVERY) sends everything.

Policy for a product that leaves the scope (loses its label, or becomes inactive in the ERP):
it is deactivated in the shop once — sent with `is_active` False, which the connector maps to
the platform's "not for sale" state (WooCommerce: draft) — and then left alone until it comes
back into scope. Products never sent by this integration are never touched, so a shop's own
products or ones only bound by update_stock stay as they are.

A product deleted in the shop behind our back (the connector answers `gone` to its update)
loses its binding and last-sent values, recorded as a `deleted_in_shop` warning; still in
scope, it goes through matching again in the same run — bound by SKU if the shop has another
product with it, else created once more. Out of scope, there is nothing left to deactivate.
A wrong "gone" costs no more than a SKU lookup, since matching never creates a duplicate.

Safety valve (workers.engine.safety): before the first write, a run that would deactivate
more than `safety_max_deactivate_pct` % of the integration's bound products stops. A product
counts when it is bound, out of scope and its last-sent state is not already the deactivated
one; a cheap SQL count of out-of-scope bound products comes first, and only when that bound
crosses the line are the candidates streamed once more to count exactly.
"""

from __future__ import annotations

from dataclasses import replace

from workers.domain import Product
from workers.engine import bindings, watermarks
from workers.engine.context import RunContext
from workers.engine.erp_port import ExportCandidate
from workers.engine.fingerprints import PRODUCT, fingerprint
from workers.engine.runs import INFO
from workers.operations._common import CHUNK, Batcher, Gone, forget_gone, paired


def sent_fields(product: Product) -> dict[str, object]:
    """Exactly what the shop receives (the fingerprint's input)."""
    return {
        "shop_id": product.shop_id,
        "sku": product.sku,
        "name": product.name,
        "description": product.description or None,
        "price_gross": product.price_gross,
        "ean": product.ean or None,
        "weight_kg": product.weight_kg,
        "is_active": product.is_active,
    }


def to_shop(candidate: ExportCandidate) -> Product:
    """The product as the shop should have it; out of scope means deactivated."""
    product = candidate.product
    return product if candidate.in_scope else replace(product, is_active=False)


def run(ctx: RunContext) -> None:
    full_name = watermarks.full_pass_name(ctx.operation)
    full = watermarks.full_pass_due(ctx.store.read_cursor(full_name), forced=ctx.full,
                                    now=ctx.started)
    ctx.run.full = full
    labels = tuple(ctx.integration.export_labels)
    check_deactivations(ctx, labels)
    exporter = ProductExporter(ctx, full)
    total = ctx.store.count_export_candidates(labels)
    for chunk in ctx.store.iter_export_candidates(labels, chunk=CHUNK):
        exporter.take(chunk)
        ctx.checkpoint(advanced=len(chunk), total=total)
    exporter.finish()
    ctx.checkpoint(total=total)
    if full:
        with ctx.store.unit() as tx:
            tx.move_cursor(full_name, ctx.started)


def deactivates(candidate: ExportCandidate) -> bool:
    """Would this run deactivate the product in the shop (not already deactivated there)?"""
    return (not candidate.in_scope and candidate.product.shop_id is not None
            and candidate.sent is not None
            and candidate.sent != fingerprint(sent_fields(to_shop(candidate))))


def check_deactivations(ctx: RunContext, labels: tuple[int, ...]) -> None:
    """The safety valve, before any write (see the module's docstring)."""
    limit = ctx.safety.max_deactivate_pct
    bound = ctx.store.count_bound_products()
    if ctx.store.count_leaving_scope(labels) * 100 <= limit * bound:
        return  # even if every one of them were deactivated now
    count = sum(deactivates(c) for chunk in ctx.store.iter_export_candidates(labels, chunk=CHUNK)
                for c in chunk)
    ctx.safety_check("deactivate bound products:", count, bound, limit)


class ProductExporter:
    """Decides per product (unchanged / update / look up), then writes in full batches."""

    def __init__(self, ctx: RunContext, full: bool) -> None:
        self.ctx = ctx
        self.full = full
        size = lambda: ctx.shop.batch_size  # noqa: E731
        self.creates: Batcher[Product] = Batcher(size, self._create)
        self.updates: Batcher[Product] = Batcher(size, self._update)
        self.rematch: list[Product] = []  # in scope, deleted in the shop: match them again
        self.rematched: set[int] = set()  # ERP ids matched again once this run already

    def take(self, chunk: list[ExportCandidate]) -> None:
        run = self.ctx.run
        run.count("read", len(chunk))
        unbound: list[Product] = []
        for candidate in chunk:
            product = to_shop(candidate)
            if product.shop_id is None:
                if candidate.in_scope:
                    unbound.append(product)
                else:  # sent once, binding gone since: nothing we could deactivate
                    run.count("skipped")
                continue
            if not self.full and candidate.sent == fingerprint(sent_fields(product)):
                run.count("unchanged")
                continue
            self.updates.add(product)
        if unbound:
            self._match_by_sku(unbound)
        self._match_again()

    def finish(self) -> None:
        while True:
            self.creates.flush()
            self.updates.flush()
            if not self.rematch:
                return
            self._match_again()

    def _match_again(self) -> None:
        """Products found deleted in the shop by this run's updates: matched (and so created
        or bound by SKU) once more, each at most once a run."""
        if self.rematch:
            products, self.rematch = self.rematch, []
            self._match_by_sku(products)

    # -- matching -------------------------------------------------------------------------------

    def _match_by_sku(self, products: list[Product]) -> None:
        found = self.ctx.shop.find_products_by_sku([p.sku for p in products])
        to_bind: list[Product] = []
        for product in products:
            ids = found.get(product.sku, [])
            if not ids:
                self.creates.add(product)
            elif len(ids) == 1:
                to_bind.append(replace(product, shop_id=ids[0]))
            else:
                self.ctx.run.item_error(
                    product.sku, f"SKU {product.sku!r} is carried by {len(ids)} shop products "
                    f"({', '.join(ids[:5])}); not guessing which one is ours",
                    erp_id=product.erp_id)
        self._bind_then_update(to_bind)

    def _bind_then_update(self, products: list[Product]) -> None:
        if not products:
            return
        with self.ctx.store.unit() as tx:
            clashes = set(tx.bind_many(bindings.PRODUCT,
                                       [(p.erp_id, p.shop_id) for p in products]))  # type: ignore[misc]
        for product in products:
            if (product.erp_id, product.shop_id) in clashes:
                self.ctx.run.item_error(
                    product.sku, f"shop product {product.shop_id} with SKU {product.sku!r} is "
                    "bound to another ERP product", erp_id=product.erp_id,
                    shop_id=product.shop_id)
                continue
            self.ctx.run.event(INFO, "bound", item=product.sku, erp_id=product.erp_id,
                               shop_id=product.shop_id, message="matched by SKU")
            self.updates.add(product)

    # -- writes ---------------------------------------------------------------------------------

    def _create(self, products: list[Product]) -> None:
        answers = paired(products, self.ctx.shop.create_products(products), "products")
        created, owned = [], []
        for product, result in answers:
            if result.ok and result.shop_id:
                created.append(replace(product, shop_id=result.shop_id))
            elif not result.ok and result.shop_id:
                # Duplicate SKU: the shop named the product that has it; bind and update that.
                owned.append(replace(product, shop_id=result.shop_id))
            else:
                self.ctx.run.item_error(product.sku, result.error or "the shop did not create it",
                                        erp_id=product.erp_id)
        if created:
            with self.ctx.store.unit() as tx:
                # A product the shop has just created cannot clash with an existing binding.
                tx.bind_many(bindings.PRODUCT, [(p.erp_id, p.shop_id) for p in created])  # type: ignore[misc]
                tx.record_sent(PRODUCT, {p.erp_id: fingerprint(sent_fields(p)) for p in created
                                         if p.erp_id is not None})
            for product in created:
                self.ctx.run.count("created")
                self.ctx.run.event(INFO, "created", item=product.sku, erp_id=product.erp_id,
                                   shop_id=product.shop_id)
        self._bind_then_update(owned)

    def _update(self, products: list[Product]) -> None:
        answers = paired(products, self.ctx.shop.update_products(products), "products")
        done = [product for product, result in answers if result.ok]
        if done:
            with self.ctx.store.unit() as tx:
                tx.record_sent(PRODUCT, {p.erp_id: fingerprint(sent_fields(p)) for p in done
                                         if p.erp_id is not None})
        gone: list[Product] = []
        for product, result in answers:
            if result.ok:
                self.ctx.run.count("updated")
                kind = "updated" if product.is_active else "deactivated"
                self.ctx.run.event(INFO, kind, item=product.sku, erp_id=product.erp_id,
                                   shop_id=product.shop_id)
            elif result.gone and product.erp_id not in self.rematched:
                gone.append(product)
            else:
                self.ctx.run.item_error(product.sku, result.error or "the shop refused the update",
                                        erp_id=product.erp_id, shop_id=product.shop_id)
        self._gone(gone)

    def _gone(self, products: list[Product]) -> None:
        """Unbind products deleted in the shop; the ones still in scope are matched again
        (only products in scope are sent active, see `to_shop`)."""
        dropped = forget_gone(
            self.ctx, [Gone(p.erp_id, p.shop_id, p.sku) for p in products
                       if p.erp_id is not None and p.shop_id is not None],
            then="export creates it again or binds it by SKU while it is in scope")
        for product in products:
            if product.is_active and product.erp_id is not None and product.erp_id in dropped:
                self.rematched.add(product.erp_id)
                self.rematch.append(replace(product, shop_id=None))
            else:  # out of scope (nothing left to deactivate), or bound anew meanwhile
                self.ctx.run.count("skipped")
