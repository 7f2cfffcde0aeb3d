"""The Shoper sandbox behind the platform-parametrised operation suite.

The bucket keeps Shoper's size (10) but leaks fast (500/s), so the suite exercises the
headers and the limiter without waiting in real time; `tests/shops/shoper` and the benchmark
run the documented 2/s.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

from workers.shops.sandbox import Faults, SandboxHandle
from workers.shops.shoper.sandbox import API_PREFIX, LANG, ShoperSandbox

WRITES = ("POST", "PUT", "PATCH", "DELETE")


class ShoperHarness:
    platform = "shoper"
    api_key = "webapi-suite"  # the WebAPI user's login
    api_secret: str | None = "haslo-suite-123"  # its password
    shop_timezone = "Europe/Warsaw"
    # ERP code → Shoper status_id of a fresh shop (1 Złożone, 2 Przyjęte do realizacji,
    # 7 Wysłane, 9 Anulowane).
    status_map: ClassVar[dict[str, str]] = {
        "new": "1", "in_progress": "2", "shipped": "7", "cancelled": "9"}
    paid_status = "2"

    def __init__(self) -> None:
        self.sandbox = ShoperSandbox(self.api_key, self.api_secret or "",
                                     shop_timezone=self.shop_timezone, bucket_bandwidth=500)
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
        product = self.sandbox.add_product(sku, name, price_gross, stock)
        return f"{product['product_id']}:{product['stock']['stock_id']}"

    def product(self, sku: str) -> dict[str, object] | None:
        with self.sandbox.lock:
            rows = [s for s in self.sandbox.stocks.values() if s["code"] == sku]
            if not rows:
                return None
            stock = rows[0]
            product = self.sandbox.products[int(stock["product_id"])]
            texts = product["translations"].get(LANG, {})
            active = texts.get("active") == "1" and stock["active"] == "1"
            return {"name": texts.get("name", ""), "price_gross": Decimal(stock["price"]),
                    "stock": int(Decimal(stock["stock"])), "active": active}

    def delete_product(self, sku: str) -> None:
        # DELETE products/{id}: the product goes with its stock rows (base and variants).
        with self.sandbox.lock:
            ids = {int(s["product_id"]) for s in self.sandbox.stocks.values() if s["code"] == sku}
            for product_id in ids:
                del self.sandbox.products[product_id]
            for stock_id in [k for k, s in self.sandbox.stocks.items()
                             if int(s["product_id"]) in ids]:
                del self.sandbox.stocks[stock_id]

    def count_sku(self, sku: str) -> int:
        return len(self.sandbox.stock_by_code(sku))

    def add_order(
        self, *, sku_lines: list[tuple[str, int, Decimal]], email: str, status: str | None = None,
        placed_at: datetime | None = None,
    ) -> str:
        # Placed a few seconds ago: a run's window ends just behind "now" (late commits).
        placed = placed_at or datetime.now(UTC) - timedelta(seconds=5)
        order = self.sandbox.add_order(sku_lines, email=email, created=placed,
                                       status_id=int(status or self.status_map["new"]))
        return str(order["order_id"])

    def set_order_status(self, external_id: str, shop_status: str) -> None:
        self.sandbox.set_order_status(int(external_id), int(shop_status))
        if shop_status == self.paid_status:
            self.sandbox.mark_paid(int(external_id))

    def order_status(self, external_id: str) -> str:
        with self.sandbox.lock:
            return str(self.sandbox.orders[int(external_id)]["status_id"])

    def write_calls(self) -> int:
        """POST/PUT/DELETE that change something: a bulk counts once, the login not at all."""
        login = self.sandbox.log.count("POST", API_PREFIX + "auth")
        return sum(self.sandbox.log.count(method=m) for m in WRITES) - login

    def read_calls(self) -> int:
        return self.sandbox.log.count(method="GET")


def make_harness() -> ShoperHarness:
    return ShoperHarness()
