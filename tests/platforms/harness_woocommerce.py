"""The WooCommerce sandbox behind the platform-parametrised operation suite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

from workers.shops.sandbox import Faults, SandboxHandle
from workers.shops.woocommerce.mapping import erp_text
from workers.shops.woocommerce.sandbox import WooCommerceSandbox

WRITES = ("POST", "PUT", "PATCH", "DELETE")


class WooCommerceHarness:
    platform = "woocommerce"
    api_key = "ck_suite"
    api_secret: str | None = "cs_suite"
    shop_timezone = "Europe/Warsaw"
    status_map: ClassVar[dict[str, str]] = {
        "new": "pending", "in_progress": "processing", "shipped": "completed",
        "cancelled": "cancelled"}
    paid_status = "processing"

    def __init__(self) -> None:
        self.sandbox = WooCommerceSandbox(
            self.api_key, self.api_secret, site_timezone=self.shop_timezone
        )
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
        record = self.sandbox.add_product(
            sku=sku, name=name, regular_price=f"{price_gross:.2f}", manage_stock=True,
            stock_quantity=stock,
        )
        return str(record["id"])

    def _by_sku(self, sku: str) -> list[dict]:
        with self.sandbox.lock:
            return [p for p in self.sandbox.products.values() if p.get("sku") == sku]

    def product(self, sku: str) -> dict[str, object] | None:
        found = self._by_sku(sku)
        if not found:
            return None
        record = found[0]
        return {
            # As the connector reads it: the stored (kses) form mapped back (mapping.erp_text).
            "name": erp_text(record["name"]),
            "price_gross": Decimal(record["regular_price"] or "0"),
            "stock": record.get("stock_quantity"),
            "active": record["status"] == "publish",
        }

    def count_sku(self, sku: str) -> int:
        return len(self._by_sku(sku))

    def delete_product(self, sku: str) -> None:
        # "Delete permanently" (DELETE products/{id}?force=true): the post is gone, not trashed.
        with self.sandbox.lock:
            for record in [p for p in self.sandbox.products.values() if p.get("sku") == sku]:
                del self.sandbox.products[record["id"]]

    def add_order(
        self, *, sku_lines: list[tuple[str, int, Decimal]], email: str, status: str | None = None,
        placed_at: datetime | None = None,
    ) -> str:
        # An order placed in a WooCommerce shop names products the shop carries; a SKU the ERP
        # does not know is a shop product the ERP lacks. (A product gone from the shop would
        # answer `sku` null: WC_REST_Orders_V2_Controller::get_order_item_data.)
        for sku, _, price in sku_lines:
            if not self._by_sku(sku):
                self.sandbox.add_product(sku=sku, name=sku, regular_price=f"{price:.2f}")
        # Placed a few seconds ago: a run's window ends just behind "now" (late commits).
        placed = placed_at or datetime.now(UTC) - timedelta(seconds=5)
        order = self.sandbox.add_order(
            sku_lines, email=email, status=status or "processing", created=placed, modified=placed
        )
        return str(order["id"])

    def set_order_status(self, external_id: str, shop_status: str) -> None:
        self.sandbox.update_order(int(external_id), status=shop_status)

    def order_status(self, external_id: str) -> str:
        with self.sandbox.lock:
            return str(self.sandbox.orders[int(external_id)]["status"])

    def write_calls(self) -> int:
        return sum(self.sandbox.log.count(method=m) for m in WRITES)

    def read_calls(self) -> int:
        return self.sandbox.log.count(method="GET")


def make_harness() -> WooCommerceHarness:
    return WooCommerceHarness()
