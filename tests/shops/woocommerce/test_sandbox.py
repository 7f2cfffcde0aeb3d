"""The WooCommerce REST v3 sandbox over real HTTP: auth, paging, dates, batch, quirks, contract.

Fixtures (tests/shops/conftest.py): `woo` (sandbox, Europe/Warsaw, clock at 2024-06-01 10:00 UTC),
`woo_server` (running handle), `woo_client` (OAuth1-signing httpx client), `clock`, `woo_fixture`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from workers.shops.sandbox import SandboxHandle, SandboxRequest
from workers.shops.woocommerce import oauth
from workers.shops.woocommerce.sandbox import WooCommerceSandbox

KEY = "ck_test_0123456789abcdef"
SECRET = "cs_test_fedcba9876543210"
ORDERS = "/wp-json/wc/v3/orders"


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert body["data"]["status"] == response.status_code
    return response.status_code, body["code"], body["message"]


def ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


def missing_keys(documented: Any, actual: Any, path: str = "") -> list[str]:
    """Keys of the documented example (recursively, first list element) absent from `actual`."""
    missing: list[str] = []
    if isinstance(documented, dict):
        if not isinstance(actual, dict):
            return [path or "<root>"]
        for key, value in documented.items():
            if key not in actual:
                missing.append(f"{path}{key}")
            else:
                missing += missing_keys(value, actual[key], f"{path}{key}.")
    elif isinstance(documented, list) and documented and isinstance(documented[0], dict) and actual:
        missing += missing_keys(documented[0], actual[0], f"{path}[0].")
    return missing


# --------------------------------------------------------------------------------------------- auth


@pytest.mark.parametrize("algorithm", ["HMAC-SHA256", "HMAC-SHA1"])
def test_oauth_signed_request_is_accepted(
    woo: WooCommerceSandbox, woo_client: Any, algorithm: str
) -> None:
    woo.add_product(name="Kubek", sku="K-1")
    response = woo_client.get("products", {"sku": "K-1"}, algorithm=algorithm)
    assert response.status_code == 200
    assert [product["sku"] for product in response.json()] == ["K-1"]


def test_oauth_params_in_authorization_header_are_accepted(
    woo_server: SandboxHandle, woo: WooCommerceSandbox
) -> None:
    url = woo.api_url(woo_server) + "orders"
    signed = oauth.sign("GET", url, {"per_page": "5"}, KEY, SECRET)
    header = "OAuth " + ", ".join(
        f'{name}="{quote(value, safe="")}"'
        for name, value in signed.items()
        if name.startswith("oauth_")
    )
    response = httpx.get(url, params={"per_page": "5"}, headers={"Authorization": header})
    assert response.status_code == 200


def test_bad_signature_wrong_key_and_missing_parts_are_401(
    woo_client: Any, woo: WooCommerceSandbox, woo_server: SandboxHandle
) -> None:
    woo_client.secret = "cs_wrong"
    assert error_of(woo_client.get("orders")) == (
        401,
        "woocommerce_rest_authentication_error",
        "Invalid signature - provided signature does not match.",
    )
    woo_client.key = "ck_unknown"
    assert error_of(woo_client.get("orders"))[2] == "Consumer key is invalid."

    url = woo.api_url(woo_server) + "orders"
    partial = httpx.get(url, params={"oauth_consumer_key": KEY, "oauth_nonce": "n1"})
    assert error_of(partial) == (
        401,
        "woocommerce_rest_authentication_missing_parameter",
        "Missing OAuth parameters oauth_timestamp, oauth_signature, oauth_signature_method",
    )
    tampered = oauth.sign("GET", url, {"per_page": "5"}, KEY, SECRET)
    tampered["per_page"] = "6"  # a parameter changed after signing
    assert (
        error_of(httpx.get(url, params=tampered))[2]
        == "Invalid signature - provided signature does not match."
    )


def test_replayed_nonce_and_stale_timestamp_are_401(
    woo: WooCommerceSandbox, woo_server: SandboxHandle
) -> None:
    url = woo.api_url(woo_server) + "orders"
    signed = oauth.sign("GET", url, {}, KEY, SECRET, nonce="once")
    assert httpx.get(url, params=signed).status_code == 200
    assert (
        error_of(httpx.get(url, params=signed))[2] == "Invalid nonce - nonce has already been used."
    )

    stale = oauth.sign("GET", url, {}, KEY, SECRET, timestamp=int(time.time()) - 16 * 60)
    assert error_of(httpx.get(url, params=stale))[2] == "Invalid timestamp."
    woo.auth_time = lambda: time.time() - 16 * 60  # a shop whose clock is behind by 16 minutes
    assert (
        error_of(httpx.get(url, params=oauth.sign("GET", url, {}, KEY, SECRET)))[2]
        == "Invalid timestamp."
    )


def test_no_credentials_and_basic_over_plain_http_are_refused(
    woo: WooCommerceSandbox, woo_server: SandboxHandle
) -> None:
    url = woo.api_url(woo_server) + "orders"
    assert error_of(httpx.get(url)) == (
        401,
        "woocommerce_rest_cannot_view",
        "Sorry, you cannot list resources.",
    )
    # WooCommerce ignores Basic auth unless the request came over HTTPS.
    assert error_of(httpx.get(url, auth=(KEY, SECRET)))[1] == "woocommerce_rest_cannot_view"
    assert error_of(httpx.post(url, json={}))[1] == "woocommerce_rest_cannot_create"


def test_basic_auth_works_only_behind_tls(clock: Any) -> None:
    sandbox = WooCommerceSandbox(KEY, SECRET, tls=True)
    sandbox.now = clock
    with sandbox.serve() as handle, httpx.Client(timeout=5) as http:
        url = sandbox.api_url(handle) + "orders"
        assert http.get(url, auth=(KEY, SECRET)).status_code == 200
        assert (
            http.get(url, params={"consumer_key": KEY, "consumer_secret": SECRET}).status_code
            == 200
        )
        assert error_of(http.get(url, auth=(KEY, "cs_bad")))[2] == "Consumer secret is invalid."
        assert (
            error_of(http.get(url, auth=("ck_other", SECRET)))[1] == "woocommerce_rest_cannot_view"
        )
        # OAuth still works; behind TLS the signed base URL is https://
        https_url = "https" + url[len("http") :]
        assert (
            http.get(url, params=oauth.sign("GET", https_url, {}, KEY, SECRET)).status_code == 200
        )
        assert http.get(url, params=oauth.sign("GET", url, {}, KEY, SECRET)).status_code == 401


def test_read_only_key_cannot_write() -> None:
    sandbox = WooCommerceSandbox(KEY, SECRET, permissions="read")
    with sandbox.serve() as handle:
        url = sandbox.api_url(handle) + "products"
        response = httpx.post(
            url, params=oauth.sign("POST", url, {}, KEY, SECRET), json={"name": "X"}
        )
        assert error_of(response)[2] == "The API key provided does not have write permissions."


# ------------------------------------------------------------------------------------------ paging


def seed_orders(woo: WooCommerceSandbox, clock: Any, count: int) -> list[int]:
    woo.add_product(name="Kubek", sku="K-1", regular_price="10.00")
    created = []
    for _ in range(count):
        clock.advance(minutes=1)
        created.append(woo.add_order([("K-1", 1, "10.00")])["id"])
    return created


def test_paging_headers_links_and_walking_next(
    woo: WooCommerceSandbox, woo_client: Any, clock: Any
) -> None:
    created = seed_orders(woo, clock, 25)
    first = woo_client.get("orders", {"per_page": 10, "orderby": "id", "order": "asc"})
    assert first.headers["x-wp-total"] == "25" and first.headers["x-wp-totalpages"] == "3"
    assert "prev" not in first.links and "page=2" in first.links["next"]["url"]

    middle = woo_client.get("orders", {"per_page": 10, "page": 2, "orderby": "id", "order": "asc"})
    assert "page=1" in middle.links["prev"]["url"] and "page=3" in middle.links["next"]["url"]
    assert len(middle.headers.get_list("link")) == 2  # two Link header lines, as WordPress sends

    seen, response = ids(first), first
    while "next" in response.links:
        response = woo_client.get(
            response.links["next"]["url"]
        )  # re-signed; stale oauth_* replaced
        seen += ids(response)
    assert seen == created

    beyond = woo_client.get("orders", {"per_page": 10, "page": 9})
    assert beyond.json() == [] and beyond.headers["x-wp-total"] == "25"
    assert "page=3" in beyond.links["prev"]["url"]  # prev is capped at the last page


def test_per_page_over_100_is_400_exactly_as_wordpress(woo_client: Any) -> None:
    response = woo_client.get("orders", {"per_page": 101})
    message = "per_page must be between 1 (inclusive) and 100 (inclusive)"
    assert response.status_code == 400
    assert response.json() == {
        "code": "rest_invalid_param",
        "message": "Invalid parameter(s): per_page",
        "data": {
            "status": 400,
            "params": {"per_page": message},
            "details": {
                "per_page": {"code": "rest_out_of_bounds", "message": message, "data": None}
            },
        },
    }
    assert woo_client.get("orders", {"per_page": 100}).status_code == 200


def test_bad_params_are_reported_together(
    woo_client: Any, woo: WooCommerceSandbox, woo_server: SandboxHandle
) -> None:
    response = woo_client.get(
        "orders", {"orderby": "total", "modified_after": "2024-05-01", "page": "x"}
    )
    body = response.json()
    assert (
        response.status_code == 400
        and body["message"] == "Invalid parameter(s): page, modified_after, orderby"
    )
    assert body["data"]["params"]["modified_after"] == "Invalid date."
    assert body["data"]["params"]["page"] == "page is not of type integer."
    assert (
        body["data"]["params"]["orderby"]
        == "orderby is not one of date, id, include, title, slug, and modified."
    )
    # parameters are validated before the login check, as in WordPress
    assert httpx.get(woo.api_url(woo_server) + "orders", params={"per_page": 0}).status_code == 400


# ------------------------------------------------------------------------------------------- dates


def test_modified_after_compares_site_local_unless_dates_are_gmt(
    woo: WooCommerceSandbox, woo_client: Any, clock: Any
) -> None:
    woo.add_product(name="Kubek", sku="K-1")
    order = woo.add_order([("K-1", 1, "10.00")], created=datetime(2024, 6, 1, 10, 0, tzinfo=UTC))
    assert order["date_modified"] == "2024-06-01T12:00:00"  # Warsaw is UTC+2 in June
    assert order["date_modified_gmt"] == "2024-06-01T10:00:00"

    bound = "2024-06-01T11:00:00"  # meant as UTC by a careless client
    local = woo_client.get("orders", {"modified_after": bound})
    gmt = woo_client.get("orders", {"modified_after": bound, "dates_are_gmt": "true"})
    assert ids(local) == [order["id"]]  # 12:00 local > 11:00: found
    assert ids(gmt) == []  # 10:00 GMT > 11:00: not found
    assert ids(
        woo_client.get("orders", {"modified_after": "2024-06-01T09:59:59", "dates_are_gmt": "true"})
    ) == [order["id"]]
    # bounds are exclusive
    assert (
        ids(
            woo_client.get(
                "orders", {"modified_after": "2024-06-01T10:00:00", "dates_are_gmt": "1"}
            )
        )
        == []
    )
    # a bound with an offset is first converted to site-local time (WP_Date_Query), flag or not
    assert (
        ids(
            woo_client.get(
                "orders", {"modified_after": "2024-06-01T09:30:00Z", "dates_are_gmt": "true"}
            )
        )
        == []
    )
    assert ids(woo_client.get("orders", {"modified_after": "2024-06-01T09:30:00Z"})) == [
        order["id"]
    ]


def test_after_filters_creation_so_an_updated_old_order_needs_modified_after(
    woo: WooCommerceSandbox, woo_client: Any, clock: Any
) -> None:
    woo.add_product(name="Kubek", sku="K-1")
    old = woo.add_order([("K-1", 1, "10.00")], created=datetime(2024, 1, 5, 8, 0, tzinfo=UTC))
    clock.advance(days=1)
    woo.update_order(old["id"], status="completed")
    since = {"after": "2024-06-01T12:00:00", "dates_are_gmt": "true"}
    assert ids(woo_client.get("orders", since)) == []
    assert ids(
        woo_client.get("orders", {"modified_after": "2024-06-01T12:00:00", "dates_are_gmt": "true"})
    ) == [old["id"]]


def test_ties_are_broken_by_id_in_both_directions(woo: WooCommerceSandbox, woo_client: Any) -> None:
    woo.add_product(name="Kubek", sku="K-1")
    # the clock does not move: all seven share one date_created and date_modified
    same_time = [woo.add_order([("K-1", 1, "10.00")])["id"] for _ in range(7)]
    params = {"orderby": "modified", "order": "asc", "per_page": 3}
    pages = [ids(woo_client.get("orders", {**params, "page": page})) for page in (1, 2, 3)]
    assert [order_id for page in pages for order_id in page] == same_time
    assert (
        ids(woo_client.get("orders", {"orderby": "modified", "order": "desc"})) == same_time[::-1]
    )
    assert (
        ids(woo_client.get("orders", {"orderby": "date"})) == same_time[::-1]
    )  # default order: desc


# ------------------------------------------------------------------------------------------- batch


def test_batch_over_100_items_is_413(woo: WooCommerceSandbox, woo_client: Any) -> None:
    body = {
        "create": [{"name": f"P{index}"} for index in range(60)],
        "update": [{"id": 1}] * 30,
        "delete": list(range(11)),
    }
    response = woo_client.post("products/batch", body)
    assert error_of(response) == (
        413,
        "woocommerce_rest_request_entity_too_large",
        "Unable to accept more than 100 items for this request.",
    )
    assert woo.products == {}
    assert woo_client.post("products/batch", {"create": [{"name": "P"}] * 100}).status_code == 200


def test_batch_reports_per_item_errors_inside_200(woo: WooCommerceSandbox, woo_client: Any) -> None:
    owner = woo.add_product(name="Kubek", sku="DUP")
    other = woo.add_product(name="Talerz", sku="T-1")
    response = woo_client.post(
        "products/batch",
        {
            "create": [{"name": "Nowy", "sku": "DUP"}, {"name": "Dobry", "sku": "NEW-1"}],
            "update": [{"id": other["id"], "sku": "DUP"}, {"id": 999999, "name": "x"}],
            "delete": [888888],
        },
    )
    assert response.status_code == 200
    body = response.json()
    duplicate = {
        "code": "product_invalid_sku",
        "message": "Invalid or duplicated SKU.",
        "data": {"status": 400, "resource_id": owner["id"], "unique_sku": "DUP-1"},
    }
    assert body["create"][0] == {"id": 0, "error": duplicate}
    assert body["create"][1]["sku"] == "NEW-1" and body["create"][1]["id"] > 0
    assert body["update"][0] == {"id": other["id"], "error": duplicate}
    assert body["update"][1]["error"]["code"] == "woocommerce_rest_product_invalid_id"
    assert body["delete"][0]["error"]["data"]["status"] == 404
    assert woo.products[other["id"]]["sku"] == "T-1"  # a failed item changes nothing


def test_duplicate_sku_on_single_create_is_400_with_owner(
    woo: WooCommerceSandbox, woo_client: Any
) -> None:
    owner = woo.add_product(name="Kubek", sku="K-1")
    response = woo_client.post("products", {"name": "Kubek 2", "sku": "K-1"})
    assert error_of(response) == (400, "product_invalid_sku", "Invalid or duplicated SKU.")
    assert response.json()["data"]["resource_id"] == owner["id"]
    created = woo_client.post(
        "products", {"name": "Kubek 2", "sku": "K-2", "regular_price": "12.30"}
    )
    assert created.status_code == 201 and created.headers["location"].endswith(
        f"/products/{created.json()['id']}"
    )


def test_empty_batch_answers_an_empty_list(woo_client: Any) -> None:
    response = woo_client.post("orders/batch", {"create": [], "update": []})
    assert response.status_code == 200 and response.json() == []


def test_orders_batch_updates_statuses(woo: WooCommerceSandbox, woo_client: Any) -> None:
    woo.add_product(name="Kubek", sku="K-1")
    order = woo.add_order([("K-1", 1, "10.00")], status="processing")
    body = woo_client.post(
        "orders/batch", {"update": [{"id": order["id"], "status": "completed"}]}
    ).json()
    assert body["update"][0]["status"] == "completed"
    assert woo.orders[order["id"]]["date_completed"] is not None


# -------------------------------------------------------------------------------- product quirks


def test_stock_only_update_does_not_bump_date_modified(
    woo: WooCommerceSandbox, woo_client: Any, clock: Any
) -> None:
    product = woo.add_product(name="Kubek", sku="K-1", regular_price="10.00")
    clock.advance(hours=1)
    stock = woo_client.put(
        f"products/{product['id']}", {"manage_stock": True, "stock_quantity": 7}
    ).json()
    assert stock["stock_quantity"] == 7 and stock["stock_status"] == "instock"
    assert stock["date_modified_gmt"] == product["date_modified_gmt"]

    batch = woo_client.post(
        "products/batch", {"update": [{"id": product["id"], "stock_quantity": 0}]}
    ).json()
    assert batch["update"][0]["stock_status"] == "outofstock"
    assert batch["update"][0]["date_modified_gmt"] == product["date_modified_gmt"]

    clock.advance(hours=1)
    priced = woo_client.put(f"products/{product['id']}", {"regular_price": "11.00"}).json()
    assert priced["date_modified_gmt"] == "2024-06-01T12:00:00" and priced["price"] == "11.00"
    found = woo_client.get(
        "products", {"modified_after": "2024-06-01T10:30:00", "dates_are_gmt": "true"}
    )
    assert ids(found) == [product["id"]]


def test_float_stock_is_400_alone_but_truncated_in_batch(
    woo: WooCommerceSandbox, woo_client: Any
) -> None:
    product = woo.add_product(name="Kubek", sku="K-1", manage_stock=True, stock_quantity=1)
    single = woo_client.put(f"products/{product['id']}", {"stock_quantity": 2.5})
    assert error_of(single)[1] == "rest_invalid_param"
    assert single.json()["data"]["params"] == {
        "stock_quantity": "stock_quantity is not of type integer."
    }
    numeric_price = woo_client.put(f"products/{product['id']}", {"regular_price": 12.3})
    assert numeric_price.json()["data"]["params"] == {
        "regular_price": "regular_price is not of type string."
    }
    batch = woo_client.post(
        "products/batch", {"update": [{"id": product["id"], "stock_quantity": 2.5}]}
    ).json()
    assert batch["update"][0]["stock_quantity"] == 2


def test_sku_filter_is_exact_and_accepts_a_comma_list(
    woo: WooCommerceSandbox, woo_client: Any
) -> None:
    a = woo.add_product(name="A", sku="AB-1")
    b = woo.add_product(name="B", sku="AB-10")
    woo.add_product(name="C", sku="ab-1")
    assert ids(woo_client.get("products", {"sku": "AB-1"})) == [a["id"]]
    assert sorted(ids(woo_client.get("products", {"sku": "AB-1,AB-10"}))) == [a["id"], b["id"]]
    assert ids(woo_client.get("products", {"sku": "AB"})) == []


def test_sale_price_and_money_strings(woo: WooCommerceSandbox, woo_client: Any) -> None:
    product = woo_client.post(
        "products", {"name": "Kubek", "regular_price": "20.00", "sale_price": "15.50"}
    ).json()
    assert (product["price"], product["on_sale"]) == ("15.50", True)
    too_high = woo_client.put(f"products/{product['id']}", {"sale_price": "25.00"}).json()
    assert (too_high["price"], too_high["sale_price"], too_high["on_sale"]) == ("20.00", "", False)


def test_variations_endpoint(woo: WooCommerceSandbox, woo_client: Any) -> None:
    simple = woo.add_product(name="Kubek", sku="K-1")
    variable = woo.add_product(
        name="Koszulka",
        sku="T",
        variations=[{"sku": "T-M", "regular_price": "49.00"}, {"sku": "T-L"}],
    )
    assert woo_client.get(f"products/{simple['id']}/variations").json() == []
    listed = woo_client.get(f"products/{variable['id']}/variations")
    assert [item["sku"] for item in listed.json()] == ["T-L", "T-M"] and listed.headers[
        "x-wp-total"
    ] == "2"
    assert (
        error_of(woo_client.post("products", {"name": "X", "sku": "T-M"}))[1]
        == "product_invalid_sku"
    )


# ---------------------------------------------------------------------------------- order quirks


def test_status_moves_set_date_paid_and_completed(
    woo: WooCommerceSandbox, woo_client: Any, clock: Any
) -> None:
    woo.add_product(name="Kubek", sku="K-1")
    order = woo.add_order([("K-1", 1, "10.00")], status="on-hold")
    assert order["date_paid"] is None and order["needs_payment"] is False
    clock.advance(minutes=5)
    paid = woo_client.put(f"orders/{order['id']}", {"status": "processing"}).json()
    assert (
        paid["date_paid_gmt"] == "2024-06-01T10:05:00"
        and paid["date_modified_gmt"] == "2024-06-01T10:05:00"
    )
    clock.advance(minutes=5)
    done = woo_client.put(f"orders/{order['id']}", {"status": "completed"}).json()
    assert (
        done["date_paid_gmt"] == "2024-06-01T10:05:00"
        and done["date_completed_gmt"] == "2024-06-01T10:10:00"
    )
    assert (
        error_of(woo_client.put(f"orders/{order['id']}", {"status": "shipped"}))[1]
        == "rest_invalid_param"
    )
    assert error_of(woo_client.get("orders/424242")) == (
        404,
        "woocommerce_rest_shop_order_invalid_id",
        "Invalid ID.",
    )


def test_order_created_over_rest(woo: WooCommerceSandbox, woo_client: Any) -> None:
    product = woo.add_product(name="Kubek", sku="K-1", regular_price="24.60")
    response = woo_client.post(
        "orders",
        {
            "set_paid": True,
            "billing": {"email": "jan@example.com"},
            "line_items": [{"product_id": product["id"], "quantity": 2}],
            "shipping_lines": [
                {"method_id": "flat_rate", "method_title": "Kurier", "total": "12.30"}
            ],
        },
    )
    order = response.json()
    assert (
        response.status_code == 201
        and order["status"] == "processing"
        and order["date_paid"] is not None
    )
    assert order["total"] == "61.50" and order["line_items"][0]["sku"] == "K-1"
    no_reference = woo_client.post("orders", {"line_items": [{"quantity": 1}]})
    assert error_of(no_reference) == (400, "woocommerce_rest_required_product_reference",
                                      "Product ID or SKU is required.")


def test_rest_line_with_a_sku_the_shop_lacks_has_no_product_no_sku_and_no_name(
    woo: WooCommerceSandbox, woo_client: Any
) -> None:
    """WC_REST_Orders_V2_Controller::get_product_id finds nothing, wc_get_product() is false,
    so prepare_line_items keeps only what was posted; get_order_item_data answers sku null."""
    response = woo_client.post("orders", {
        "billing": {"first_name": "Jan"},  # a guest without e-mail
        "line_items": [{"sku": "NIE-MA", "quantity": 2, "total": "20.00"},
                       {"product_id": 999999, "quantity": 1, "name": "Stary"}]})
    assert response.status_code == 201, response.text
    first, second = response.json()["line_items"]
    assert (first["product_id"], first["sku"], first["name"], first["quantity"]) == (
        0, None, "", 2)
    assert (second["product_id"], second["sku"], second["name"]) == (0, None, "Stary")
    assert response.json()["billing"]["email"] == ""


def test_add_order_builds_consistent_totals(woo: WooCommerceSandbox) -> None:
    woo.add_product(name="Kubek", sku="K-1")
    order = woo.add_order(
        [("K-1", 3, "12.30"), ("GONE-1", 1, "99.99")],
        email="anna@example.com",
        shipping_cost="14.99",
    )
    lines = order["line_items"]
    assert order["billing"]["email"] == "anna@example.com" and order["billing"]["country"] == "PL"
    # A product the shop no longer has: no product, `sku` null, the stored name stays.
    assert (lines[1]["product_id"], lines[1]["sku"], lines[1]["name"]) == (0, None, "GONE-1")
    money = [
        Decimal(order[name])
        for name in ("total", "total_tax", "shipping_total", "shipping_tax", "cart_tax")
    ]
    total, total_tax, shipping, shipping_tax, cart_tax = money
    assert total == Decimal("36.90") + Decimal("99.99") + Decimal("14.99")  # gross prices
    assert (
        total
        == sum(Decimal(line["total"]) + Decimal(line["total_tax"]) for line in lines)
        + shipping
        + shipping_tax
    )
    assert (
        total_tax
        == cart_tax + shipping_tax
        == sum(Decimal(line["total_tax"]) for line in lines) + shipping_tax
    )
    assert isinstance(lines[0]["price"], float) and order["date_paid"] is not None


def test_invalid_json_body_is_400(woo: WooCommerceSandbox, woo_client: Any) -> None:
    product = woo.add_product(name="Kubek", sku="K-1")
    response = woo_client.request(
        "PUT",
        f"products/{product['id']}",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert error_of(response) == (400, "rest_invalid_json", "Invalid JSON body passed.")


def test_unknown_routes_and_methods_are_rest_no_route(
    woo_client: Any, woo: WooCommerceSandbox, woo_server: SandboxHandle
) -> None:
    expected = (404, "rest_no_route", "No route was found matching the URL and request method.")
    assert error_of(woo_client.get("customers")) == expected
    assert error_of(woo_client.request("DELETE", "orders/batch")) == expected
    assert (
        error_of(httpx.get(woo.api_url(woo_server) + "coupons")) == expected
    )  # 404 before the login check
    assert httpx.get(woo_server.url("/shop/")).status_code == 404


def test_on_request_hook_changes_an_order_mid_run(
    woo: WooCommerceSandbox, woo_client: Any, clock: Any
) -> None:
    created = seed_orders(woo, clock, 4)

    def edit_first_order_when_page_two_is_read(request: SandboxRequest) -> None:
        if request.path == ORDERS and request.query.get("page") == "2":
            clock.advance(minutes=10)
            woo.update_order(created[0], status="completed")

    woo.on_request.append(edit_first_order_when_page_two_is_read)
    params = {"orderby": "modified", "order": "asc", "per_page": 2}
    page_one, page_two = (
        ids(woo_client.get("orders", params)),
        ids(woo_client.get("orders", {**params, "page": 2})),
    )
    assert page_one == created[:2]
    assert page_two == [
        created[3],
        created[0],
    ]  # the edited order jumped to the tail: offset paging skipped created[2]


def test_faults_on_the_woocommerce_api(
    woo: WooCommerceSandbox, woo_client: Any, clock: Any
) -> None:
    seed_orders(woo, clock, 3)
    woo.faults.predicate = lambda request: (
        503 if request.query.get("page") == "2" and request.path == ORDERS else None
    )
    assert woo_client.get("orders", {"per_page": 2}).status_code == 200
    assert woo_client.get("orders", {"per_page": 2, "page": 2}).status_code == 503
    woo.faults.predicate = None
    woo.faults.configure({"error_rate": 0.25, "rate_limit_rate": 0.05, "retry_after": 4, "seed": 3})
    codes = [woo_client.get("orders").status_code for _ in range(40)]
    assert 200 in codes and set(codes) - {200}
    assert woo.log.count("GET", ORDERS) == 42


def test_control_reset_restores_seeded_data(
    woo: WooCommerceSandbox, woo_server: SandboxHandle, woo_client: Any
) -> None:
    woo.seed_demo(orders=5, products=4)
    before = sorted(woo.orders)
    woo.add_order([("PL-00001", 1, "1.00")])
    state = httpx.post(woo_server.url("/__sandbox/reset"), json={"data": True}).json()
    assert state["orders"] == 5 and state["products"] == 4 and sorted(woo.orders) == before
    first_name = woo.orders[before[0]]["billing"]["first_name"]
    assert first_name and woo.orders[before[0]]["billing"]["postcode"][2] == "-"


# -------------------------------------------------------------------------------------- contract


def test_order_has_every_documented_key(
    woo: WooCommerceSandbox, woo_client: Any, woo_fixture: Any
) -> None:
    woo.add_product(name="Kubek", sku="K-1")
    order = woo.add_order([("K-1", 2, "12.30")], status="completed")
    served = woo_client.get(f"orders/{order['id']}").json()
    assert missing_keys(woo_fixture("order.json"), served) == []
    assert missing_keys(woo_fixture("order.json"), woo_client.get("orders").json()[0]) == []
    for name in ("total", "total_tax", "shipping_total", "discount_total"):
        assert isinstance(served[name], str) and served[name].count(".") == 1
    for name in (
        "date_created",
        "date_created_gmt",
        "date_modified_gmt",
        "date_paid_gmt",
        "date_completed_gmt",
    ):
        assert datetime.fromisoformat(served[name]).tzinfo is None


def test_product_has_every_documented_key(
    woo: WooCommerceSandbox, woo_client: Any, woo_fixture: Any
) -> None:
    product = woo.add_product(
        name="Koszulka bawełniana", sku="KB-1", regular_price="24.54", weight="0.3"
    )
    served = woo_client.get(f"products/{product['id']}").json()
    assert missing_keys(woo_fixture("product.json"), served) == []
    assert served["slug"] == "koszulka-bawelniana" and served["price"] == "24.54"
    assert datetime.fromisoformat(served["date_modified_gmt"]).tzinfo is None


def test_serve_forever_prints_one_line_and_stops_on_sigterm() -> None:
    import os
    import signal
    import subprocess
    import sys

    code = (
        "from workers.shops.woocommerce.sandbox import serve_forever; "
        "serve_forever('127.0.0.1', 0, seed_orders=3, seed_products=2, consumer_key='ck_x', "
        "consumer_secret='cs_y', error_rate=0.0, rate_limit_rate=0.0, latency_ms=0)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert "/wp-json/wc/v3/" in line and "ck_x" in line and "cs_y" in line
        state_url = line.split("control: ")[1].rstrip(")\n")
        assert httpx.get(state_url).json()["orders"] == 3
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()


# -- fidelity (docs/fidelity/woocommerce.md) ---------------------------------------------------


def test_reads_default_to_view_context_where_the_description_is_wpautop_rendered(
    woo: WooCommerceSandbox, woo_client: Any
) -> None:
    """WC_REST_Products_V2_Controller::get_product_data: `view` answers
    wpautop(do_shortcode(description)), `edit` the stored text; writes answer in `edit`."""
    created = woo_client.post("products", {"name": "K", "description": "a\nb\n\nc",
                                           "short_description": "krótki"}).json()
    assert created["description"] == "a\nb\n\nc"  # create_item sets context=edit
    view = woo_client.get(f"products/{created['id']}").json()
    assert view["description"] == "<p>a<br />\nb</p>\n<p>c</p>\n"
    assert view["short_description"] == "<p>krótki</p>\n"
    edit = woo_client.get(f"products/{created['id']}", {"context": "edit"}).json()
    assert (edit["description"], edit["short_description"]) == ("a\nb\n\nc", "krótki")
    listed = woo_client.get("products", {"context": "edit"}).json()
    assert listed[0]["description"] == "a\nb\n\nc"
    assert woo_client.get("products").json()[0]["description"].startswith("<p>")
    assert error_of(woo_client.get("products", {"context": "raw"}))[1] == "rest_invalid_param"


def test_name_and_description_are_stored_through_wp_filter_post_kses(
    woo: WooCommerceSandbox, woo_client: Any
) -> None:
    """prepare_object_for_database: set_name/set_description(wp_filter_post_kses(…)) —
    stripslashes, then wp_kses 'post': bare & → &amp;, lone > → &gt;, anything from < to >
    that is not an allowed tag is dropped, disallowed attributes go, backslashes go."""
    body = {"name": "Kubek & spodek <script>x</script>",
            "description": "5 < 7 > 3 & <b>ok</b> <a href=\"https://x.pl\" onclick=\"z\">l</a> "
                           "C:\\dir > &amp; &foo;"}
    created = woo_client.post("products", body).json()
    assert created["name"] == "Kubek &amp; spodek x"
    assert created["description"] == (
        '5  3 &amp; <b>ok</b> <a href="https://x.pl">l</a> C:dir &gt; &amp; &amp;foo;')
    updated = woo_client.post("products/batch", {"update": [
        {"id": created["id"], "description": "x > y"}]}).json()["update"][0]
    assert updated["description"] == "x &gt; y"


def test_sku_is_stored_through_wc_clean(woo: WooCommerceSandbox, woo_client: Any) -> None:
    """set_sku(wc_clean(…)) = sanitize_text_field: tags stripped, whitespace folded, %xx gone."""
    created = woo_client.post("products", {"name": "K", "sku": "  AB\t 1%20x<b>y</b> "}).json()
    assert created["sku"] == "AB 1xy"
    assert ids(woo_client.get("products", {"sku": "AB 1xy"})) == [created["id"]]


def test_fields_answers_only_the_fields_asked_for(
    woo: WooCommerceSandbox, woo_client: Any, clock: Any
) -> None:
    """WordPress rest_filter_response_fields: `_fields=id` leaves `{"id": n}` (no _links)."""
    woo.add_product(name="Kubek", sku="K-1")
    order = woo.add_order([("K-1", 1, "10.00")], created=clock.moment - timedelta(hours=1))
    assert woo_client.get("orders", {"_fields": "id"}).json() == [{"id": order["id"]}]
    assert woo_client.get("orders", {"_fields": "id,billing.email"}).json() == [
        {"id": order["id"], "billing": {"email": order["billing"]["email"]}}]
    single = woo_client.get(f"orders/{order['id']}", {"_fields": "id,status"}).json()
    assert single == {"id": order["id"], "status": "processing"}


def test_include_keeps_per_page_default_and_orderby_include_keeps_its_order(
    woo: WooCommerceSandbox, woo_client: Any
) -> None:
    """`include` is post__in and does not lift per_page (default 10, max 100)."""
    made = [woo.add_product(name=f"P{n}", sku=f"P-{n}")["id"] for n in range(12)]
    wanted = list(reversed(made))
    default_page = woo_client.get("products", {"include": ",".join(map(str, wanted))})
    assert len(default_page.json()) == 10 and default_page.headers["X-WP-Total"] == "12"
    ordered = woo_client.get("products", {"include": ",".join(map(str, wanted)),
                                          "orderby": "include", "per_page": 12})
    assert ids(ordered) == wanted
    assert ids(woo_client.get("products", {"include": "999999"})) == []


def test_after_and_before_filter_the_creation_date_in_gmt_with_dates_are_gmt(
    woo: WooCommerceSandbox, woo_client: Any, clock: Any
) -> None:
    """WC_REST_CRUD_Controller::prepare_objects_query: after/before → post_date, or
    post_date_gmt with dates_are_gmt; bounds are exclusive (WP_Date_Query)."""
    woo.add_product(name="Kubek", sku="K-1")
    created = clock.moment - timedelta(days=3)
    order = woo.add_order([("K-1", 1, "10.00")], created=created, modified=clock.moment)
    gmt = created.astimezone(UTC).replace(tzinfo=None)
    inside = {"after": (gmt - timedelta(seconds=1)).isoformat(),
              "before": (gmt + timedelta(seconds=1)).isoformat(), "dates_are_gmt": "true"}
    assert ids(woo_client.get("orders", inside)) == [order["id"]]
    exclusive = {**inside, "after": gmt.isoformat()}
    assert ids(woo_client.get("orders", exclusive)) == []
    # Without dates_are_gmt the same naive bounds are read as site-local (Europe/Warsaw).
    assert ids(woo_client.get("orders", {k: v for k, v in inside.items()
                                         if k != "dates_are_gmt"})) == []


def test_global_unique_id_exists_from_woocommerce_9_2() -> None:
    old = WooCommerceSandbox(wc_version="9.1.0")
    product = old.add_product(name="K", sku="K-1", global_unique_id="5901234123457")
    assert product["global_unique_id"] == ""
    assert "global_unique_id" not in old._render("products", product, "http://x/", "edit")
    new = WooCommerceSandbox(wc_version="9.2.0")
    added = new.add_product(name="K", sku="K-1", global_unique_id=" 590 ")
    assert added["global_unique_id"] == "590"


def test_sku_lookup_finds_variations_which_products_batch_refuses(
    woo: WooCommerceSandbox, woo_client: Any
) -> None:
    """ProductsV2::prepare_objects_query: with `sku` the post types are product and
    product_variation. ProductsV3::prepare_object_for_database: a variation id on the products
    endpoint is 404 woocommerce_rest_invalid_product_id; its own batch route takes it."""
    parent = woo.add_product(name="Koszulka", sku="T", variations=[{"sku": "T-M"}])
    variation_id = parent["variations"][0]
    (found,) = woo_client.get("products", {"sku": "T-M"}).json()
    assert (found["id"], found["type"], found["parent_id"]) == (variation_id, "variation",
                                                                parent["id"])
    refused = woo_client.post("products/batch", {"update": [
        {"id": variation_id, "stock_quantity": 3, "manage_stock": True}]}).json()["update"][0]
    assert refused["error"]["code"] == "woocommerce_rest_invalid_product_id"
    assert refused["error"]["data"]["status"] == 404
    batch = f"products/{parent['id']}/variations/batch"
    done = woo_client.post(batch, {"update": [
        {"id": variation_id, "manage_stock": True, "stock_quantity": 3, "regular_price": "59.00"},
        {"id": parent["id"], "stock_quantity": 1}]}).json()["update"]
    assert (done[0]["stock_quantity"], done[0]["regular_price"]) == (3, "59.00")
    assert done[1]["error"]["code"] == "woocommerce_rest_product_variation_invalid_id"


def test_a_duplicate_gtin_is_refused_with_its_holder(
    woo: WooCommerceSandbox, woo_client: Any
) -> None:
    """WC_Product::set_global_unique_id: strips all but digits, hyphens and a final X; a GTIN
    another product holds is 400 product_invalid_global_unique_id with `resource_id`."""
    holder = woo_client.post("products", {"name": "A", "global_unique_id": "590 123"}).json()
    assert holder["global_unique_id"] == "590123"
    other = woo_client.post("products", {"name": "B"}).json()
    taken = woo_client.put(f"products/{other['id']}", {"global_unique_id": "590123"})
    assert error_of(taken)[1] == "product_invalid_global_unique_id"
    assert taken.json()["data"]["resource_id"] == holder["id"]
    misplaced = woo_client.put(f"products/{other['id']}", {"global_unique_id": "12X3"})
    assert error_of(misplaced)[1] == "product_invalid_global_unique_id_format"
