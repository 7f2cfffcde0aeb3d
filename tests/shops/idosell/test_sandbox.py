"""The IdoSell sandbox over real HTTP: the Admin API v6 quirks a connector must survive."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from workers.shops.idosell.sandbox import DEFAULT_KEY, IdoSellSandbox
from workers.shops.sandbox import SandboxHandle

Clock = Any


class Api:
    def __init__(self, handle: SandboxHandle, key: str | None = DEFAULT_KEY) -> None:
        self.base = handle.base_url + "/api/admin/v6/"
        self.http = httpx.Client(headers={"X-API-KEY": key} if key else {}, timeout=5)

    def call(self, method: str, path: str, params: Any = None, *,
             raw: bytes | None = None) -> httpx.Response:
        if raw is not None:
            return self.http.request(method, self.base + path, content=raw)
        return self.http.request(method, self.base + path, json={"params": params or {}})


@pytest.fixture
def api(ido_server: SandboxHandle) -> Iterator[Api]:
    client = Api(ido_server)
    yield client
    client.http.close()


def fault(response: httpx.Response) -> tuple[int, str]:
    errors = response.json()["errors"]
    return errors["faultCode"], errors["faultString"]


def modified_window(begin: str, end: str, page: int = 0, limit: int = 100) -> dict[str, Any]:
    return {"ordersRange": {"ordersDateRange": {"ordersDateType": "modified",
                                                "ordersDateBegin": begin, "ordersDateEnd": end}},
            "resultsPage": page, "resultsLimit": limit}


# -- auth and envelope ------------------------------------------------------------------------


def test_key_in_x_api_key(ido_server: SandboxHandle) -> None:
    for key in (None, "wrong-key"):
        response = Api(ido_server, key).call("POST", "orders/orders/search", {})
        assert response.status_code == 401 and fault(response)[0] == 1


def test_params_envelope_is_required(api: Api) -> None:
    bare = api.http.post(api.base + "orders/orders/search", json={"resultsPage": 0})
    assert bare.status_code == 422 and "params" in fault(bare)[1]
    not_json = api.call("POST", "orders/orders/search", raw=b"resultsPage=0")
    assert not_json.status_code == 422
    unknown = api.call("POST", "orders/nothing", {})
    assert unknown.status_code == 404
    wrong_verb = api.call("GET", "orders/orders/search")
    assert wrong_verb.status_code == 405


# -- order search -----------------------------------------------------------------------------


def test_paging_from_zero_and_limit_cap(ido: IdoSellSandbox, api: Api, clock: Clock) -> None:
    for n in range(150):
        ido.add_order([("A", 1, "10.00")], email=f"k{n}@example.pl",
                      created=clock.moment - timedelta(minutes=n))
    first = api.call("POST", "orders/orders/search",
                     modified_window("2024-05-01 00:00:00", "2024-06-02 00:00:00")).json()
    assert (first["resultsNumberAll"], first["resultsNumberPage"], first["resultsPage"],
            first["resultsLimit"]) == (150, 2, 0, 100)
    assert len(first["Results"]) == 100 and "results" not in first  # capital R for orders
    second = api.call("POST", "orders/orders/search",
                      modified_window("2024-05-01 00:00:00", "2024-06-02 00:00:00", page=1)).json()
    assert len(second["Results"]) == 50
    assert {o["orderSerialNumber"] for o in first["Results"]}.isdisjoint(
        o["orderSerialNumber"] for o in second["Results"])
    for bad in (101, 0):
        refused = api.call("POST", "orders/orders/search",
                           modified_window("2024-05-01 00:00:00", "2024-06-02 00:00:00",
                                           limit=bad))
        assert refused.status_code == 422 and "resultsLimit" in fault(refused)[1]
    negative = api.call("POST", "orders/orders/search", {"resultsPage": -1})
    assert negative.status_code == 422


def test_dates_are_naive_shop_local_and_inclusive(ido: IdoSellSandbox, api: Api,
                                                  clock: Clock) -> None:
    order = ido.add_order([("A", 1, "10.00")], email="a@example.pl")  # 10:00 UTC = 12:00 CEST
    got = api.call("POST", "orders/orders/search",
                   modified_window("2024-06-01 12:00:00", "2024-06-01 12:00:00")).json()
    (row,) = got["Results"]
    assert row["orderSerialNumber"] == order["serial"]
    assert row["orderDetails"]["orderChangeDate"] == "2024-06-01 12:00:00"
    bad = api.call("POST", "orders/orders/search",
                   modified_window("2024-06-01T12:00:00Z", "2024-06-01 12:00:00"))
    assert bad.status_code == 422


@pytest.mark.parametrize("mode", ["404", "207", "200"])
def test_no_results(clock: Clock, mode: str) -> None:
    sandbox = IdoSellSandbox(DEFAULT_KEY, empty_results=mode)
    sandbox.now = clock
    with sandbox.serve() as handle:
        response = Api(handle).call("POST", "orders/orders/search",
                                    modified_window("2020-01-01 00:00:00", "2020-01-02 00:00:00"))
    assert response.status_code == int(mode)
    if mode == "200":
        assert response.json()["Results"] == []
    else:
        assert fault(response)[0] == 2


def test_payments_and_the_modified_date(ido: IdoSellSandbox, api: Api, clock: Clock) -> None:
    order = ido.add_order([("A", 1, "10.00")], email="a@example.pl")
    clock.advance(hours=1)
    ido.add_payment(order["serial"])
    row = api.call("POST", "orders/orders/search",
                   {"ordersSerialNumbers": [order["serial"]]}).json()["Results"][0]
    # A payment does not move orderChangeDate here (undocumented either way) ...
    assert row["orderDetails"]["orderChangeDate"] == "2024-06-01 12:00:00"
    (prepaid,) = row["orderDetails"]["prepaids"]
    assert (prepaid["paymentStatus"], prepaid["paymentValue"]) == ("y", 24.99)
    # ... but the payment-operation date finds it.
    by_payment = api.call("POST", "orders/orders/search", {"ordersRange": {"ordersDateRange": {
        "ordersDateType": "last_payments_operation", "ordersDateBegin": "2024-06-01 12:30:00",
        "ordersDateEnd": "2024-06-01 13:30:00"}}}).json()
    assert [r["orderSerialNumber"] for r in by_payment["Results"]] == [order["serial"]]


# -- order status writes ----------------------------------------------------------------------


def test_put_orders_207_with_per_item_faults(ido: IdoSellSandbox, api: Api, clock: Clock) -> None:
    order = ido.add_order([("A", 1, "10.00")], email="a@example.pl")
    clock.advance(minutes=10)
    response = api.call("PUT", "orders/orders", {"orders": [
        {"orderSerialNumber": order["serial"], "orderStatus": "packed"},
        {"orderSerialNumber": 999999, "orderStatus": "packed"},
        {"orderSerialNumber": order["serial"], "orderStatus": "shipped"},
        {"orderSerialNumber": order["serial"], "orderStatus": "joined"},
        {},
    ]})
    assert response.status_code == 207
    results = response.json()["results"]["ordersResults"]
    assert [r["faultCode"] for r in results] == [0, 4, 5, 6, 1]
    assert ido.orders[order["serial"]]["status"] == "packed"
    assert ido.orders[order["serial"]]["changed"] == "2024-06-01 12:10:00"
    ok = api.call("PUT", "orders/orders", {"orders": [{"orderSerialNumber": order["serial"],
                                                       "orderStatus": "finished"}]})
    assert ok.status_code == 200
    too_many = api.call("PUT", "orders/orders", {"orders": [{"orderSerialNumber": 1}] * 101})
    assert too_many.status_code == 422


# -- products ---------------------------------------------------------------------------------


def test_product_search_by_code_date_and_sort(ido: IdoSellSandbox, api: Api, clock: Clock) -> None:
    old = ido.add_product("A-1", "Kubek", created=clock.moment - timedelta(days=3))
    new = ido.add_product("B-1", "Talerz")
    ido.add_product("a-1x", "Inny")
    found = api.call("POST", "products/products/search",
                     {"productParams": [{"productSizeCodeExternal": "a-1"},
                                        {"productSizeCodeExternal": "B-1"}]}).json()
    assert "Results" not in found  # lower-case results for products
    assert [r["productId"] for r in found["results"]] == [old["productId"], new["productId"]]
    by_day = api.call("POST", "products/products/search", {"productDate": {
        "productDateMode": "modified", "productDateBegin": "2024-06-01",
        "productDateEnd": "2024-06-01"}}).json()
    assert {r["productId"] for r in by_day["results"]} == {new["productId"], new["productId"] + 1}
    with_time = api.call("POST", "products/products/search", {"productDate": {
        "productDateMode": "modified", "productDateBegin": "2024-06-01 10:00:00"}})
    assert with_time.status_code == 422  # whole days only
    newest_first = api.call("POST", "products/products/search", {"ordersBy": [
        {"elementName": "modification_time", "sortDirection": "DESC"}]}).json()
    assert newest_first["results"][-1]["productId"] == old["productId"]


def test_put_products_modes_and_code_clashes(ido: IdoSellSandbox, api: Api) -> None:
    existing = ido.add_product("KUB-300", "Kubek")

    def put(mode: str, *items: dict[str, Any]) -> httpx.Response:
        return api.call("PUT", "products/products", {"settings": {"settingModificationType": mode},
                                                     "products": list(items)})

    name = {"productNames": {"productNamesLangData": [{"langId": "pol", "productName": "Nowy"}]}}
    added = put("add", {"productSizeCodeExternal": "NEW-1", "productRetailPrice": 12.3, **name},
                {"productSizeCodeExternal": "KUB-300", **name})
    assert added.status_code == 207
    first, clash = added.json()["results"]["productsResults"]
    assert first["faults"] == [] and ido.product_by_code("NEW-1")[0]["price"] == Decimal("12.3")
    assert clash["faults"][0]["faultCode"] == "8"
    assert clash["productResultDetails"][0]["existingCodes"][0]["productId"] == \
        existing["productId"]

    upsert = put("all", {"productSizeCodeExternal": "KUB-300", "productRetailPrice": 30})
    assert upsert.status_code == 200 and len(ido.product_by_code("KUB-300")) == 1
    edit_missing = put("edit", {"productId": 4040, "productRetailPrice": 1})
    assert edit_missing.status_code == 207
    bad_vat = put("edit", {"productId": existing["productId"], "productVat": 7})
    assert bad_vat.json()["results"]["productsResults"][0]["faults"][0]["faultString"].startswith(
        "Incorrect VAT rate")
    assert put("bogus", {"productId": 1}).status_code == 422


def test_stock_quantity_does_not_move_the_modification_time(ido: IdoSellSandbox, api: Api,
                                                            clock: Clock) -> None:
    product = ido.add_product("A-1", "Kubek", quantity=3)
    clock.advance(days=1)
    response = api.call("PUT", "products/stockQuantity", {"products": [
        {"productSizeCodeExternal": "A-1", "stockId": 1, "productSizeQuantity": 9},
        {"productSizeCodeExternal": "NONE", "stockId": 1, "productSizeQuantity": 1},
        {"productSizeCodeExternal": "A-1", "stockId": 9, "productSizeQuantity": 1},
    ]})
    assert response.status_code == 207
    assert [r["faultCode"] for r in response.json()["results"]] == [0, 4, 5]
    assert product["sizes"][0]["quantities"][1] == 9
    assert product["modified"] == "2024-06-01 12:00:00"
    assert product["quantity_changed"] == "2024-06-02 12:00:00"


# -- rate limit -------------------------------------------------------------------------------


def test_rate_limit_429_with_retry_after(clock: Clock) -> None:
    now = [0.0]
    sandbox = IdoSellSandbox(DEFAULT_KEY, rate_limit=(3, 0.5), empty_results="200")
    sandbox.now, sandbox.clock = clock, lambda: now[0]
    with sandbox.serve() as handle:
        api = Api(handle)
        codes = [api.call("POST", "orders/orders/search", {}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = api.call("POST", "orders/orders/search", {})
        assert limited.headers["Retry-After"] == "2"
        now[0] += 2.0
        assert api.call("POST", "orders/orders/search", {}).status_code == 200


def test_injected_faults_and_control(ido: IdoSellSandbox, ido_server: SandboxHandle,
                                     api: Api) -> None:
    ido.faults.configure({"rate_limit_rate": 1.0, "retry_after": 3})
    response = api.call("POST", "orders/orders/search", {})
    assert response.status_code == 429 and response.headers["Retry-After"] == "3"
    ido.faults.clear()
    assert httpx.get(ido_server.url("/__sandbox/state")).json()["platform"] == "idosell"


# -- reads by id (the retry set and the reconciliation) ---------------------------------------


def test_orders_by_serial_or_order_id_and_products_by_id_at_most_100(
    ido: IdoSellSandbox, api: Api, clock: Clock
) -> None:
    ido.add_product("KUB-1", "Kubek")
    first = ido.add_order([("KUB-1", 1, "10.00")], email="a@example.pl")
    second = ido.add_order([("KUB-1", 2, "10.00")], email="b@example.pl")
    by_serial = api.call("POST", "orders/orders/search",
                         {"ordersSerialNumbers": [second["serial"], 424242]}).json()
    assert [o["orderSerialNumber"] for o in by_serial["Results"]] == [second["serial"]]
    by_id = api.call("POST", "orders/orders/search", {"ordersIds": [first["orderId"]]}).json()
    assert [o["orderId"] for o in by_id["Results"]] == [first["orderId"]]
    # Unknown numbers only: "no results" is fault 2 (HTTP 404 by default), not an empty list.
    none = api.call("POST", "orders/orders/search", {"ordersSerialNumbers": [424242]})
    assert none.status_code == 404 and fault(none)[0] == 2
    # The GET forms document "a maximum of 100 items"; the sandbox holds the searches to it.
    over = api.call("POST", "orders/orders/search",
                    {"ordersSerialNumbers": list(range(1, 102))})
    assert over.status_code == 422 and "maximum of 100" in fault(over)[1]
    product_id = ido.product_by_code("KUB-1")[0]["productId"]
    found = api.call("POST", "products/products/search",
                     {"productParams": [{"productId": product_id}, {"productId": 7}]}).json()
    assert [p["productId"] for p in found["results"]] == [product_id]
    over = api.call("POST", "products/products/search",
                    {"productParams": [{"productId": n} for n in range(101)]})
    assert over.status_code == 422


def test_orders_by_placing_date_ignore_later_changes(
    ido: IdoSellSandbox, api: Api, clock: Clock
) -> None:
    ido.add_product("KUB-1", "Kubek")
    old = ido.add_order([("KUB-1", 1, "10.00")], email="a@example.pl",
                        created=clock.moment - timedelta(days=20))
    new = ido.add_order([("KUB-1", 1, "10.00")], email="b@example.pl",
                        created=clock.moment - timedelta(days=1))
    ido.set_order_status(old["serial"], "packed")  # moves orderChangeDate, not orderAddDate
    window = {"ordersRange": {"ordersDateRange": {
        "ordersDateType": "add", "ordersDateBegin": ido.local(clock.moment - timedelta(days=14)),
        "ordersDateEnd": ido.local(clock.moment)}}}
    found = api.call("POST", "orders/orders/search", window).json()
    assert [o["orderSerialNumber"] for o in found["Results"]] == [new["serial"]]
    # The search documents an order line's productVat as an integer, a product's as a float.
    [line] = found["Results"][0]["orderDetails"]["productsResults"]
    assert line["productVat"] == 23 and isinstance(line["productVat"], int)
