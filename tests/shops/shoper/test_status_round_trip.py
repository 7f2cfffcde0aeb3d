"""Order status round trip on Shoper: every ERP status the suite maps is written with the
connector, read back by id, and maps to the same ERP status (`status_id` is written as a number
and read back as its digits in a string: "7")."""

from __future__ import annotations

from datetime import timedelta

from tests.platforms.harness_shoper import ShoperHarness
from tests.shops.shoper.support import FakeTime
from workers.domain import StatusChange
from workers.shops.shoper.client import ShoperClient
from workers.shops.shoper.sandbox import ShoperSandbox


def test_each_mapped_status_comes_back_as_the_same_erp_status(
    shop: ShoperSandbox, client: ShoperClient, fake_time: FakeTime
) -> None:
    erp_of = {shop_status: erp for erp, shop_status in ShoperHarness.status_map.items()}
    shop.add_product("KUB-1", "Kubek", "10.00", 100)
    for n, (erp, shop_status) in enumerate(ShoperHarness.status_map.items()):
        order = shop.add_order([("KUB-1", 1, "10.00")], email=f"k{n}@example.pl",
                               created=fake_time.moment() - timedelta(hours=1))
        [sent] = client.set_order_statuses([StatusChange(n, order["order_id"], shop_status, n)])
        assert sent.ok, sent.error
        [back] = client.fetch_orders([order["order_id"]]).items
        assert erp_of[back.status] == erp
