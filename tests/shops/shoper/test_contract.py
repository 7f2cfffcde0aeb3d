"""Contract tests: the parser reads the documented Shoper payloads (tests/fixtures/shoper, see
its README for sources), and the sandbox answers in the same shape (every documented key)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.shops.shoper.support import Api
from workers.shops.http import default_error_detail
from workers.shops.shoper import mapping
from workers.shops.shoper.mapping import MappingError, ShopRef
from workers.shops.shoper.sandbox import ShoperSandbox

Load = Callable[[str], Any]
WARSAW = mapping.zone_of("Europe/Warsaw")
REFS = mapping.References(currencies={"1": "PLN"}, payments={"1": "Przelew"},
                          shippings={"8": "Kurier DPD"})


def test_list_pages_have_a_string_count(fixture: Load) -> None:
    page = mapping.parse_list(fixture("product_stocks_list.json"), "GET product-stocks")
    assert (page.count, page.pages, page.page, len(page.rows)) == (36, 36, 1, 1)
    with pytest.raises(MappingError):
        mapping.parse_list({"count": "x", "list": []}, "GET orders")
    with pytest.raises(MappingError):
        mapping.parse_list([], "GET orders")


def test_documented_order_and_its_lines(fixture: Load) -> None:
    lines = fixture("order_products_list.json")["list"]
    order = mapping.parse_order(fixture("order.json"), lines, REFS, WARSAW)
    assert order.external_id == "4" and order.status == "7"
    assert order.total_gross == Decimal("999.00") and order.currency == "PLN"
    assert order.is_paid is False
    assert order.ordered_at == datetime(2026, 9, 29, 11, 37, 23, tzinfo=UTC)  # CEST → UTC
    assert order.modified_at == datetime(2026, 9, 29, 12, 2, 10, tzinfo=UTC)  # status_date
    customer = order.customer
    assert customer.email == "klient.b2b@example.com" and customer.tax_id == "5252556107"
    assert customer.street == "ul. Marszałkowska 1 lok. 2" and customer.postcode == "00-624"
    assert order.shipping_method == "Kurier DPD" and order.notes == "Proszę o fakturę"
    [line] = order.lines
    assert (line.sku, line.quantity, line.unit_price_gross, line.vat_rate) == (
        "OL-93", Decimal(1), Decimal("999.00"), Decimal("23.00"))


def test_order_paid_amount_counts_when_there_is_no_is_paid_flag(fixture: Load) -> None:
    row = {k: v for k, v in fixture("order.json").items() if k != "is_paid"} | {"paid": "999.00"}
    assert mapping.parse_order(row, [], REFS, WARSAW).is_paid is True


@pytest.mark.parametrize(("change", "message"), [
    ({"order_id": "abc"}, "order_id"), ({"currency_id": "9"}, "currency_id"),
    ({"sum": "dużo"}, "sum"), ({"date": "wczoraj"}, "date"), ({"date": None}, "date"),
    ({"shipping_cost": "?"}, "shipping_cost"),
])
def test_only_what_would_make_the_erp_row_wrong_is_refused(
    fixture: Load, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(MappingError, match=message):
        mapping.parse_order(fixture("order.json") | change, [], REFS, WARSAW)


def test_a_guest_without_email_or_address_and_an_odd_country_still_map(fixture: Load) -> None:
    row = fixture("order.json") | {"email": "", "billing_address": None,
                                   "delivery_address": None}
    order = mapping.parse_order(row, [], REFS, WARSAW)
    assert order.customer.email == "" and order.customer.last_name == ""
    odd = fixture("order.json")
    odd["billing_address"] = dict(odd["billing_address"], country_code=" XK1 ", phone=None)
    customer = mapping.parse_order(odd, [], REFS, WARSAW).customer
    assert customer.country_code == "XK1" and customer.phone is None  # as given, stripped
    with pytest.raises(MappingError, match="email"):  # missing is not malformed
        mapping.parse_order(fixture("order.json") | {"email": ["x"]}, [], REFS, WARSAW)
    assert mapping.parse_order(fixture("order.json") | {"status_id": None}, [], REFS,
                               WARSAW).status == ""


def test_a_line_without_product_name_or_code_maps_with_empty_texts(fixture: Load) -> None:
    [line] = fixture("order_products_list.json")["list"]
    gone = line | {"product_id": "0", "stock_id": "0", "name": "", "code": None,
                   "option": "XL"}
    order = mapping.parse_order(fixture("order.json"), [gone], REFS, WARSAW)
    assert (order.lines[0].name, order.lines[0].sku) == ("", "")
    with pytest.raises(MappingError, match="line 1: price"):
        mapping.parse_order(fixture("order.json"), [line | {"price": "x"}], REFS, WARSAW)


def test_a_product_without_name_or_sku_maps_and_errors_carry_its_shop_id(fixture: Load) -> None:
    row = fixture("product.json")
    row["code"] = ""
    row["stock"] = dict(row["stock"], code="")
    row["translations"] = {"pl_PL": {"name": "", "active": "1"}}
    product = mapping.parse_product(row, WARSAW, {})
    assert (product.sku, product.name, product.shop_id) == ("", "", "93:181")
    broken = fixture("product.json")
    broken["stock"] = dict(broken["stock"], price="?")
    with pytest.raises(MappingError):
        mapping.parse_product(broken, WARSAW, {})
    assert mapping.product_key(broken) == "93:181"
    assert mapping.product_key({"product_id": "93", "stock": None}) == "93"
    assert mapping.product_key({"product_id": "x"}) == "x"


def test_documented_product_and_stock_rows(fixture: Load) -> None:
    product = mapping.parse_product(fixture("product.json"), WARSAW, {1: Decimal("23.00")})
    assert product.sku == "OL-93" and product.shop_id == "93:181"
    assert product.price_gross == Decimal("1484.28") and product.weight_kg == Decimal("1.250")
    assert product.ean == "5901234123457" and product.is_active and product.vat_rate == 23
    assert product.modified_at == datetime(2026, 9, 29, 11, 40, 2, tzinfo=UTC)
    stock = mapping.parse_stock_row(fixture("product_stocks_list.json")["list"][0])
    assert (stock.stock_id, stock.product_id, stock.code, stock.default) == (
        181, 93, "OL-93", True)


def test_reference_lists(fixture: Load) -> None:
    assert mapping.open_status_ids(fixture("statuses_list.json")["list"]) == [1, 2]
    assert mapping.tax_ids(fixture("taxes_list.json")["list"]) == {
        Decimal("23.00"): 1, Decimal("8.00"): 2, Decimal("5.00"): 3, Decimal("0.00"): 4}
    assert mapping.currency_codes(fixture("currencies_list.json")["list"]) == {
        "1": "PLN", "2": "EUR"}


def test_bulk_answers_match_by_id(fixture: Load) -> None:
    answers = mapping.parse_bulk(fixture("bulk_answer.json"),
                                 ["product-stocks-181", "product-stocks-999"])
    assert answers["product-stocks-181"].ok and answers["product-stocks-181"].body == 1
    failed = answers["product-stocks-999"]
    assert not failed.ok and not failed.retriable
    assert failed.error() == "HTTP 404 invalid_request: Resource not found"
    with pytest.raises(MappingError, match="lacks 1 of 3"):
        mapping.parse_bulk(fixture("bulk_answer.json"),
                           ["product-stocks-181", "product-stocks-999", "other"])


@pytest.mark.parametrize(("name", "code"), [
    ("error_unauthorized.json", "unauthorized_client"),
    ("error_insufficient_scope.json", "insufficient_scope"),
    ("error_not_found.json", "invalid_request"),
    ("error_validation.json", "invalid_request"),
    ("rate_limited.json", "temporarily_unavailable"),
])
def test_error_bodies_give_code_and_polish_description(fixture: Load, name: str,
                                                       code: str) -> None:
    found, message = default_error_detail(fixture(name))
    assert found == code and message == fixture(name)["error_description"]


def test_shop_refs_round_trip() -> None:
    assert str(ShopRef.parse("93:181")) == "93:181"
    assert str(ShopRef.parse("93:182:v")) == "93:182:v" and ShopRef.parse("93:182:v").variant
    assert ShopRef.parse("93") == ShopRef(93)
    for bad in ("", "x", "0:1", "1:x", "1:2:w", "1:2:v:4", None):
        with pytest.raises(MappingError):
            ShopRef.parse(bad)


def test_local_window_widens_over_the_repeated_autumn_hour() -> None:
    # 2024-10-27: Warsaw goes from 03:00 CEST back to 02:00 CET; 02:30 happens twice.
    since = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # 02:30 CEST, the first pass
    until = datetime(2024, 10, 27, 1, 30, tzinfo=UTC)  # 02:30 CET, the second pass
    assert mapping.local_window(since, until, WARSAW) == (
        "2024-10-27 01:30:00", "2024-10-27 03:30:00")
    plain = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    assert mapping.local_window(plain, plain, WARSAW) == (
        "2024-06-01 12:00:00", "2024-06-01 12:00:00")
    # An ambiguous shop time is read as its earlier occurrence: never later than the truth.
    assert mapping.from_local("2024-10-27 02:30:00", WARSAW) == since


# -- the sandbox answers in the documented shapes --------------------------------------------


def _missing_keys(documented: Any, served: Any, path: str = "") -> list[str]:
    if isinstance(documented, Mapping):
        if not isinstance(served, Mapping):
            return [path or "<root>"]
        missing = []
        for key, value in documented.items():
            if key not in served:
                missing.append(f"{path}{key}")
            else:
                missing += _missing_keys(value, served[key], f"{path}{key}.")
        return missing
    if isinstance(documented, list) and documented and isinstance(served, list) and served:
        return _missing_keys(documented[0], served[0], path + "[0].")
    return []


def test_sandbox_rows_carry_every_documented_key(api: Api, shop: ShoperSandbox,
                                                 fixture: Load) -> None:
    shop.bucket.limit = 100  # the fake clock stands still: let a dozen calls through
    shop.add_product("OL-93", "Test produkt", "1484.28", 77, ean="5901234123457")
    shop.add_order([("OL-93", 1, "999.00")], email="klient@example.com", nip="5252556107")
    served = {
        "product.json": api.get("products/1").json(),
        "product_stocks_list.json": api.get("product-stocks").json(),
        "order.json": api.get("orders/1").json(),
        "order_products_list.json": api.get("order-products").json(),
        "statuses_list.json": api.get("statuses").json(),
        "taxes_list.json": api.get("taxes").json(),
        "currencies_list.json": api.get("currencies").json(),
        "error_not_found.json": api.get("products/999999999").json(),
    }
    for name, answer in served.items():
        assert _missing_keys(fixture(name), answer) == [], name
    refused = api.request("GET", "orders", token="garbage").json()
    assert refused == fixture("error_unauthorized.json")
    token = httpx.post(api.base + "auth", auth=(api.login, api.password)).json()
    assert set(token) == set(fixture("auth_token.json"))
    bulk = api.request("POST", "bulk", json=[
        {"id": "product-stocks-1", "path": "/webapi/rest/product-stocks/1", "method": "PUT",
         "body": {"stock": 5}},
        {"id": "product-stocks-999", "path": "/webapi/rest/product-stocks/999",
         "method": "PUT", "body": {"stock": 5}}]).json()
    documented = fixture("bulk_answer.json")
    assert bulk["errors"] is True and [i["code"] for i in bulk["items"]] == [200, 404]
    assert bulk["items"][1]["body"] == documented["items"][1]["body"]
    assert bulk["items"][0]["body"] == documented["items"][0]["body"] == 1
