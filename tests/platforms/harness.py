"""What the platform-parametrised operation suite needs from each platform's sandbox.

Each platform adds one adapter module `tests/platforms/harness_<platform>.py` exposing
`make_harness() -> ShopHarness`. The suite (`test_operations_all_platforms.py`) is written once,
against this protocol only, and runs over real HTTP against every sandbox.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Protocol

from workers.shops.sandbox import Faults


class ShopHarness(Protocol):
    platform: str
    base_url: str  # what goes in shop_integrations.base_url (the shop's address, no API path)
    api_key: str
    api_secret: str | None
    shop_timezone: str  # the sandbox's own zone, written into shop_integrations.shop_timezone
    faults: Faults

    # ERP status code -> this platform's shop status (for shop_status_map); must cover
    # new, in_progress, shipped, cancelled.
    status_map: dict[str, str]
    paid_status: str  # a shop status meaning "paid, being processed"

    def start(self) -> None:
        """Serve the sandbox on 127.0.0.1 (a free port); sets base_url."""

    def stop(self) -> None: ...

    def add_product(self, *, sku: str, name: str, price_gross: Decimal, stock: int) -> str:
        """A product created in the shop (not by us); returns the shop's id."""

    def product(self, sku: str) -> dict[str, object] | None:
        """The shop's product with this SKU: {"name", "price_gross": Decimal,
        "stock": int | None, "active": bool}; None when absent."""

    def count_sku(self, sku: str) -> int:
        """How many shop products carry this SKU (a duplicate shows as 2)."""

    def delete_product(self, sku: str) -> None:
        """The shop owner deletes the product with this SKU for good, behind our back (as
        the platform does it: with its stock rows, or marked deleted where it keeps them)."""

    def add_order(
        self, *, sku_lines: list[tuple[str, int, Decimal]], email: str, status: str | None = None,
        placed_at: datetime | None = None,
    ) -> str:
        """An order placed in the shop a few seconds ago (a run's window ends just behind now),
        or created and last modified at `placed_at` (an order behind the cursor, as a shop that
        does not bump its modified date leaves one); returns its external id."""

    def set_order_status(self, external_id: str, shop_status: str) -> None:
        """A change made in the shop (e.g. paid), bumping whatever the platform bumps."""

    def order_status(self, external_id: str) -> str: ...

    # Optional, read with getattr by the suite (a harness without them keeps the defaults):
    # creates_products: bool = True — False where the platform cannot create products from
    #     ERP data (Allegro: an offer needs a catalogue decision). The suite then asserts that
    #     export refuses such products with the platform's stated limitation, and has the
    #     seller list them in the shop (`add_product`) before tests that need them there.
    # prepare_erp(engine) -> None — called once the suite's tenant DB is migrated, for what a
    #     person does once per integration (Allegro: the seller's OAuth authorisation).

    def write_calls(self) -> int:
        """API calls that changed something (POST/PUT/PATCH/DELETE, bulk counted once)."""

    def read_calls(self) -> int: ...
