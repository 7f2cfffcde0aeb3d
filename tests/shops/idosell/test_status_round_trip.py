"""Order status round trip on IdoSell: every ERP status the suite maps is written with the
connector (`orderStatus` codes), read back by serial number, and maps to the same ERP status."""

from __future__ import annotations

from typing import Any

from tests.platforms.harness_idosell import IdoSellHarness
from workers.domain import StatusChange
from workers.shops.idosell.client import IdoSellClient
from workers.shops.idosell.sandbox import IdoSellSandbox


def test_each_mapped_status_comes_back_as_the_same_erp_status(
    ido: IdoSellSandbox, client: IdoSellClient, clock: Any
) -> None:
    erp_of = {shop_status: erp for erp, shop_status in IdoSellHarness.status_map.items()}
    ido.add_product("KUB-1", "Kubek")
    for n, (erp, shop_status) in enumerate(IdoSellHarness.status_map.items()):
        serial = str(ido.add_order([("KUB-1", 1, "10.00")], email=f"k{n}@example.pl")["serial"])
        [sent] = client.set_order_statuses([StatusChange(n, serial, shop_status, n)])
        assert sent.ok, sent.error
        [back] = client.fetch_orders([serial]).items
        assert erp_of[back.status] == erp
