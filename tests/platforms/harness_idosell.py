"""The IdoSell sandbox behind the platform-parametrised operation suite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

from workers.shops.idosell.sandbox import DEFAULT_KEY, IdoSellSandbox
from workers.shops.sandbox import Faults, SandboxHandle

WRITES = ("POST", "PUT", "PATCH", "DELETE")
SEARCHES = ("/api/admin/v6/orders/orders/search", "/api/admin/v6/products/products/search")


class IdoSellHarness:
    platform = "idosell"
    api_key = DEFAULT_KEY
    api_secret: str | None = None
    shop_timezone = "Europe/Warsaw"
    # IdoSell's own status codes (no free-form statuses).
    status_map: ClassVar[dict[str, str]] = {
        "new": "new", "in_progress": "on_order", "shipped": "finished", "cancelled": "canceled"}
    paid_status = "on_order"

    def __init__(self) -> None:
        self.sandbox = IdoSellSandbox(self.api_key, shop_timezone=self.shop_timezone)
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
                                            quantity=stock)["productId"])

    def product(self, sku: str) -> dict[str, object] | None:
        found = self.sandbox.product_by_code(sku)
        if not found:
            return None
        record = found[0]
        return {
            "name": record["names"]["pol"],
            "price_gross": Decimal(record["price"]).quantize(Decimal("0.01")),
            "stock": int(record["sizes"][0]["quantities"].get(1, 0)),
            "active": record["visible"] == "y",
        }

    def count_sku(self, sku: str) -> int:
        return len(self.sandbox.product_by_code(sku))

    def delete_product(self, sku: str) -> None:
        # IdoSell keeps a deleted product as deleted: no search, edit or stock write finds it.
        for record in self.sandbox.product_by_code(sku):
            self.sandbox.update_product(record["productId"], deleted=True)

    def add_order(
        self, *, sku_lines: list[tuple[str, int, Decimal]], email: str, status: str | None = None,
        placed_at: datetime | None = None,
    ) -> str:
        # Placed a few seconds ago: a row stamped in the run's own second belongs to the next
        # window (the engine's END_LAG), and the suite expects one run to see these.
        order = self.sandbox.add_order(sku_lines, email=email, status=status or self.paid_status,
                                       created=placed_at or datetime.now(UTC)
                                       - timedelta(seconds=5),
                                       paid=True)
        return str(order["serial"])

    def set_order_status(self, external_id: str, shop_status: str) -> None:
        self.sandbox.set_order_status(int(external_id), shop_status)

    def order_status(self, external_id: str) -> str:
        with self.sandbox.lock:
            return str(self.sandbox.orders[int(external_id)]["status"])

    def write_calls(self) -> int:
        # Searches are POSTs that change nothing: they count as reads.
        return sum(self.sandbox.log.count(method=m) for m in WRITES) - sum(
            self.sandbox.log.count("POST", path) for path in SEARCHES)

    def read_calls(self) -> int:
        return self.sandbox.log.count(method="GET") + sum(
            self.sandbox.log.count("POST", path) for path in SEARCHES)


def make_harness() -> IdoSellHarness:
    return IdoSellHarness()
