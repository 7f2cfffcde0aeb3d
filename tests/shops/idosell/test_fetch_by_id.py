"""The net under the watermark on IdoSell: orders and products re-read by id, order serials for
the daily reconciliation — over real HTTP against the sandbox, calls counted.

Orders by serial: `orders/orders/search` `ordersSerialNumbers` (integers); products by id:
`products/products/search` `productParams[].productId`; 100 per call (the GET forms document
"a maximum of 100"; the searches state none) → N ids cost ceil(N / 100) calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest

from tests.shops.idosell.test_client import PRODUCTS_SEARCH, SEARCH, add_orders
from workers.ports import ShopRetriableError
from workers.shops.idosell.client import IdoSellClient
from workers.shops.idosell.sandbox import IdoSellSandbox
from workers.shops.sandbox import SandboxHandle, SandboxRequest

Clock = Any


def _bodies(ido: IdoSellSandbox, path: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def record(request: SandboxRequest) -> None:
        if request.path == path:
            seen.append(orjson.loads(request.body)["params"])

    ido.on_request.append(record)
    return seen


def test_fetch_orders_reads_100_serials_per_call_and_leaves_unknown_ones_out(
    ido: IdoSellSandbox, client: IdoSellClient, clock: Clock
) -> None:
    serials = add_orders(ido, 230, clock.moment - timedelta(days=3), timedelta(minutes=1))
    sent = _bodies(ido, SEARCH)
    wanted = [str(s) for s in serials[:205]] + ["999999", "shop1-1001", "-3", str(serials[0])]
    page = client.fetch_orders(wanted)
    assert not page.errors
    assert [o.external_id for o in page.items] == [str(s) for s in serials[:205]]
    # 206 distinct numbers → ceil(206 / 100) = 3 searches, each one page of ≤ 100 serials.
    assert ido.log.count("POST", SEARCH) == math.ceil(206 / 100) == 3
    assert [len(b["ordersSerialNumbers"]) for b in sent] == [100, 100, 6]
    assert all(b["resultsLimit"] == 100 and b["resultsPage"] == 0 for b in sent)


def test_fetch_orders_of_unknown_serials_is_an_empty_page(
    ido: IdoSellSandbox, client: IdoSellClient
) -> None:
    # The shop answers "no results" as fault 2 (HTTP 404 here), not an empty list.
    assert client.fetch_orders(["424242"]).items == []
    assert client.fetch_orders(["x"]).items == [] and ido.log.count("POST", SEARCH) == 1


def test_fetch_orders_keys_an_unparseable_order_by_its_serial_and_imports_the_guest(
    ido: IdoSellSandbox, client: IdoSellClient, clock: Clock
) -> None:
    good, bad = add_orders(ido, 2, clock.moment - timedelta(hours=1), timedelta(minutes=1))
    ido.orders[bad]["currency"] = "??"
    ido.orders[good]["client"]["email"] = ""
    ido.orders[good]["lines"][0].update(productName="", productSizeCodeExternal="",
                                        productCode="", productId=0)
    page = client.fetch_orders([str(good), str(bad)])
    [order] = page.items
    assert order.external_id == str(good) and order.customer.email == ""
    assert (order.lines[0].name, order.lines[0].sku) == ("", "")
    assert [e.key for e in page.errors] == [str(bad)]


def test_fetch_products_reads_100_ids_per_call(
    ido: IdoSellSandbox, client: IdoSellClient
) -> None:
    ids = [ido.add_product(f"P-{n:03d}", f"Produkt {n}")["productId"] for n in range(130)]
    ido.products[ids[3]]["deleted"] = True  # gone from the shop: absent, not an error
    sent = _bodies(ido, PRODUCTS_SEARCH)
    page = client.fetch_products([str(i) for i in ids[:120]] + ["9999", "abc"])
    assert not page.errors
    assert sorted(int(p.shop_id or 0) for p in page.items) == ids[:3] + ids[4:120]
    assert ido.log.count("POST", PRODUCTS_SEARCH) == math.ceil(121 / 100) == 2
    assert [len(b["productParams"]) for b in sent] == [100, 21]
    assert all(set(p) == {"productId"} for b in sent for p in b["productParams"])


def test_fetch_products_errors_carry_the_product_id(
    ido: IdoSellSandbox, client: IdoSellClient
) -> None:
    bad = ido.add_product("ZLY", "Zły", sizes=2)["productId"]  # several sizes: one SKU each
    page = client.fetch_products([str(bad)])
    assert page.items == [] and [e.key for e in page.errors] == [str(bad)]


def test_iter_order_ids_lists_serials_placed_in_the_window_100_per_call(
    ido: IdoSellSandbox, make_client: Callable[..., IdoSellClient], ido_server: SandboxHandle,
    clock: Clock,
) -> None:
    now = clock.moment  # 12:00 in Warsaw
    [before] = add_orders(ido, 1, now - timedelta(days=15), timedelta(0))
    inside = add_orders(ido, 250, now - timedelta(days=14) + timedelta(minutes=1),
                        timedelta(minutes=1))
    ido.set_order_status(before, "packed")  # changed now, placed before: not listed
    sent = _bodies(ido, SEARCH)
    client = make_client(ido_server)
    pages = list(client.iter_order_ids(now - timedelta(days=14), now))
    assert sorted(int(i) for page in pages for i in page) == inside
    assert ido.log.count("POST", SEARCH) == math.ceil(250 / 100) == 3
    window = sent[0]["ordersRange"]["ordersDateRange"]
    assert window == {"ordersDateType": "add", "ordersDateBegin": "2024-05-18 12:00:00",
                      "ordersDateEnd": "2024-06-01 12:00:00"}
    ny = make_client(ido_server, zone="America/New_York")  # naive dates are the shop's
    assert list(ny.iter_order_ids(now - timedelta(hours=4), now)) == []


def test_iter_order_ids_restarts_when_an_order_is_placed_during_the_read(
    ido: IdoSellSandbox, client: IdoSellClient, clock: Clock
) -> None:
    serials = add_orders(ido, 150, clock.moment - timedelta(days=1), timedelta(minutes=1))
    late = {"done": False}

    def place_one_after_page_zero(request: SandboxRequest) -> None:
        if request.path == SEARCH and not late["done"] and ido.log.count("POST", SEARCH) >= 1:
            late["done"] = True
            serials.extend(add_orders(ido, 1, clock.moment - timedelta(hours=1), timedelta(0)))

    ido.on_request.append(place_one_after_page_zero)
    ids = [i for page in client.iter_order_ids(clock.moment - timedelta(days=2), clock.moment)
           for i in page]
    assert sorted(int(i) for i in ids) == sorted(serials) and len(ids) == len(set(ids))

    def always_one_more(request: SandboxRequest) -> None:
        if request.path == SEARCH:
            add_orders(ido, 1, clock.moment - timedelta(hours=1), timedelta(0))

    ido.on_request.append(always_one_more)
    with pytest.raises(ShopRetriableError, match="kept changing"):
        list(client.iter_order_ids(clock.moment - timedelta(days=2), clock.moment))
