"""Contract tests of the WooCommerce mapper: documented payloads in, domain types out.

The fixtures are trimmed copies of the JSON examples in
`woocommerce/woocommerce-rest-api-docs:source/includes/wp-api-v3/_orders.md` and `_products.md`
(see each file's `_source`). Malformed variants are derived from them in the tests.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.domain import Product, StockQuantity
from workers.shops.woocommerce import mapping
from workers.shops.woocommerce.mapping import MappingError
from workers.shops.woocommerce.sandbox import filter_post_kses, wc_clean

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "woocommerce"


def load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


@pytest.fixture
def order() -> dict[str, Any]:
    return load("doc_order_727.json")


@pytest.fixture
def product() -> dict[str, Any]:
    item = copy.deepcopy(load("doc_products_list.json")[1])
    item.update(sku="PQ-19", weight="0.350", global_unique_id="5901234123457")
    return item


# -- the sandbox engineer's trimmed doc copies (order.json, product.json) ----------------------


def test_shared_fixture_order_parses() -> None:
    parsed = mapping.parse_order(load("order.json"))
    assert parsed.external_id == "727" and parsed.total_gross == Decimal("29.35")
    assert parsed.modified_at == datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC)
    assert len(parsed.lines) == 1 and parsed.lines[0].name == "Woo Single #1"


def test_shared_fixture_product_without_sku_maps_with_an_empty_sku() -> None:
    payload = load("product.json")
    assert mapping.parse_product(payload).sku == ""  # the engine lists it as needing attention
    parsed = mapping.parse_product({**payload, "sku": "PQ-19"})
    assert (parsed.shop_id, parsed.price_gross, parsed.is_active) == ("794", Decimal("24.54"), True)


# -- orders -----------------------------------------------------------------------------------


def test_documented_order_maps_to_domain(order: dict[str, Any]) -> None:
    parsed = mapping.parse_order(order)

    assert parsed.external_id == "727" and parsed.external_number == "727"
    assert parsed.status == "processing" and parsed.currency == "USD"
    assert parsed.total_gross == Decimal("29.35")
    assert parsed.shipping_gross == Decimal("10.00")
    assert parsed.is_paid is True
    # The *_gmt fields, not the site-local ones (the doc's site runs at UTC-3).
    assert parsed.ordered_at == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)
    assert parsed.modified_at == datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC)
    assert parsed.payment_method == "Direct Bank Transfer"
    assert parsed.shipping_method == "Flat Rate"
    assert parsed.notes is None
    customer = parsed.customer
    assert customer.email == "john.doe@example.com"
    assert (customer.first_name, customer.last_name) == ("John", "Doe")
    assert customer.company is None and customer.phone == "(555) 555-5555"
    assert (customer.street, customer.city, customer.postcode, customer.country_code) == (
        "969 Market", "San Francisco", "94103", "US")


def test_documented_order_lines(order: dict[str, Any]) -> None:
    first, second = mapping.parse_order(order).lines

    assert first.sku == "" and first.name == "Woo Single #1"
    assert first.quantity == Decimal(2)
    # (6.00 + 0.45) / 2 = 3.225 → 3.23 gross per unit.
    assert first.unit_price_gross == Decimal("3.23")
    # No rate_percent in this (3.0.0) payload: derived from amounts, 0.45 / 6.00 = 7.5 %.
    assert first.vat_rate == Decimal("7.50")
    assert second.sku == "Bar3" and second.unit_price_gross == Decimal("12.90")
    assert second.vat_rate == Decimal("7.50")


def test_vat_rate_from_tax_lines_rate_percent(order: dict[str, Any]) -> None:
    order["tax_lines"][0]["rate_percent"] = 7.25  # newer shops send it; authoritative
    assert mapping.parse_order(order).lines[0].vat_rate == Decimal("7.25")


def test_polish_vat_rates_are_derived_to_whole_percent(order: dict[str, Any]) -> None:
    line = order["line_items"][0]
    line.update(quantity=1, total="0.99", total_tax="0.23", taxes=[{"id": 1, "total": "0.23"}])
    assert mapping.parse_order(order).lines[0].vat_rate == Decimal("23.00")
    line.update(total="81.30", total_tax="18.70")
    assert mapping.parse_order(order).lines[0].vat_rate == Decimal("23.00")
    line.update(total="10.00", total_tax="0.00", taxes=[])
    assert mapping.parse_order(order).lines[0].vat_rate == Decimal("0.00")
    line.update(total="0.00", total_tax="0.00")
    assert mapping.parse_order(order).lines[0].vat_rate is None


def test_paid_by_status_without_date_paid(order: dict[str, Any]) -> None:
    order["date_paid_gmt"] = None
    assert mapping.parse_order(order).is_paid is True
    order["status"] = "on-hold"
    assert mapping.parse_order(order).is_paid is False
    order["status"] = "completed"
    assert mapping.parse_order(order).is_paid is True


def test_email_is_normalised_and_nip_read_from_meta(order: dict[str, Any]) -> None:
    order["billing"]["email"] = "  John.DOE@Example.com "
    order["billing"]["company"] = "ACME sp. z o.o."
    order["billing"]["address_2"] = "lok. 4"
    order["meta_data"].append({"id": 1, "key": "_billing_nip", "value": " 5261040828 "})
    customer = mapping.parse_order(order).customer
    assert customer.email == "john.doe@example.com"
    assert customer.company == "ACME sp. z o.o." and customer.tax_id == "5261040828"
    assert customer.street == "969 Market lok. 4"


def test_shipping_gross_includes_shipping_tax(order: dict[str, Any]) -> None:
    order.update(shipping_total="12.20", shipping_tax="2.81")
    assert mapping.parse_order(order).shipping_gross == Decimal("15.01")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o: o.pop("id"), "missing id"),
        (lambda o: o.update(id="727"), "id is not a positive integer"),
        (lambda o: o.update(total="29,35"), "total is not a number"),
        (lambda o: o.update(total=None), "missing total"),
        (lambda o: o.update(currency="US Dollar"), "currency is not an ISO code"),
        (lambda o: o.pop("date_created_gmt"), "missing date_created_gmt"),
        (lambda o: o.update(date_created_gmt="yesterday"), "date_created_gmt is not a date"),
        (lambda o: o.update(line_items={}), "line_items is not a list"),
        (lambda o: o.update(billing=[]), "billing is not an object"),
        (lambda o: o["billing"].update(email=["x"]), "email is not a string"),
        (lambda o: o["line_items"][0].update(name=7), "line 1: name is not a string"),
        (lambda o: o.update(fee_lines=[{"name": "Pobranie", "total": "x"}]),
         "fee 1: total is not a number"),
        (lambda o: o["line_items"][1].update(quantity=-1), "line 2: quantity must be positive"),
        (lambda o: o["line_items"][0].update(quantity=0), "line 1: quantity must be positive"),
        (lambda o: o["line_items"][0].update(total=True), "line 1: total is not a number"),
        (lambda o: o.update(status=7), "status is not a string"),
    ],
)
def test_malformed_orders_raise_one_clear_mapping_error(
    order: dict[str, Any], change: Any, message: str
) -> None:
    change(order)
    with pytest.raises(MappingError, match=message):
        mapping.parse_order(order)


def test_lenient_where_the_erp_row_can_still_be_right(order: dict[str, Any]) -> None:
    """Issue 11: an empty-name line, a line without SKU, a guest without e-mail, an odd
    country and an unreadable modification date all map; the engine decides and warns."""
    order["line_items"][0].update(name="", sku=None, product_id=0)
    order["line_items"][1].pop("name")
    order["billing"].update(email="", country=" xk ")
    order.update(date_modified_gmt="yesterday", payment_method_title=None, customer_note=None)
    parsed = mapping.parse_order(order)
    assert [(line.sku, line.name) for line in parsed.lines[:2]] == [("", ""), (
        order["line_items"][1]["sku"], "")]
    assert parsed.customer.email == "" and parsed.customer.country_code == "XK"
    assert parsed.modified_at == parsed.ordered_at
    order.pop("billing")  # no billing at all: an empty buyer, matched by the engine
    assert mapping.parse_order(order).customer.email == ""


def test_fee_lines_with_tax_are_lines_negative_fees_and_refunds_are_not(
    order: dict[str, Any]
) -> None:
    order["fee_lines"] = [
        {"id": 9, "name": "Pobranie", "total": "4.07", "total_tax": "0.94", "taxes": []},
        {"id": 10, "name": "Rabat", "total": "-5.00", "total_tax": "0.00", "taxes": []},
    ]
    order["refunds"] = [{"id": 11, "reason": "", "total": "-10.00"}]
    parsed = mapping.parse_order(order)
    fee = parsed.lines[-1]
    assert len(parsed.lines) == len(order["line_items"]) + 1
    assert (fee.sku, fee.name, fee.quantity, fee.unit_price_gross) == (
        "", "Pobranie", Decimal(1), Decimal("5.01"))
    assert fee.vat_rate == Decimal("23.00")


@pytest.mark.parametrize("payload", [None, [], "727", 727])
def test_non_object_order(payload: Any) -> None:
    with pytest.raises(MappingError, match="order is not an object"):
        mapping.parse_order(payload)


def test_item_key_of_anything() -> None:
    assert mapping.item_key({"id": 5}) == "5"
    assert mapping.item_key({"id": None}) == "?"
    assert mapping.item_key("junk") == "?"


# -- products ---------------------------------------------------------------------------------


def test_documented_products_without_sku_map_with_an_empty_sku() -> None:
    for item in load("doc_products_list.json"):
        item["regular_price"] = item["regular_price"] or "10.00"  # a price is still required
        assert mapping.parse_product(item).sku == ""


def test_product_maps_to_domain(product: dict[str, Any]) -> None:
    parsed = mapping.parse_product(product)
    assert parsed == Product(
        shop_id="794",
        sku="PQ-19",
        name="Premium Quality",
        description=product["description"],
        price_gross=Decimal("21.99"),
        ean="5901234123457",
        weight_kg=Decimal("0.350"),
        is_active=True,
        modified_at=datetime(2017, 3, 23, 20, 1, 14, tzinfo=UTC),
    )


def test_product_status_and_price_fallback(product: dict[str, Any]) -> None:
    product.update(status="draft", regular_price="", price="19.90", weight="",
                   global_unique_id="")
    parsed = mapping.parse_product(product)
    assert parsed.is_active is False and parsed.price_gross == Decimal("19.90")
    assert parsed.weight_kg is None and parsed.ean is None
    product.update(status="private")
    assert mapping.parse_product(product).is_active is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.update(regular_price="", price=""), "product has no price"),
        (lambda p: p.update(regular_price="-1.00"), "regular_price is negative"),
        (lambda p: p.update(id=0), "id is not a positive integer"),
        (lambda p: p.update(status=None), "missing status"),
    ],
)
def test_malformed_products(product: dict[str, Any], change: Any, message: str) -> None:
    change(product)
    with pytest.raises(MappingError, match=message):
        mapping.parse_product(product)


def test_products_without_name_sku_weight_or_date_still_map(product: dict[str, Any]) -> None:
    product.update(name="", sku="   ", weight="heavy", global_unique_id=None)
    product.pop("date_modified_gmt")
    parsed = mapping.parse_product(product)
    assert (parsed.name, parsed.sku, parsed.weight_kg, parsed.ean, parsed.modified_at) == (
        "", "", None, None, None)


# -- writes -----------------------------------------------------------------------------------


def test_product_payload_for_create_and_update() -> None:
    product = Product(sku="A-1", name="Kubek", price_gross=Decimal("19.9"),
                      description="<p>x</p>", ean="5901234123457", weight_kg=Decimal("1.500"),
                      is_active=False, shop_id="42")
    assert mapping.product_payload(product, with_id=False) == {
        "sku": "A-1", "name": "Kubek", "description": "<p>x</p>", "regular_price": "19.90",
        "status": "draft", "weight": "1.5", "global_unique_id": "5901234123457",
    }
    update = mapping.product_payload(product, with_id=True)
    assert update["id"] == 42 and next(iter(update)) == "id"


def test_product_payload_clears_empty_fields_and_rounds_money() -> None:
    product = Product(sku="B", name="B", price_gross=Decimal("10.005"))
    payload = mapping.product_payload(product, with_id=False)
    assert payload["regular_price"] == "10.01"
    assert payload["status"] == "publish"
    assert payload["description"] == payload["weight"] == payload["global_unique_id"] == ""


def test_update_without_shop_id_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="not a WooCommerce id"):
        mapping.product_payload(Product(sku="B", name="B", price_gross=Decimal(1)), with_id=True)


def test_stock_payload() -> None:
    assert mapping.stock_payload(StockQuantity(sku="A", quantity=12, shop_id="7")) == {
        "id": 7, "manage_stock": True, "stock_quantity": 12}
    with pytest.raises(MappingError, match="negative stock"):
        mapping.stock_payload(StockQuantity(sku="A", quantity=-1, shop_id="7"))
    with pytest.raises(MappingError, match="not a WooCommerce id"):
        mapping.stock_payload(StockQuantity(sku="A", quantity=1, shop_id=None))


def test_batch_item_errors() -> None:
    duplicate = {"id": 0, "error": {"code": "product_invalid_sku",
                                    "message": "Invalid or duplicated SKU.",
                                    "data": {"status": 400, "resource_id": 31,
                                             "unique_sku": "A-1-1"}}}
    assert mapping.batch_item_error(duplicate) == (
        "product_invalid_sku: Invalid or duplicated SKU.", "31")
    assert mapping.batch_item_error({"id": 5, "name": "ok"}) is None
    other = {"id": 9, "error": {"code": "woocommerce_rest_invalid_id", "message": "Invalid ID.",
                                "data": {"status": 400}}}
    assert mapping.batch_item_error(other) == ("woocommerce_rest_invalid_id: Invalid ID.", None)


# -- text as WooCommerce stores it ---------------------------------------------------------------

_PIECES = [*"ab <>/&;#\\\"'=\n\tłŻ", "<b>", "</b>", "<p>", "<br />", "<br/>", "<script>",
           '<a href="https://x.pl">', "</a>", "&amp;", "&lt;", "&#92;", "<!--", "-->",
           '<a href="javascript:x">', "< 7 >", "\x01"]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)


@given(text=_TEXT, markup=st.booleans())
@settings(max_examples=400, deadline=None)
def test_shop_text_is_a_kses_fixpoint_and_erp_text_inverts_it(text: str, markup: bool) -> None:
    """Whatever the ERP wrote: what we send is stored unchanged by wp_filter_post_kses (as the
    sandbox emulates it), and reading it back gives the ERP's text byte for byte."""
    sent = mapping.shop_text(text, markup=markup)
    assert filter_post_kses(sent) == sent
    assert mapping.erp_text(sent) == text


def test_markup_kses_keeps_stays_markup_everything_else_is_text() -> None:
    sent = mapping.shop_text('<p>A & B</p><br /><br/><script>x</script>5 < 7 > 3'
                             '<a href="https://x.pl" title="t">l</a><a onclick="z">', markup=True)
    assert sent == ('<p>A &amp; B</p><br />&lt;br/&gt;&lt;script&gt;x&lt;/script&gt;5 &lt; 7 &gt; 3'
                    '<a href="https://x.pl" title="t">l</a>&lt;a onclick="z"&gt;')
    assert mapping.shop_text("<b>x</b>", markup=False) == "&lt;b&gt;x&lt;/b&gt;"


def test_wc_clean_problems() -> None:
    assert mapping.wc_clean_problem("ABC-1/ż") is None
    for sku in (" A", "A ", "A  B", "A\tB", "A%2fB", "A<B"):
        assert mapping.wc_clean_problem(sku), sku
    for sku in ("ABC-1", "A B", "Ż-1"):
        assert wc_clean(sku) == sku  # what we accept, the shop keeps
