"""A ShopClient wrapper for `--dry-run`: reads go to the shop, writes only pretend to.

Each write answers "ok" for every item (with a made-up shop id for creates), so an operation
computes and counts exactly what it would do; the ERP side is rolled back by the store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import ClassVar

from workers.domain import ItemResult, Order, Page, Product, StatusChange, StockQuantity
from workers.ports import ShopClient


class DryRunShop:
    platform: ClassVar[str] = "dry-run"

    def __init__(self, shop: ShopClient) -> None:
        self._shop = shop
        self.page_size = shop.page_size
        self.batch_size = shop.batch_size

    def iter_orders(self, since: datetime, until: datetime) -> Iterator[Page[Order]]:
        return self._shop.iter_orders(since, until)

    def iter_products(self, since: datetime | None, until: datetime) -> Iterator[Page[Product]]:
        return self._shop.iter_products(since, until)

    def find_products_by_sku(self, skus: Sequence[str]) -> dict[str, list[str]]:
        return self._shop.find_products_by_sku(skus)

    def fetch_orders(self, ids: Sequence[str]) -> Page[Order]:
        return self._shop.fetch_orders(ids)

    def fetch_products(self, ids: Sequence[str]) -> Page[Product]:
        return self._shop.fetch_products(ids)

    def iter_order_ids(self, since: datetime, until: datetime) -> Iterator[list[str]]:
        return self._shop.iter_order_ids(since, until)

    def set_order_statuses(self, changes: Sequence[StatusChange]) -> list[ItemResult]:
        return [ItemResult(key=c.external_id, ok=True) for c in changes]

    def create_products(self, products: Sequence[Product]) -> list[ItemResult]:
        return [ItemResult(key=p.sku, ok=True, shop_id=f"dry-run:{p.sku}"[:64]) for p in products]

    def update_products(self, products: Sequence[Product]) -> list[ItemResult]:
        return [ItemResult(key=p.sku, ok=True, shop_id=p.shop_id) for p in products]

    def set_stock(self, quantities: Sequence[StockQuantity]) -> list[ItemResult]:
        return [ItemResult(key=q.sku, ok=True, shop_id=q.shop_id) for q in quantities]

    def close(self) -> None:
        self._shop.close()
