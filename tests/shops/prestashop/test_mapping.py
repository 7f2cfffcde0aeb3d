"""Contract tests of the PrestaShop mapper: documented payload shapes in, domain types out; our
XML bodies against the documented blank schemas.

Fixtures: tests/fixtures/prestashop (see its README for the source of each file).
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from workers.domain import Product, StatusChange
from workers.shops.http import default_error_detail
from workers.shops.prestashop import mapping, xmlbody
from workers.shops.prestashop.mapping import Catalog, MappingError, OrderRefs

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "prestashop"
WARSAW = ZoneInfo("Europe/Warsaw")
CATALOG = Catalog(default_lang="1", languages=("1", "2"),
                  group_rates={"1": Decimal("23.00"), "2": Decimal("8.00"), "4": Decimal("0.00")})


def load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def blank_fields(name: str) -> set[str]:
    _element, fields = xmlbody.parse_document((FIXTURES / name).read_bytes())
    return set(fields)


def refs(**overrides: Any) -> OrderRefs:
    base = OrderRefs(
        customers={"3": {"id": 3, "email": " Jan.Kowalski@Example.PL ", "firstname": "Jan",
                         "lastname": "Kowalski", "company": ""},
                   "2": {"id": 2, "email": "anna@example.pl", "firstname": "Anna",
                         "lastname": "Nowak", "company": "Firma"}},
        addresses={"6": {"id": 6, "id_country": "14", "firstname": "Jan", "lastname": "Kowalski",
                         "company": "ACME sp. z o.o.", "vat_number": "PL5260250274",
                         "address1": "ul. Długa 5", "address2": "m. 3", "postcode": "00-950",
                         "city": "Warszawa", "phone": "22 123 45 67", "phone_mobile": ""},
                   "4": {"id": 4, "id_country": "1", "address1": "Hauptstr. 1", "city": "Berlin",
                         "postcode": "10115"}},
        countries={"14": "PL", "1": "DE"},
        currencies={"1": "PLN"},
        carriers={"3": "Kurier InPost", "2": "Poczta Polska"},
        paid_states=frozenset({"2", "3", "4", "5"}),
    )
    for key, value in overrides.items():
        setattr(base, key, value)
    return base


# -- list shapes ------------------------------------------------------------------------------


def test_list_shapes_full_ids_only_and_empty() -> None:
    assert len(mapping.rows(load("orders_full.json"), "orders")) == 1
    assert mapping.rows(load("products_ids_only.json"), "products") == [{"id": 18970}]
    assert mapping.rows(load("empty_list.json"), "products") == []  # #10172: no wrapper
    assert mapping.rows({}, "products") == [] and mapping.rows(None, "orders") == []
    with pytest.raises(MappingError, match="neither"):
        mapping.rows({"product": {"id": 1}}, "products")
    assert mapping.single(load("order_single.json"), "order")["id"] == 5


def test_error_body_is_understood_by_the_http_layer() -> None:
    assert default_error_detail(load("error_auth.json")) == ("18",
                                                             "Invalid authentication key format")


# -- orders -----------------------------------------------------------------------------------


def test_documented_order_parses() -> None:
    (payload,) = mapping.rows(load("orders_full.json"), "orders")
    order = mapping.parse_order(payload, refs(), WARSAW)

    assert (order.external_id, order.external_number, order.status) == ("6", "ONAQWRKWL", "1")
    assert order.currency == "PLN" and not order.is_paid  # state 1: awaiting check payment
    assert (order.total_gross, order.shipping_gross) == (Decimal("102.00"), Decimal("2.00"))
    # Shop-local (CET in December) → UTC.
    assert order.ordered_at == datetime(2020, 12, 11, 5, 43, 41, tzinfo=UTC)
    assert order.modified_at == datetime(2020, 12, 11, 5, 43, 42, tzinfo=UTC)
    assert order.customer.email == "jan.kowalski@example.pl"
    assert (order.customer.company, order.customer.tax_id) == ("ACME sp. z o.o.", "PL5260250274")
    assert (order.customer.street, order.customer.country_code) == ("ul. Długa 5 m. 3", "PL")
    assert (order.payment_method, order.shipping_method) == ("Payments by check", "Kurier InPost")
    (line,) = order.lines
    assert (line.sku, line.name, line.quantity) == ("Men Tshirt", "Men Tshirt - Size : XXL",
                                                    Decimal(1))
    assert (line.unit_price_gross, line.vat_rate) == (Decimal("100.00"), Decimal("0.00"))


def test_single_order_in_the_repeated_autumn_hour_takes_the_earlier_reading() -> None:
    order = mapping.parse_order(mapping.single(load("order_single.json"), "order"), refs(), WARSAW)
    # 02:40 happened twice in Warsaw on 27 Oct 2024: first at 00:40 UTC (CEST), then 01:40 (CET).
    assert order.modified_at == datetime(2024, 10, 27, 0, 40, tzinfo=UTC)
    assert order.is_paid and order.status == "2"
    assert order.customer.country_code == "DE" and order.customer.email == "anna@example.pl"
    assert order.lines[0].vat_rate == Decimal("23.00")
    assert order.lines[0].unit_price_gross == Decimal("23.90")


@pytest.mark.parametrize(("change", "message"), [
    (lambda o: o.update(id_currency="7"), "currency '7' has no ISO code"),
    (lambda o: o["associations"].update(order_rows=[]), "no associations.order_rows"),
    (lambda o: o.update(date_upd="11.12.2020"), "date_upd is not a date"),
    (lambda o: o.update(date_upd="0000-00-00 00:00:00"), "date_upd is not set"),
    (lambda o: o["associations"]["order_rows"][0].update(product_quantity="0"), "line 1: quantity"),
    (lambda o: o.update(total_paid_tax_incl="12,50"), "total_paid_tax_incl is not a number"),
    (lambda o: o.update(id=0), "id is not a positive integer"),
])
def test_malformed_orders_are_mapping_errors(change: Any, message: str) -> None:
    payload = copy.deepcopy(load("orders_full.json")["orders"][0])
    change(payload)
    with pytest.raises(MappingError, match=message):
        mapping.parse_order(payload, refs(), WARSAW)


def test_guest_without_email_or_customer_row_is_passed_on() -> None:
    """Issue 11: the ERP can hold such an order; the engine matches the buyer by name and
    address. The names come from the invoice address, then the customer row."""
    payload = load("orders_full.json")["orders"][0]
    guest = mapping.parse_order(payload, refs(customers={"3": {"id": 3, "email": "  "}}),
                                WARSAW)
    assert guest.customer.email == "" and guest.customer.last_name
    gone = copy.deepcopy(payload)
    gone.update(id_customer="99")
    orphan = mapping.parse_order(gone, refs(), WARSAW)
    assert orphan.customer.email == "" and orphan.customer.street == guest.customer.street


def test_odd_lines_and_countries_are_passed_on() -> None:
    payload = copy.deepcopy(load("orders_full.json")["orders"][0])
    payload["associations"]["order_rows"][0].update(product_name="", product_reference=None)
    odd = refs()
    odd.countries = dict.fromkeys(odd.countries, " xk ")
    order = mapping.parse_order(payload, odd, WARSAW)
    assert (order.lines[0].name, order.lines[0].sku) == ("", "")
    assert order.customer.country_code == "XK"  # as the shop gives it, stripped


def test_refs_wanted_by_a_page() -> None:
    payload = load("orders_full.json")["orders"][0]
    wanted = mapping.order_refs_wanted([payload, {"id_customer": "0"}, "garbage"])
    assert wanted == {"customers": {"3"}, "addresses": {"6"}, "carriers": {"3"}}


def test_history_body_matches_the_blank_schema() -> None:
    fields = mapping.history_fields(StatusChange(order_id=1, external_id="6", shop_status="4",
                                                 erp_status_id=4))
    element, parsed = xmlbody.parse_document(xmlbody.document("order_history", fields))
    assert element == "order_history" and parsed == {"id_order": "6", "id_order_state": "4"}
    assert set(parsed) <= blank_fields("order_history_blank.xml")
    with pytest.raises(MappingError, match="numeric order_states ids"):
        mapping.history_fields(StatusChange(1, "6", "shipped", 4))


# -- products ---------------------------------------------------------------------------------


def test_documented_product_parses_to_a_gross_price() -> None:
    (payload,) = mapping.rows(load("products_full_multilang.json"), "products")
    product = mapping.parse_product(payload, CATALOG, WARSAW)

    assert (product.shop_id, product.sku, product.name) == ("12", "KUB-300", "Kubek ceramiczny")
    assert product.price_gross == Decimal("24.60")  # 20.000000 net, tax rule group 1 (23 %)
    assert (product.price_net, product.vat_rate) == (Decimal("20.00"), Decimal("23.00"))
    assert (product.ean, product.weight_kg, product.is_active) == ("5901234123457",
                                                                    Decimal("0.35"), True)
    assert product.description == "<p>Kubek 300 ml</p>"
    # 02:30 on 31 Mar 2024 never happened in Warsaw (clocks jumped 02:00 → 03:00): read with the
    # offset before the jump.
    assert product.modified_at == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)


def test_single_language_shop_sends_plain_strings() -> None:
    payload = copy.deepcopy(load("products_full_multilang.json")["products"][0])
    payload["name"] = "Kubek"
    assert mapping.parse_product(payload, CATALOG, WARSAW).name == "Kubek"


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p.update(id_tax_rules_group="9"), "tax rule group 9 is unknown"),
    (lambda p: p.update(price="-1"), "negative"),
    (lambda p: p.update(price="12,5"), "price is not a number"),
])
def test_malformed_products_are_mapping_errors(change: Any, message: str) -> None:
    payload = copy.deepcopy(load("products_full_multilang.json")["products"][0])
    change(payload)
    with pytest.raises(MappingError, match=message):
        mapping.parse_product(payload, CATALOG, WARSAW)


def test_product_without_sku_or_name_is_passed_on() -> None:
    """Issue 11: the engine lists such a product as needing attention; no page error."""
    payload = copy.deepcopy(load("products_full_multilang.json")["products"][0])
    payload.update(reference="", name=[{"id": "1", "value": ""}, {"id": "2", "value": "Mug"}])
    product = mapping.parse_product(payload, CATALOG, WARSAW)
    assert (product.sku, product.name, product.shop_id) == ("", "", "12")


def erp_product(**fields: Any) -> Product:
    values: dict[str, Any] = {"sku": "KUB-300", "name": "Kubek 300 ml", "price_gross":
                              Decimal("30.75"), "vat_rate": Decimal("23.00"),
                              "ean": "5901234123457", "weight_kg": Decimal("0.400"),
                              "description": "Opis & <b>więcej</b>"}
    values.update(fields)
    return Product(**values)


def test_new_product_body_is_xml_the_blank_schema_knows() -> None:
    fields = mapping.new_product_fields(erp_product(), CATALOG)
    body = xmlbody.document("product", fields)

    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    element, parsed = xmlbody.parse_document(body)
    assert element == "product" and set(parsed) <= blank_fields("product_blank.xml")
    assert parsed["price"] == "25.000000"  # 30.75 / 1.23, tax-excluded
    assert (parsed["id_tax_rules_group"], parsed["reference"], parsed["weight"]) == ("1",
                                                                                   "KUB-300", "0.4")
    assert parsed["name"] == {"1": "Kubek 300 ml", "2": "Kubek 300 ml"}
    assert parsed["link_rewrite"] == {"1": "kubek-300-ml", "2": "kubek-300-ml"}
    assert parsed["description"]["1"] == "Opis & <b>więcej</b>"  # escaped on the wire
    assert b"&lt;b&gt;" in body


def test_updated_product_echoes_the_full_object_minus_read_only_fields() -> None:
    current = load("products_full_multilang.json")["products"][0]
    fields = mapping.updated_product_fields(erp_product(vat_rate=Decimal("8")), current, CATALOG)

    assert fields["id"] == "12"
    assert not {"quantity", "manufacturer_name", "associations"} & set(fields)
    assert set(fields) <= blank_fields("product_blank.xml")
    # Everything else goes back as it was, so a PUT empties nothing.
    assert set(fields) == (set(current) - {"quantity", "manufacturer_name", "associations"})
    assert fields["name"] == {"1": "Kubek 300 ml", "2": "Ceramic mug"}  # translation kept
    assert fields["link_rewrite"] == {"1": "kubek-ceramiczny", "2": "ceramic-mug"}
    assert (fields["price"], fields["id_tax_rules_group"]) == ("28.472222", "2")
    assert fields["low_stock_threshold"] == "" and fields["date_add"] == "2024-03-30 12:00:00"
    xmlbody.document("product", fields)  # renders


def test_product_without_vat_rate_keeps_its_group() -> None:
    current = load("products_full_multilang.json")["products"][0]
    fields = mapping.updated_product_fields(erp_product(vat_rate=None), current, CATALOG)
    assert (fields["id_tax_rules_group"], fields["price"]) == ("1", "25.000000")
    with pytest.raises(MappingError, match="no VAT rate"):
        mapping.new_product_fields(erp_product(vat_rate=None), CATALOG)


@pytest.mark.parametrize(("product", "message"), [
    (erp_product(vat_rate=Decimal("7")), r"no tax rule group charges 7 % .*23 %, 8 %"),
    (erp_product(ean="12345678901234"), "does not fit PrestaShop's ean13"),
    (erp_product(weight_kg=Decimal("-1")), "negative weight"),
])
def test_products_the_shop_cannot_take_are_mapping_errors(product: Product, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        mapping.new_product_fields(product, CATALOG)


def test_control_characters_cannot_travel_in_xml() -> None:
    fields = mapping.new_product_fields(erp_product(name="Kubek\x0b"), CATALOG)
    with pytest.raises(xmlbody.XmlValueError, match="control characters"):
        xmlbody.document("product", fields)


def test_price_round_trip_is_exact_to_the_cent() -> None:
    for cents in range(1, 100_000, 997):
        gross = Decimal(cents) / 100
        for rate in (Decimal(23), Decimal(8), Decimal(5)):
            assert mapping.gross_price(mapping.net_price(gross, rate), rate) == gross


# -- stock ------------------------------------------------------------------------------------


def test_stock_body_is_the_full_documented_object() -> None:
    (row,) = mapping.rows(load("stock_availables_full.json"), "stock_availables")
    fields = mapping.stock_fields(row, 7)
    assert set(fields) == blank_fields("stock_available_blank.xml")
    assert (fields["id"], fields["quantity"], fields["id_shop"]) == ("31", "7", "1")
    with pytest.raises(MappingError, match="negative"):
        mapping.stock_fields(row, -1)


def test_blank_schemas_parse_with_cdata() -> None:
    element, fields = xmlbody.parse_document((FIXTURES / "product_blank.xml").read_bytes())
    assert element == "product" and fields["name"] == {"1": "", "2": ""}
    with pytest.raises(ET.ParseError):
        xmlbody.parse_document(b'{"product": {}}')


def test_gross_prices_survive_the_net_price_at_six_places() -> None:
    """`price` is tax-excluded DECIMAL(20,6); gross → net → gross must give every cent back for
    the Polish rates (and a zero rate), or export/import would rewrite ERP prices."""
    grosses = [Decimal(cents) / 100 for cents in range(1, 20001)]
    grosses += [Decimal("1234.56"), Decimal("99999.99"), Decimal("9999999.99")]
    for rate in (Decimal("23"), Decimal("8"), Decimal("5"), Decimal("0")):
        for gross in grosses:
            net = mapping.net_price(gross, rate)
            assert len(str(net).split(".")[1]) == 6
            assert mapping.gross_price(net, rate) == gross, (gross, rate)
