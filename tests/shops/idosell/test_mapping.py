"""Contract tests of the IdoSell mapper: documented payload shapes in, domain types out; the
bodies we send against the property names the v6 spec documents.

Fixtures: tests/fixtures/idosell (see its README for what each file follows).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from workers.domain import Product, StatusChange, StockQuantity
from workers.shops.idosell import mapping
from workers.shops.idosell.mapping import MappingError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "idosell"
WARSAW = ZoneInfo("Europe/Warsaw")


def load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


DOCUMENTED = load("documented_fields.json")


def order_payload() -> dict[str, Any]:
    return copy.deepcopy(load("orders_search_response.json")["Results"][0])


# -- searches ---------------------------------------------------------------------------------


def test_search_answers_differ_in_case() -> None:
    rows, total = mapping.rows_of(load("orders_search_response.json"), "Results")
    assert len(rows) == 1 and total == 1
    rows, total = mapping.rows_of(load("products_search_response.json"), "results")
    assert len(rows) == 2 and total == 2
    with pytest.raises(MappingError, match="no results list"):
        mapping.rows_of(load("orders_search_response.json"), "results")


def test_empty_result_is_fault_2_not_a_list() -> None:
    assert mapping.is_empty_result(load("empty_result.json"))
    assert mapping.rows_of(load("empty_result.json"), "results") == ([], 0)
    assert mapping.error_detail(load("empty_result.json")) == (
        "2", "Product search: returned an empty result")
    with pytest.raises(MappingError, match="search failed: 3: blocked"):
        mapping.rows_of({"errors": {"faultCode": 3, "faultString": "blocked"}}, "Results")


def test_request_shape_matches_the_documented_one() -> None:
    documented = load("orders_search_request.json")
    assert set(documented["params"]) == {"ordersRange", "resultsPage", "resultsLimit"}
    assert documented["params"]["ordersRange"]["ordersDateRange"]["ordersDateType"] == "modified"


# -- orders -----------------------------------------------------------------------------------


def test_documented_order_parses() -> None:
    order = mapping.parse_order(order_payload(), WARSAW)

    assert (order.external_id, order.external_number, order.status) == ("5112", "shop1-5112",
                                                                        "on_order")
    assert order.currency == "PLN"
    assert (order.total_gross, order.shipping_gross) == (Decimal("76.79"), Decimal("14.99"))
    assert order.is_paid  # a settled payment covers the value
    # 02:40 on 27 Oct 2024 happened twice in Warsaw: the earlier reading (CEST).
    assert order.modified_at == datetime(2024, 10, 27, 0, 40, tzinfo=UTC)
    assert order.ordered_at == datetime(2024, 10, 27, 0, 15, tzinfo=UTC)
    customer = order.customer
    assert customer.email == "jan.kowalski@example.pl"
    assert (customer.company, customer.tax_id, customer.city) == ("ACME sp. z o.o.", "5260250274",
                                                                   "Warszawa")
    assert (order.payment_method, order.shipping_method) == ("Przelewy24", "InPost Paczkomaty 24/7")
    assert order.notes == "Proszę o fakturę"
    assert [(x.sku, x.quantity, x.unit_price_gross, x.vat_rate) for x in order.lines] == [
        ("KUB-300", Decimal(2), Decimal("24.60"), Decimal("23.00")),
        ("HER-100", Decimal(1), Decimal("12.60"), Decimal("5.00")),  # no size code: product code
    ]


@pytest.mark.parametrize(("prepaids", "paid"), [
    ([], False),
    ([{"paymentStatus": "n", "paymentType": "payment", "paymentValue": 76.79}], False),
    ([{"paymentStatus": "y", "paymentType": "advance", "paymentValue": 40},
      {"paymentStatus": "y", "paymentType": "payment", "paymentValue": 36.79}], True),
    ([{"paymentStatus": "y", "paymentType": "payment", "paymentValue": 76.79},
      {"paymentStatus": "y", "paymentType": "repayment", "paymentValue": 76.79}], False),
    ([{"paymentStatus": "y", "paymentType": "fee", "paymentValue": 100}], False),
])
def test_paid_means_settled_payments_cover_the_value(prepaids: list[Any], paid: bool) -> None:
    payload = order_payload()
    payload["orderDetails"]["prepaids"] = prepaids
    assert mapping.parse_order(payload, WARSAW).is_paid is paid


@pytest.mark.parametrize(("change", "message"), [
    (lambda o: o.update(orderSerialNumber="x"), "orderSerialNumber"),
    (lambda o: o["orderDetails"].update(orderAddDate="27.10.2024"), "orderAddDate"),
    (lambda o: o["orderDetails"]["payments"]["orderCurrency"].update(currencyId="zł"),
     "currencyId is not an ISO code"),
    (lambda o: o["orderDetails"]["productsResults"][1].update(productQuantity=-1), "line 2"),
    (lambda o: o["orderDetails"]["productsResults"][0].update(productOrderPrice="x"), "line 1"),
    (lambda o: o["orderDetails"]["payments"]["orderCurrency"].update(orderProductsCost="abc"),
     "orderProductsCost is not a number"),
])
def test_only_what_would_make_the_erp_row_wrong_is_refused(change: Any, message: str) -> None:
    payload = order_payload()
    change(payload)
    with pytest.raises(MappingError, match=message):
        mapping.parse_order(payload, WARSAW)


def test_guest_without_email_lines_without_name_and_odd_values_still_map() -> None:
    payload = order_payload()
    payload["clientResult"]["clientAccount"]["clientEmail"] = ""
    payload["clientResult"]["clientBillingAddress"]["clientCountryId"] = " xk "
    payload["orderDetails"]["productsResults"][0].update(
        productName=None, productSizeCodeExternal="", productCode="", productId=0)
    payload["orderDetails"]["orderChangeDate"] = None
    payload["orderDetails"]["orderStatus"] = None
    order = mapping.parse_order(payload, WARSAW)
    assert order.customer.email == "" and order.customer.country_code == "xk"  # as given
    assert (order.lines[0].name, order.lines[0].sku) == ("", "")
    assert order.modified_at == order.ordered_at and order.status == ""
    payload["orderDetails"]["productsResults"] = []
    assert mapping.parse_order(payload, WARSAW).lines == ()


def test_status_items_and_their_answers() -> None:
    item = mapping.status_item(StatusChange(1, "5112", "packed", 3))
    assert item == load("orders_put_request.json")["params"]["orders"][0]
    assert set(item) <= set(DOCUMENTED["orders_put_item"])
    assert set(DOCUMENTED["order_statuses"]) == mapping.ORDER_STATUSES
    with pytest.raises(MappingError, match="not an IdoSell order status"):
        mapping.status_item(StatusChange(1, "5113", "shipped", 3))
    with pytest.raises(MappingError, match="order serial number"):
        mapping.status_item(StatusChange(1, "shop1-5113", "packed", 3))
    done, refused = mapping.result_list(load("orders_put_response_207.json"), "results",
                                        "ordersResults")
    assert mapping.fault(done) is None and mapping.fault(refused) == "5: No such status"


# -- products ---------------------------------------------------------------------------------


def test_documented_product_parses() -> None:
    single, multi = load("products_search_response.json")["results"]
    product = mapping.parse_product(single, WARSAW)

    assert (product.shop_id, product.sku, product.name) == ("201", "KUB-300", "Kubek ceramiczny")
    assert (product.price_gross, product.vat_rate) == (Decimal("24.60"), Decimal("23.00"))
    assert (product.ean, product.weight_kg, product.is_active) == ("5901234123457",
                                                                    Decimal("0.35"), True)
    assert product.description == "<p>Kubek ceramiczny 300 ml</p>"
    # 02:30 on 31 Mar 2024 does not exist in Warsaw: read with the offset before the jump.
    assert product.modified_at == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)
    with pytest.raises(MappingError, match="2 sizes"):
        mapping.parse_product(multi, WARSAW)
    assert mapping.size_codes(multi) == ["KOSZ-M", "KOSZ-L"]


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p.update(productRetailPrice=-1), "negative"),
    (lambda p: p.update(productRetailPrice=None), "productRetailPrice"),
    (lambda p: p.update(productId=0), "productId"),
    (lambda p: p["productSizesAttributes"][0].update(productSizeCodeExternal=["KUB-300"]),
     "productSizeCodeExternal is not text"),
])
def test_malformed_products_are_mapping_errors(change: Any, message: str) -> None:
    payload = copy.deepcopy(load("products_search_response.json")["results"][0])
    change(payload)
    with pytest.raises(MappingError, match=message):
        mapping.parse_product(payload, WARSAW)


def test_a_product_without_sku_name_or_modification_time_still_maps() -> None:
    payload = copy.deepcopy(load("products_search_response.json")["results"][0])
    payload.update(productSizesAttributes=[], productDisplayedCode="",
                   productDescriptionsLangData=[], productModificationTime=None)
    product = mapping.parse_product(payload, WARSAW)
    assert (product.shop_id, product.sku, product.name, product.modified_at) == (
        "201", "", "", None)


def test_product_without_size_code_falls_back_to_the_displayed_code() -> None:
    payload = copy.deepcopy(load("products_search_response.json")["results"][0])
    payload["productSizesAttributes"] = []
    assert mapping.parse_product(payload, WARSAW).sku == "KUB-300"


def erp_product(**fields: Any) -> Product:
    values: dict[str, Any] = {"sku": "KUB-300", "name": "Kubek 300 ml",
                              "price_gross": Decimal("30.75"), "vat_rate": Decimal("23.00"),
                              "ean": "5901234123457", "weight_kg": Decimal("0.3504"),
                              "description": "<p>Opis</p>"}
    values.update(fields)
    return Product(**values)


def test_product_item_uses_documented_names_and_units() -> None:
    item = mapping.product_item(erp_product(shop_id="201"), with_id=True)

    assert set(item) <= set(DOCUMENTED["products_put_item"])
    assert item["productId"] == 201 and item["productSizeCodeExternal"] == "KUB-300"
    assert (item["productRetailPrice"], item["productVat"], item["productWeight"]) == (30.75,
                                                                                      23.0, 350)
    assert item["productInVisible"] == "y" and item["productSizeCodeProducer"] == "5901234123457"
    assert item["productNames"] == {"productNamesLangData": [{"langId": "pol",
                                                              "productName": "Kubek 300 ml"}]}
    orjson.dumps({"params": {"products": [item]}})  # JSON-ready (no Decimals)
    assert "productId" not in mapping.product_item(erp_product(), with_id=False)
    assert "productVat" not in mapping.product_item(erp_product(vat_rate=None), with_id=False)
    with pytest.raises(MappingError, match="IdoSell product id"):
        mapping.product_item(erp_product(shop_id=None), with_id=True)


def test_stock_item_and_answers() -> None:
    item = mapping.stock_item(StockQuantity(sku="KUB-300", quantity=7, shop_id="201"))
    assert item == {"productSizeCodeExternal": "KUB-300", "stockId": 1, "productSizeQuantity": 7}
    assert set(item) <= set(DOCUMENTED["stock_quantity_item"])
    with pytest.raises(MappingError, match="negative"):
        mapping.stock_item(StockQuantity(sku="A", quantity=-1))
    done, refused = mapping.result_list(load("stock_quantity_response_207.json"), "results")
    assert mapping.fault(done) is None
    assert mapping.fault(refused) == "4: Product size with code 'GONE-1' not found"


def test_product_write_answers_name_faults_and_code_owners() -> None:
    created, clash = mapping.result_list(load("products_put_response_207.json"), "results",
                                         "productsResults")
    assert mapping.fault(created) is None and mapping.owner_of_code(created) is None
    assert mapping.fault(clash) == ("8: External system code 'KUB-300' is already used by "
                                    "another product")
    assert mapping.owner_of_code(clash) == "201"
    with pytest.raises(MappingError, match=r"no results.productsResults"):
        mapping.result_list({"errors": {"faultCode": 3}}, "results", "productsResults")
