"""The Allegro sandbox behind the platform-parametrised operation suite.

Allegro differs from the shops in two ways the suite must see honestly:
- the seller authorises the integration once (OAuth device flow): `prepare_erp` runs the real
  flow (`workers.shops.allegro.auth.authorise`) against the sandbox, which approves at once,
  and the tokens land encrypted in the suite's tenant DB like `integration-auth` puts them;
- offers cannot be created by an integrator (`creates_products = False`): the seller lists
  them in Allegro with the SKU as signature, and export binds and updates them.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

from cryptography.fernet import Fernet
from sqlalchemy import Engine

from shared.erp.integrations import load_integration
from workers.engine.connector_state import SqlConnectorState
from workers.ports import ShopConnection
from workers.shops.allegro.auth import authorise
from workers.shops.allegro.sandbox import AllegroSandbox
from workers.shops.sandbox import Faults, SandboxHandle

WRITES = ("POST", "PUT", "PATCH", "DELETE")
KEY_VARIABLE = "ILUO_SYNC_SECRET_KEY"


class AllegroHarness:
    platform = "allegro"
    api_key = "allegro-suite-client"  # the application's client id
    api_secret: str | None = "allegro-suite-secret-123"  # its client secret
    shop_timezone = "Europe/Warsaw"
    # ERP code → the seller's fulfilment status.
    status_map: ClassVar[dict[str, str]] = {
        "new": "NEW", "in_progress": "PROCESSING", "shipped": "SENT", "cancelled": "CANCELLED"}
    paid_status = "PROCESSING"
    creates_products = False

    def __init__(self) -> None:
        self.sandbox = AllegroSandbox(self.api_key, self.api_secret or "")
        self.faults: Faults = self.sandbox.faults
        self._handle: SandboxHandle | None = None
        self._saved_key: str | None = None
        self.base_url = ""

    def start(self) -> None:
        # Tokens are encrypted with the service's key; the suite brings its own.
        self._saved_key = os.environ.get(KEY_VARIABLE)
        if not self._saved_key:
            os.environ[KEY_VARIABLE] = Fernet.generate_key().decode()
        self._handle = self.sandbox.serve()
        self.base_url = self._handle.base_url

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.stop()
        if not self._saved_key:
            os.environ.pop(KEY_VARIABLE, None)

    def prepare_erp(self, engine: Engine) -> None:
        """The seller authorises integration #1 (what `iluo-sync integration-auth` does)."""
        with engine.connect() as conn:
            config = load_integration(conn, 1)
        assert config is not None
        authorise(ShopConnection.of(config), SqlConnectorState(engine, 1), lambda device: None,
                  sleep=lambda seconds: None)

    def add_product(self, *, sku: str, name: str, price_gross: Decimal, stock: int) -> str:
        offer = self.sandbox.add_offer(sku=sku, name=name, price=price_gross, stock=max(stock, 1))
        return str(offer["id"])

    def product(self, sku: str) -> dict[str, object] | None:
        offers = self.sandbox.offers_by_sku(sku)
        if not offers:
            return None
        offer = offers[0]
        active = offer["publication"]["status"] == "ACTIVE"
        # What the marketplace sells: nothing while the offer is ended.
        price = Decimal(offer["sellingMode"]["price"]["amount"])
        return {"name": offer["name"], "price_gross": price,
                "stock": int(offer["stock"]["available"]) if active else 0, "active": active}

    def count_sku(self, sku: str) -> int:
        return len(self.sandbox.offers_by_sku(sku))

    def delete_product(self, sku: str) -> None:
        """The seller removes the offer (on Allegro: ended, then archived out of the API's
        reach; the sandbox forgets it)."""
        with self.sandbox.lock:
            for offer in self.sandbox.offers_by_sku(sku):
                del self.sandbox.offers[offer["id"]]

    def add_order(
        self, *, sku_lines: list[tuple[str, int, Decimal]], email: str, status: str | None = None,
        placed_at: datetime | None = None,
    ) -> str:
        placed = placed_at or datetime.now(UTC) - timedelta(seconds=5)
        lines: list[tuple[str | None, int, Decimal]] = list(sku_lines)
        form = self.sandbox.add_form(lines, email=email,
                                     fulfillment=status or self.status_map["new"],
                                     updated=placed, bought=placed)
        return str(form["id"])

    def set_order_status(self, external_id: str, shop_status: str) -> None:
        self.sandbox.change_form(external_id, fulfillment=shop_status,
                                 paid=shop_status == self.paid_status)

    def order_status(self, external_id: str) -> str:
        with self.sandbox.lock:
            return str(self.sandbox.forms[external_id]["fulfillment"]["status"])

    def write_calls(self) -> int:
        """Calls that change something in the seller's account (token calls are not)."""
        tokens = self.sandbox.log.count("POST", "/auth/oauth/")
        return sum(self.sandbox.log.count(method=m) for m in WRITES) - tokens

    def read_calls(self) -> int:
        return self.sandbox.log.count(method="GET")


def make_harness() -> AllegroHarness:
    return AllegroHarness()
