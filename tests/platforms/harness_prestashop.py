"""The PrestaShop sandbox behind the platform-parametrised operation suite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

from workers.shops.prestashop.sandbox import DEFAULT_KEY, PrestaShopSandbox
from workers.shops.sandbox import Faults, SandboxHandle

WRITES = ("POST", "PUT", "PATCH", "DELETE")


class PrestaShopHarness:
    platform = "prestashop"
    api_key = DEFAULT_KEY  # PrestaShop keys are exactly 32 characters
    api_secret: str | None = None
    shop_timezone = "Europe/Warsaw"
    # Statuses are the ids of the shop's order_states (a fresh install's).
    status_map: ClassVar[dict[str, str]] = {
        "new": "10", "in_progress": "3", "shipped": "4", "cancelled": "6"}
    paid_status = "2"  # Payment accepted

    def __init__(self) -> None:
        self.sandbox = PrestaShopSandbox(self.api_key, shop_timezone=self.shop_timezone)
        self.faults: Faults = self.sandbox.faults
        self._handle: SandboxHandle | None = None
        self.base_url = ""

    def start(self) -> None:
        self._handle = self.sandbox.serve()
        self.base_url = self._handle.base_url

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.stop()

    def add_product(self, *, sku: str, name: str, price_gross: Decimal, stock: int) -> str:
        return str(self.sandbox.add_product(sku, name, price_gross=price_gross,
                                            quantity=stock)["id"])

    def product(self, sku: str) -> dict[str, object] | None:
        found = self.sandbox.products_by_reference(sku)
        if not found:
            return None
        record = found[0]
        row = self.sandbox.stock_row(record["id"])
        return {
            "name": record["name"]["1"],
            "price_gross": self.sandbox.gross_price(record),
            "stock": int(row["quantity"]) if row else None,
            "active": record["active"] == "1",
        }

    def count_sku(self, sku: str) -> int:
        return len(self.sandbox.products_by_reference(sku))

    def delete_product(self, sku: str) -> None:
        # Product::delete drops the product's stock_available rows with it.
        with self.sandbox.lock:
            ids = {record["id"] for record in self.sandbox.products_by_reference(sku)}
            for product_id in ids:
                del self.sandbox.tables["products"][product_id]
            stock = self.sandbox.tables["stock_availables"]
            for row_id in [k for k, row in stock.items()
                           if row["id_product"] in {str(i) for i in ids}]:
                del stock[row_id]

    def add_order(
        self, *, sku_lines: list[tuple[str, int, Decimal]], email: str, status: str | None = None,
        placed_at: datetime | None = None,
    ) -> str:
        # Placed a few seconds ago: a row stamped in the run's own second belongs to the next
        # window (the engine's END_LAG), and the suite expects one run to see these.
        order = self.sandbox.add_order(sku_lines, email=email,
                                       state=int(status or self.paid_status),
                                       created=placed_at or datetime.now(UTC)
                                       - timedelta(seconds=5))
        return str(order["id"])

    def set_order_status(self, external_id: str, shop_status: str) -> None:
        self.sandbox.change_order_state(int(external_id), int(shop_status))

    def order_status(self, external_id: str) -> str:
        with self.sandbox.lock:
            return str(self.sandbox.tables["orders"][int(external_id)]["current_state"])

    def write_calls(self) -> int:
        return sum(self.sandbox.log.count(method=m) for m in WRITES)

    def read_calls(self) -> int:
        return self.sandbox.log.count(method="GET")


def make_harness() -> PrestaShopHarness:
    return PrestaShopHarness()
