"""The Shoper sandbox speaks the documented API, quirks included (bare HTTP, no connector)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import orjson
import pytest

from tests.shops.shoper.support import API, LOGIN, PASSWORD, Api, FakeTime
from workers.shops.sandbox import SandboxHandle
from workers.shops.shoper.sandbox import ShoperSandbox

# -- auth -------------------------------------------------------------------------------------


def test_auth_gives_a_bearer_token_and_refuses_a_wrong_password(server: SandboxHandle) -> None:
    api = Api(server)
    answer = api.auth()
    assert answer.status_code == 200
    token = answer.json()
    assert set(token) == {"access_token", "expires_in", "token_type"}
    assert token["token_type"] == "bearer" and token["expires_in"] == 2_592_000
    assert api.get("statuses").status_code == 200

    wrong = Api(server, password="zle-haslo").auth()
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "auth_failure"


def test_auth_also_accepts_client_id_and_secret_fields_as_the_sdk_sends_them(
    server: SandboxHandle,
) -> None:
    answer = httpx.post(server.base_url + API + "auth",
                        params={"client_id": LOGIN, "client_secret": PASSWORD})
    assert answer.status_code == 200 and answer.json()["access_token"]


def test_missing_unknown_and_expired_tokens_are_401_unauthorized_client(
    server: SandboxHandle, shop: ShoperSandbox, fake_time: FakeTime
) -> None:
    shop.token_lifetime = 60
    api = Api(server)
    api.auth()
    for token in ("", "garbage"):
        answer = api.request("GET", "orders", token=token)
        assert answer.status_code == 401
        assert answer.json() == {"error": "unauthorized_client",
                                 "error_description": "Provided access token is invalid"}
    assert api.get("orders").status_code == 200
    fake_time.advance(61)
    assert api.get("orders").json()["error"] == "unauthorized_client"


# -- lists: limit, page, filters, order, strings ----------------------------------------------


def test_limit_is_capped_at_50_and_page_starts_at_1(api: Api, shop: ShoperSandbox) -> None:
    for n in range(60):
        shop.add_product(f"SKU-{n:03d}", f"Produkt {n}", "10.00")
    assert api.get("products", limit=50).json()["list"].__len__() == 50
    over = api.get("products", limit=51)
    assert over.status_code == 400 and over.json()["error"] == "invalid_request"
    assert api.get("products", limit=0).status_code == 400
    assert api.get("products", page=0).status_code == 400
    beyond = api.get("products", limit=50, page=3).json()
    assert beyond["list"] == [] and beyond["count"] == "60" and beyond["pages"] == 2
    default = api.get("products").json()
    assert len(default["list"]) == 10  # no limit: 10 rows

    shop.over_limit = "clamp"
    assert len(api.get("products", limit=500).json()["list"]) == 50


def test_list_body_has_string_numbers_and_result_headers(api: Api, shop: ShoperSandbox) -> None:
    shop.add_product("KUB-1", "Kubek", Decimal("24.6"), 12)
    shop.add_order([("KUB-1", 2, "24.60")], email="jan@example.pl")
    answer = api.get("orders", limit=5)
    body = answer.json()
    assert body["count"] == "1" and body["pages"] == 1 and body["page"] == 1
    order = body["list"][0]
    assert order["order_id"] == "1" and order["sum"] == "64.19" and order["status_id"] == "1"
    assert isinstance(order["is_paid"], bool)
    assert answer.headers["X-Shop-Result-Count"] == "1"
    stock = api.get("product-stocks").json()["list"][0]
    assert stock["stock"] == "10" and stock["price"] == "24.60"  # a sale took 2 (live O6)


def test_filters_json_operators_and_php_array_form(api: Api, shop: ShoperSandbox) -> None:
    shop.bucket.limit = 100  # the fake clock stands still: let a dozen calls through
    empty = api.get("product-stocks", filters={"code": {"IN": ["ABC-0"]}})
    assert empty.status_code == 200 and empty.json() == {
        "count": "0", "pages": 0, "page": 1, "list": []}  # fields are known while empty
    for n, price in enumerate(("5.00", "15.00", "25.00", "35.00")):
        shop.add_product(f"ABC-{n}", f"Nazwa {n}", price)

    def codes(**params: object) -> list[str]:
        answer = api.get("product-stocks", limit=50, **params)
        assert answer.status_code == 200, answer.text
        return [row["code"] for row in answer.json()["list"]]

    assert codes(filters={"price": {">=": 15, "<": "35"}}) == ["ABC-1", "ABC-2"]
    assert codes(filters={"code": {"IN": ["abc-0", "ABC-3", "nope"]}}) == ["ABC-0", "ABC-3"]
    assert codes(filters={"code": {"LIKE": "abc-%"}, "price": {"!=": "5.00"}}) == [
        "ABC-1", "ABC-2", "ABC-3"]
    assert codes(filters={"code": "ABC-2"}) == ["ABC-2"]
    assert codes(**{"filters[code]": "ABC-1"}) == ["ABC-1"]
    for bad in ({"nosuchfield": 1}, {"code": {"~": "x"}}, {"code": {"IN": "ABC-1"}}):
        answer = api.get("product-stocks", filters=bad)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert api.get("product-stocks", filters="{not json").status_code == 400


def test_order_as_a_string_or_an_array(api: Api, shop: ShoperSandbox) -> None:
    for code, price in (("B", "2.00"), ("A", "2.00"), ("C", "1.00")):
        shop.add_product(code, code, price)
    by_price_desc = api.get("product-stocks", order="price desc").json()["list"]
    assert [r["code"] for r in by_price_desc] == ["B", "A", "C"]  # ties keep stock_id order
    params = {"order[0]": "price asc", "order[1]": "code asc"}
    assert [r["code"] for r in api.get("product-stocks", **params).json()["list"]] == [
        "C", "A", "B"]
    assert api.get("product-stocks", order="price sideways").status_code == 400
    assert api.get("product-stocks", order="nope asc").status_code == 400


# -- orders: no updated-at --------------------------------------------------------------------


def test_orders_have_no_modification_time_only_date_and_status_date(
    api: Api, shop: ShoperSandbox, fake_time: FakeTime
) -> None:
    order = shop.add_order([("X-1", 1, "10.00")], email="a@example.pl")
    assert order["date"] == "2024-06-01 12:00:00"  # naive Warsaw time of 10:00 UTC
    assert not {"updated_at", "edit_date", "date_modified", "modified"} & set(order)
    fake_time.advance(3600)
    shop.mark_paid(1)
    shop.edit_order(1, notes="zmiana adresu")
    paid = api.get("orders/1").json()
    assert paid["is_paid"] is True and paid["status_date"] == order["status_date"]

    answer = api.request("PUT", "orders/1", json={"status_id": 7})
    assert answer.status_code == 200 and answer.json() == 1
    moved = api.get("orders/1").json()
    assert moved["status_id"] == "7" and moved["status_date"] == "2024-06-01 13:00:00"
    assert moved["date"] == order["date"]
    mtime = api.get("object-mtime/order/1").json()
    assert mtime == {"date": int(fake_time())}

    refused = api.request("PUT", "orders/1", json={"status_id": 99})
    assert refused.status_code == 400
    assert "Nie znaleziono wartości '99'" in refused.json()["error_description"]


def test_order_products_carry_the_sku_as_code(api: Api, shop: ShoperSandbox) -> None:
    shop.add_product("KAWA-1", "Kawa", "39.90", 5)
    shop.add_order([("KAWA-1", 2, "39.90"), ("GONE-1", 1, "5.00")], email="b@example.pl")
    lines = api.get("order-products", filters={"order_id": {"IN": [1]}}).json()["list"]
    assert [(line["code"], line["quantity"], line["product_id"]) for line in lines] == [
        ("KAWA-1", "2", "1"), ("GONE-1", "1", "0")]


# -- products and stock -----------------------------------------------------------------------


def test_stock_put_answers_1_and_leaves_edit_date_alone(
    api: Api, shop: ShoperSandbox, fake_time: FakeTime
) -> None:
    product = shop.add_product("MIOD-1", "Miód", "29.00", 3)
    stock_id = product["stock"]["stock_id"]
    fake_time.advance(600)
    answer = api.request("PUT", f"product-stocks/{stock_id}", json={"stock": 77})
    assert answer.status_code == 200 and answer.json() == 1
    after = api.get(f"products/{product['product_id']}").json()
    assert after["stock"]["stock"] == "77" and after["edit_date"] == product["edit_date"]
    api.request("PUT", f"product-stocks/{stock_id}", json={"price": "31.00"})
    assert api.get(f"products/{product['product_id']}").json()["edit_date"] > product["edit_date"]


def test_product_create_needs_the_documented_fields_and_a_free_code(
    api: Api, shop: ShoperSandbox
) -> None:
    missing = api.request("POST", "products", json={"code": "X"})
    assert missing.status_code == 400
    assert "Wartość pola 'category_id' jest niepoprawna: Pole wymagane" in missing.text
    body = {"category_id": 1, "code": "NOWY-1", "pkwiu": "", "stock": {"price": 12.3},
            "translations": {"pl_PL": {"name": "Nowy", "active": True}}}
    created = api.request("POST", "products", json=body)
    assert created.status_code == 200 and created.json() == 1
    row = api.get("products/1").json()
    assert row["translations"]["pl_PL"]["active"] == "1" and row["stock"]["price"] == "12.30"
    duplicate = api.request("POST", "products", json={**body, "code": "nowy-1"})
    assert duplicate.status_code == 400 and "już istnieje" in duplicate.text


def test_variants_are_product_stock_rows(api: Api, shop: ShoperSandbox) -> None:
    shop.add_product("KOSZ-1", "Koszulka", "50.00", 0,
                     variants=[("KOSZ-1-M", "55.00", 4), ("KOSZ-1-L", "55.00", 2)])
    rows = api.get("product-stocks", filters={"product_id": 1}).json()["list"]
    assert [(r["code"], r["extended"], r["stock"]) for r in rows] == [
        ("KOSZ-1", "0", "0"), ("KOSZ-1-M", "1", "4"), ("KOSZ-1-L", "1", "2")]


# -- bulk -------------------------------------------------------------------------------------


def test_bulk_takes_at_most_25_and_answers_per_item(api: Api, shop: ShoperSandbox) -> None:
    shop.add_product("A-1", "A", "1.00")
    requests = [{"id": "ok", "path": API + "product-stocks/1", "method": "PUT",
                 "body": {"stock": 5}},
                {"id": "gone", "path": API + "product-stocks/999", "method": "PUT",
                 "body": {"stock": 5}},
                {"id": "bad", "path": API + "orders/1", "method": "PUT", "body": {}},
                {"id": "read", "path": "/product-stocks", "method": "GET",
                 "params": {"filters": {"code": "A-1"}}}]
    answer = api.request("POST", "bulk", json=requests)
    assert answer.status_code == 200
    body = answer.json()
    assert body["errors"] is True
    items = {item["id"]: item for item in body["items"]}
    assert items["ok"]["code"] == 200 and items["ok"]["body"] == 1
    assert items["gone"]["code"] == 404
    assert items["gone"]["body"] == {"error": "invalid_request",
                                     "error_description": "Resource not found"}
    assert items["bad"]["code"] == 404  # there is no order 1
    assert items["read"]["code"] == 200 and items["read"]["body"]["count"] == "1"

    too_many = [{"id": str(n), "path": API + "statuses", "method": "GET"} for n in range(26)]
    refused = api.request("POST", "bulk", json=too_many)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"


# -- the leaky bucket -------------------------------------------------------------------------


def test_bucket_headers_and_429_with_retry_after(
    api: Api, shop: ShoperSandbox, fake_time: FakeTime
) -> None:
    # The fixture's login already cost 1; the clock does not move, so nothing leaks.
    calls = [api.get("statuses") for _ in range(10)]
    assert [c.headers["X-Shop-Api-Calls"] for c in calls[:3]] == ["2", "3", "4"]
    assert calls[-2].headers["X-Shop-Api-Calls"] == "10" and calls[-1].status_code == 429
    refused = calls[-1]
    assert refused.json()["error"] == "temporarily_unavailable"
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["X-Shop-Api-Limit"] == "10"
    assert refused.headers["X-Shop-Api-Bandwidth"] == "2"
    assert api.get("statuses").status_code == 429  # refused calls do not fill it further
    fake_time.advance(0.5)  # one call leaks out at 2/s
    assert api.get("statuses").status_code == 200
    assert shop.bucket.refused == 2


def test_bucket_is_shared_by_every_client_of_the_shop(
    server: SandboxHandle, shop: ShoperSandbox
) -> None:
    first, second = Api(server), Api(server)
    first.auth()
    second.auth()
    for _ in range(4):
        first.get("statuses")
        second.get("statuses")
    assert first.get("statuses").status_code == 429


@pytest.mark.parametrize(("mode", "fill"), [("call", "2"), ("item", "6")])
def test_bulk_cost_is_configurable(server: SandboxHandle, fake_time: FakeTime,
                                   mode: str, fill: str) -> None:
    shop = server.sandbox
    assert isinstance(shop, ShoperSandbox)
    shop.bulk_cost = mode
    api = Api(server)
    api.auth()
    requests = [{"id": str(n), "path": API + "statuses", "method": "GET"} for n in range(5)]
    assert api.request("POST", "bulk", json=requests).headers["X-Shop-Api-Calls"] == fill


def test_injected_429_looks_like_shopers_and_control_endpoints_work(
    server: SandboxHandle, api: Api
) -> None:
    control = server.base_url + "/__sandbox/"
    httpx.post(control + "faults", json={"fail_next": {"n": 1, "status": 429},
                                         "retry_after": 3})
    answer = api.get("statuses")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "3"
    assert answer.json()["error"] == "temporarily_unavailable"
    state = httpx.get(control + "state").json()
    assert state["platform"] == "shoper" and state["bucket"]["limit"] == 10
    assert orjson.loads(httpx.get(control + "log").content)[-1]["status"] == 429


# -- reads by id and operator spellings -------------------------------------------------------


def test_in_filter_reads_rows_by_id_and_unknown_ids_are_simply_absent(
    api: Api, shop: ShoperSandbox
) -> None:
    shop.add_product("KUB-1", "Kubek", "10.00", 100)
    ids = [shop.add_order([("KUB-1", 1, "10.00")], email=f"k{n}@x.pl")["order_id"]
           for n in range(4)]
    answer = api.get("orders", filters={"order_id": {"IN": [ids[1], int(ids[3]), 999]}},
                     limit=50).json()
    assert [row["order_id"] for row in answer["list"]] == [ids[1], ids[3]]
    assert answer["count"] == "2"


def test_operator_spellings_of_the_sdk_and_of_the_openapi(
    server: SandboxHandle, fake_time: FakeTime
) -> None:
    """SDK `Resource.php`: `=, !=, <, <=, >, >=, IN, LIKE`; Shoper's OpenAPI field docs (as
    generated into mkasprz/shoper-sdk-php `ListOrdersRequest.php`): `eq, gt, gte, lt, lte, in,
    not_in, like, not_like`. Which a live shop takes is unverified; the dialects model it."""
    shops = {dialect: ShoperSandbox(LOGIN, PASSWORD, clock=fake_time, filter_dialect=dialect)
             for dialect in ("both", "symbols", "names")}
    ignoring = ShoperSandbox(LOGIN, PASSWORD, clock=fake_time, filter_dialect="names",
                             unknown_ops="ignore")
    results: dict[str, list[int]] = {}
    for name, shop in [*shops.items(), ("ignoring", ignoring)]:
        for n in range(3):
            shop.add_product(f"P-{n}", f"P {n}", "1.00")
        with shop.serve() as handle:
            api = Api(handle)
            api.auth()
            for ops in ({"IN": ["1", "3"]}, {"in": ["1", "3"]}, {"gte": 2}, {">=": 2}):
                response = api.get("products", filters={"product_id": ops})
                key = f"{name} {next(iter(ops))}"
                results[key] = ([int(r["product_id"]) for r in response.json()["list"]]
                                if response.status_code == 200 else [response.status_code])
            api.http.close()
    assert results["both IN"] == results["both in"] == [1, 3]
    assert results["both gte"] == results["both >="] == [2, 3]
    assert results["symbols IN"] == results["symbols in"] == [1, 3]  # case not significant
    assert results["symbols gte"] == [400] and results["symbols >="] == [2, 3]
    assert results["names in"] == [1, 3] and results["names IN"] == [400]
    assert results["names >="] == [400] and results["names gte"] == [2, 3]
    # A shop that ignores what it does not know answers everything: the connector must notice.
    assert results["ignoring IN"] == results["ignoring >="] == [1, 2, 3]


def test_a_line_posted_without_product_has_product_id_0_and_null_texts(
    api: Api, shop: ShoperSandbox
) -> None:
    shop.add_product("KUB-1", "Kubek", "10.00", 5)
    order = shop.add_order([("KUB-1", 1, "10.00")], email="")
    before = dict(shop.orders[int(order["order_id"])])
    posted = api.request("POST", "order-products",
                         json={"order_id": order["order_id"], "quantity": 2, "price": 3.5})
    assert posted.status_code == 200
    line = api.get(f"order-products/{posted.json()}").json()
    assert (line["product_id"], line["stock_id"], line["name"], line["code"]) == (
        "0", None, None, None)
    stock_id = shop.stock_by_code("KUB-1")[0]["stock_id"]
    api.request("POST", "order-products", json={"order_id": order["order_id"], "quantity": 1,
                                                "price": 10, "stock_id": stock_id})
    assert shop.stock_by_code("KUB-1")[0]["stock"] == "3"  # 5 − 1 sold − 1 posted (live O6)
    after = api.get(f"orders/{order['order_id']}").json()
    assert after["sum"] == "41.99" and after["email"] == ""  # 10 + 14.99 + 7 + 10
    assert (after["date"], after["status_date"]) == (before["date"], before["status_date"])
    missing = api.request("POST", "order-products", json={"quantity": 1})
    assert missing.status_code == 400 and "order_id" in missing.json()["error_description"]
