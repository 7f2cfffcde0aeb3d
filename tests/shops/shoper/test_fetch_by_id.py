"""The net under the watermark on Shoper: orders and products re-read by id, order ids for the
daily reconciliation — over real HTTP against the sandbox, calls counted.

Shoper reads by id through the list's `filters={"order_id":{"IN":[…]}}` (there is no batch GET
by id), `limit` at most 50: N ids cost ceil(N / 50) list calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from tests.shops.shoper.support import LOGIN, PASSWORD, Api, FakeTime
from workers.ports import ShopError
from workers.shops.sandbox import SandboxHandle
from workers.shops.shoper.client import ShoperClient
from workers.shops.shoper.sandbox import ShoperSandbox

ORDERS = "/webapi/rest/orders"
PRODUCTS = "/webapi/rest/products"
LINES = "/webapi/rest/order-products"

MakeClient = Callable[..., ShoperClient]


def _orders(shop: ShoperSandbox, count: int, start: datetime) -> list[str]:
    if not shop.stock_by_code("KUB-1"):
        shop.add_product("KUB-1", "Kubek", "24.60", 10_000)
    return [shop.add_order([("KUB-1", 1, "24.60")], created=start + timedelta(minutes=n),
                           email=f"k{n}@example.pl")["order_id"] for n in range(count)]


def _filters(shop: ShoperSandbox, path: str) -> list[dict[str, object]]:
    return [orjson.loads(e.query.get("filters", "{}")) for e in shop.log.entries()
            if e.path == path and e.method == "GET"]


def test_fetch_orders_reads_50_ids_per_call_with_lines_and_leaves_unknown_ids_out(
    shop: ShoperSandbox, client: ShoperClient, fake_time: FakeTime
) -> None:
    ids = _orders(shop, 120, fake_time.moment() - timedelta(days=20))
    wanted = [*ids[:117], "999999", "abc", "0", ids[5]]  # unknown, junk, zero, a repeat
    page = client.fetch_orders(wanted)
    assert not page.errors
    assert [o.external_id for o in page.items] == ids[:117]  # ascending ids, each once
    assert all(len(o.lines) == 1 and o.lines[0].sku == "KUB-1" for o in page.items)
    # 118 distinct numeric ids → ceil(118 / 50) = 3 list calls, each an IN of ≤ 50 ids.
    assert shop.log.count("GET", ORDERS) == math.ceil(118 / 50) == 3
    sent = [f["order_id"] for f in _filters(shop, ORDERS)]
    assert all(set(f) == {"IN"} and len(f["IN"]) <= 50 for f in sent)  # type: ignore[arg-type]
    assert shop.log.count("GET", LINES) == 3  # one line query per 50 orders


def test_fetch_orders_keys_an_unparseable_order_by_its_id(
    shop: ShoperSandbox, client: ShoperClient, fake_time: FakeTime
) -> None:
    good, bad = _orders(shop, 2, fake_time.moment() - timedelta(days=1))
    shop.edit_order(int(bad), currency_id="77")  # a currency the shop does not list
    page = client.fetch_orders([good, bad])
    assert [o.external_id for o in page.items] == [good]
    assert [e.key for e in page.errors] == [bad] and "currency" in page.errors[0].message
    assert client.fetch_orders([]).items == [] and shop.log.count("GET", ORDERS) == 1


def test_fetch_orders_imports_the_guest_and_a_line_posted_without_product(
    shop: ShoperSandbox, client: ShoperClient, fake_time: FakeTime, server: SandboxHandle
) -> None:
    """A line added through `POST order-products` without a catalogue product has
    `product_id` "0" and null `name`/`code` (schema `OrderProduct`); the old mapping refused
    the whole order for the missing name."""
    [order_id] = _orders(shop, 1, fake_time.moment())
    shop.edit_order(int(order_id), email="")
    api = Api(server)
    api.auth()
    posted = api.request("POST", "order-products",
                         json={"order_id": order_id, "quantity": 1, "price": "3.00"})
    api.http.close()
    assert posted.status_code == 200
    [order] = client.fetch_orders([order_id]).items
    assert order.customer.email == ""
    assert [(line.name, line.sku) for line in order.lines] == [("Kubek", "KUB-1"), ("", "")]
    assert order.total_gross == Decimal("24.60") + Decimal("14.99") + Decimal("3.00")


@pytest.mark.parametrize("unknown_ops", ["error", "ignore"])
def test_a_shop_that_does_not_take_our_operator_spelling_fails_loudly(
    fake_time: FakeTime, make_client: MakeClient, unknown_ops: str
) -> None:
    """Whether a live shop takes "IN"/">=" (SDK) or only "in"/"gte" (OpenAPI field docs) is
    unverified. Under the reading where it silently ignores an operator it does not know, a
    read by id would answer other orders and call the wanted ones absent; the connector
    notices and fails the run instead."""
    shop = ShoperSandbox(LOGIN, PASSWORD, clock=fake_time, filter_dialect="names",
                         unknown_ops=unknown_ops)
    ids = _orders(shop, 3, fake_time.moment() - timedelta(days=2))
    with shop.serve() as handle:
        client = make_client(handle)
        with pytest.raises(ShopError) as fetched:
            client.fetch_orders([ids[1]])
        with pytest.raises(ShopError) as listed:
            list(client.iter_order_ids(fake_time.moment() - timedelta(days=1),
                                       fake_time.moment()))
    if unknown_ops == "ignore":
        assert "ignored the order_id IN filter" in str(fetched.value)
        assert "ignored the date filter" in str(listed.value)
    else:
        assert "400" in str(fetched.value) and "400" in str(listed.value)


def test_fetch_products_by_shop_id_or_bare_id_50_per_call(
    shop: ShoperSandbox, client: ShoperClient
) -> None:
    refs = []
    for n in range(75):
        product = shop.add_product(f"P-{n:03d}", f"Produkt {n}", "9.99",
                                   variants=[(f"P-{n:03d}-XL", "10.99", 1)] if n == 0 else ())
        refs.append(f"{product['product_id']}:{product['stock']['stock_id']}")
    variant = next(s for s in shop.stocks.values() if s["code"] == "P-000-XL")
    wanted = [*refs[1:60], refs[60].split(":")[0], f"1:{variant['stock_id']}:v", "404", "x:y"]
    page = client.fetch_products(wanted)
    assert not page.errors
    got = sorted(p.shop_id or "" for p in page.items)
    assert got == sorted(refs[:61])  # the variant's id read its (base) product
    assert shop.log.count("GET", PRODUCTS) == math.ceil(62 / 50) == 2
    assert all(set(f["product_id"]) == {"IN"} for f in _filters(shop, PRODUCTS))  # type: ignore[arg-type]


def test_fetch_products_errors_carry_the_shop_id_the_product_would_have(
    shop: ShoperSandbox, client: ShoperClient
) -> None:
    product = shop.add_product("ZLY", "Zły", "1.00")
    shop.stocks[int(product["stock"]["stock_id"])]["price"] = "brak"
    page = client.fetch_products([str(product["product_id"])])
    ref = f"{product['product_id']}:{product['stock']['stock_id']}"
    assert page.items == [] and [e.key for e in page.errors] == [ref]


def test_iter_order_ids_lists_orders_created_in_the_window_50_per_call_in_shop_time(
    shop: ShoperSandbox, make_client: MakeClient, server: SandboxHandle, fake_time: FakeTime
) -> None:
    now = fake_time.moment()  # 12:00 in Warsaw
    old = _orders(shop, 1, now - timedelta(days=15))
    inside = _orders(shop, 120, now - timedelta(days=14) + timedelta(minutes=1))
    shop.set_order_status(int(old[0]), 7)  # changed today, created before: not listed
    client = make_client(server)
    pages = list(client.iter_order_ids(now - timedelta(days=14), now))
    assert [i for page in pages for i in page] == inside  # ascending ids, each once
    # 120 ids, 50 per page, keyset by id: ceil(120 / 50) = 3 calls, no line reads.
    assert shop.log.count("GET", ORDERS) == 3 and shop.log.count("GET", LINES) == 0
    first = _filters(shop, ORDERS)[0]
    assert first["date"] == {">=": "2024-05-18 12:00:00", "<=": "2024-06-01 12:00:00"}

    ny = make_client(server, zone="America/New_York")  # naive times are the shop's zone
    window = list(ny.iter_order_ids(now - timedelta(hours=4), now))
    assert window == []


def test_iter_order_ids_on_an_empty_window_costs_one_call(
    shop: ShoperSandbox, client: ShoperClient
) -> None:
    since = datetime(2024, 1, 1, tzinfo=UTC)
    assert list(client.iter_order_ids(since, since + timedelta(days=1))) == []
    assert shop.log.count("GET", ORDERS) == 1
