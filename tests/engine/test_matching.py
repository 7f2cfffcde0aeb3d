"""SKU matching rules the sandbox cannot produce (it keeps SKUs unique): one SKU carried by
several shop products is an item error — never a guess — for export and for stock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from sqlalchemy import Engine

from shared.erp.sync_tables import sync_bindings, sync_events
from tests.engine.support import count, events
from workers.domain import ItemResult, Operation, Product, StockQuantity
from workers.runner import run_operation


class FakeShop:
    """An in-memory shop where SKU DEMO-0001 exists twice and DEMO-0002 once."""

    platform: ClassVar[str] = "fake"
    page_size = 100
    batch_size = 100

    def __init__(self) -> None:
        self.created: list[str] = []
        self.updated: list[str] = []
        self.stock: dict[str, int] = {}

    def find_products_by_sku(self, skus: Sequence[str]) -> dict[str, list[str]]:
        known = {"DEMO-0001": ["11", "12"], "DEMO-0002": ["21"]}
        return {s: known[s] for s in skus if s in known}

    def create_products(self, products: Sequence[Product]) -> list[ItemResult]:
        self.created += [p.sku for p in products]
        return [ItemResult(p.sku, True, f"new-{p.sku}") for p in products]

    def update_products(self, products: Sequence[Product]) -> list[ItemResult]:
        self.updated += [p.sku for p in products]
        return [ItemResult(p.sku, True, p.shop_id) for p in products]

    def set_stock(self, quantities: Sequence[StockQuantity]) -> list[ItemResult]:
        self.stock.update({q.shop_id: q.quantity for q in quantities})  # type: ignore[misc]
        return [ItemResult(q.sku, True, q.shop_id) for q in quantities]

    def iter_orders(self, since: datetime, until: datetime):  # type: ignore[no-untyped-def]
        return iter(())

    def iter_products(self, since, until):  # type: ignore[no-untyped-def]
        return iter(())

    def set_order_statuses(self, changes):  # type: ignore[no-untyped-def]
        return []

    def close(self) -> None:
        pass


def test_export_never_guesses_between_two_shop_products(erp_db: Engine) -> None:
    shop = FakeShop()

    result = run_operation(erp_db, 1, Operation.EXPORT_PRODUCTS, shop_factory=lambda c: shop)

    assert result.outcome == "partial" and result.counts["failed"] == 1
    assert "DEMO-0001" not in shop.created + shop.updated
    assert "DEMO-0002" in shop.updated and len(shop.created) == 26
    error = events(erp_db, sync_events.c.kind == "item_error")[0]
    assert error.item == "DEMO-0001" and "2 shop products" in error.message
    assert count(erp_db, sync_bindings) == 27


def test_stock_never_guesses_either(erp_db: Engine) -> None:
    shop = FakeShop()

    result = run_operation(erp_db, 1, Operation.UPDATE_STOCK, shop_factory=lambda c: shop)

    assert result.outcome == "partial" and result.counts["failed"] == 1
    assert set(shop.stock) == {"21"}
    assert result.counts["skipped"] == 28  # the rest is not in this shop
