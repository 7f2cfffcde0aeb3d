"""Helpers of the platform-parametrised suite: runs as the scheduler makes them, and the ERP
rows a test compares the shop with."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine, select

from shared.erp import schema as erp
from workers.domain import Operation
from workers.runner import RunResult, run_operation


def run(engine: Engine, op: Operation, **kw: object) -> RunResult:
    return run_operation(engine, 1, op, holder="suite", **kw)


def until_ok(engine: Engine, op: Operation, attempts: int = 12) -> RunResult:
    """What the scheduler does: the next run is the retry."""
    for _ in range(attempts):
        result = run(engine, op)
        if result.ok:
            return result
    raise AssertionError(f"{op.value} never succeeded: {result.error}")


def exported(engine: Engine) -> list[dict]:
    """Active products carrying label 1 (the demo integration's export scope)."""
    p, pl = erp.products, erp.product_labels
    stmt = (select(p).join(pl, pl.c.product_id == p.c.id)
            .where(pl.c.label_id == 1, p.c.is_active.is_(True)).order_by(p.c.id))
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def creates_products(shop: object) -> bool:
    """Can the platform create products from ERP data (harness.py, `creates_products`)?"""
    return bool(getattr(shop, "creates_products", True))


def first_export(shop: object) -> str:
    """The count a first export of products missing from the shop lands in: `created`, or
    `updated` where the seller lists them first (`list_in_shop`) and export binds them."""
    return "created" if creates_products(shop) else "updated"


def list_in_shop(shop: object, engine: Engine) -> None:
    """Where the platform cannot create products, the seller lists every exported product in
    the shop (under another title and price) before export; elsewhere nothing happens."""
    if creates_products(shop):
        return
    for row in exported(engine):
        if shop.count_sku(row["sku"]) == 0:  # type: ignore[attr-defined]
            shop.add_product(sku=row["sku"], name=f"Oferta {row['sku']}",  # type: ignore[attr-defined]
                             price_gross=Decimal("1.00"), stock=1)
