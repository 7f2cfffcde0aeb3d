"""Hostile shop data against every connector's mapper (hypothesis).

Each mapper turns one shop item into a domain object or raises its platform's `MappingError`
(which the connector files as an item error). Starting from the documented payloads, fields are
removed, replaced with values of the wrong type, absurd numbers (1e30, "NaN", "-0"), dates
without a zone or in the wrong format, huge strings and control characters, or extra fields
are added. The property: the mapper answers a *sane* object (finite decimals, aware times,
strings where strings belong) or raises MappingError — never anything else.

Answers of write calls and list envelopes are fuzzed with arbitrary JSON the same way.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given

from tests.security.support import (
    DATE_TEXTS,
    NUMBER_TEXTS,
    TEXTS,
    _paths,
    deep,
    hostile,
    json_values,
    mutated,
)
from workers.domain import Order, Product
from workers.shops.allegro import mapping as allegro
from workers.shops.idosell import mapping as idosell
from workers.shops.prestashop import mapping as presta
from workers.shops.shoper import mapping as shoper
from workers.shops.vendure import mapping as vendure
from workers.shops.woocommerce import mapping as woo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WARSAW = ZoneInfo("Europe/Warsaw")


def fixture(platform: str, name: str) -> Any:
    return orjson.loads((FIXTURES / platform / name).read_bytes())


# -- what the mappers get besides the item ------------------------------------------------------

PRESTA_REFS = presta.OrderRefs(
    customers={"3": {"id": 3, "email": "jan@example.pl", "firstname": "Jan",
                     "lastname": "Kowalski", "company": ""}},
    addresses={"6": {"id": 6, "id_country": "14", "address1": "ul. Długa 5", "city": "Kraków",
                     "postcode": "30-001", "vat_number": "PL5260250274"}},
    countries={"14": "PL"}, currencies={"1": "PLN"}, carriers={"3": "Kurier"},
    paid_states=frozenset({"2", "3"}),
)
PRESTA_CATALOG = presta.Catalog(default_lang="1", languages=("1", "2"),
                                group_rates={"1": Decimal("23.00"), "2": Decimal("8.00")})
SHOPER_REFS = shoper.References(currencies={"1": "PLN"}, payments={"1": "Przelew"},
                                shippings={"8": "Kurier DPD"})
VENDURE_ORDER = {
    "id": "7", "code": "ABC123", "state": "PaymentSettled", "active": False,
    "createdAt": "2026-01-05T10:00:00.000Z", "updatedAt": "2026-01-05T10:00:03.000Z",
    "orderPlacedAt": "2026-01-05T10:00:02.512Z", "currencyCode": "PLN",
    "totalWithTax": 11498, "shippingWithTax": 1500,
    "customer": {"id": "3", "emailAddress": "jan@example.pl", "firstName": "Jan",
                 "lastName": "Kowalski", "phoneNumber": None},
    "shippingAddress": {"fullName": "Jan Kowalski", "company": None, "streetLine1": "ul. Długa 5",
                        "streetLine2": "m. 3", "city": "Kraków", "postalCode": "30-001",
                        "countryCode": "PL", "phoneNumber": "+48 600 100 200"},
    "billingAddress": None,
    "lines": [{"id": "1", "quantity": 2, "orderPlacedQuantity": 2, "unitPriceWithTax": 4999,
               "proratedUnitPriceWithTax": 4999, "taxRate": 23,
               "productVariant": {"id": "1", "sku": "KUB-1", "name": "Kubek"}}],
    "shippingLines": [{"shippingMethod": {"code": "kurier", "name": "Kurier"}}],
    "payments": [{"id": "1", "method": "przelew", "amount": 11498, "state": "Settled",
                  "updatedAt": "2026-01-05T10:00:02.000Z",
                  "refunds": [{"state": "Settled", "total": 100}]}],
    "fulfillments": [{"updatedAt": "2026-01-05T11:00:00.000Z"}],
}
VENDURE_VARIANT = {
    "id": "5", "sku": "KUB-1", "name": "Kubek (old)", "enabled": True,
    "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-02T00:00:00.000Z",
    "price": 4064, "priceWithTax": 4999, "taxRateApplied": {"value": 23},
    "product": {"id": "2", "name": "Kubek", "description": "Duży", "enabled": True,
                "updatedAt": "2026-01-03T00:00:00.000Z", "variantList": {"totalItems": 1}},
}


def _shoper_order(item: Any) -> Order:
    """Shoper reads an order and its lines in two calls; both are fuzzed."""
    if isinstance(item, dict) and "order" in item:
        lines = item.get("lines")
        return shoper.parse_order(item["order"], lines if isinstance(lines, list) else [lines],
                                  SHOPER_REFS, WARSAW)
    return shoper.parse_order(item, [], SHOPER_REFS, WARSAW)


#: (name, documented payload, parse, that platform's MappingError)
ORDER_MAPPERS: list[tuple[str, Any, Callable[[Any], Order], type[Exception]]] = [
    ("woocommerce", fixture("woocommerce", "order.json"), woo.parse_order, woo.MappingError),
    ("prestashop", fixture("prestashop", "orders_full.json")["orders"][0],
     lambda row: presta.parse_order(row, PRESTA_REFS, WARSAW), presta.MappingError),
    ("shoper", {"order": fixture("shoper", "order.json"),
                "lines": fixture("shoper", "order_products_list.json")["list"]},
     _shoper_order, shoper.MappingError),
    ("idosell", fixture("idosell", "orders_search_response.json")["Results"][0],
     lambda row: idosell.parse_order(row, WARSAW), idosell.MappingError),
    ("vendure", VENDURE_ORDER, vendure.parse_order, vendure.MappingError),
    ("allegro", fixture("allegro", "checkout_form.json"), allegro.parse_order,
     allegro.MappingError),
]
PRODUCT_MAPPERS: list[tuple[str, Any, Callable[[Any], Product], type[Exception]]] = [
    ("woocommerce", {**fixture("woocommerce", "product.json"), "sku": "WOO-1"}, woo.parse_product,
     woo.MappingError),
    ("prestashop", fixture("prestashop", "products_full_multilang.json")["products"][0],
     lambda row: presta.parse_product(row, PRESTA_CATALOG, WARSAW), presta.MappingError),
    ("shoper", fixture("shoper", "product.json"),
     lambda row: shoper.parse_product(row, WARSAW, {1: Decimal("23.00")}), shoper.MappingError),
    ("idosell", fixture("idosell", "products_search_response.json")["results"][0],
     lambda row: idosell.parse_product(row, WARSAW), idosell.MappingError),
    ("vendure", VENDURE_VARIANT, vendure.parse_variant, vendure.MappingError),
    ("allegro", fixture("allegro", "offer.json"),
     lambda row: allegro.parse_offer(row, ended_by_us=False), allegro.MappingError),
]


# -- what "sane" means --------------------------------------------------------------------------


def _finite(value: Decimal | None, what: str) -> None:
    assert value is None or (isinstance(value, Decimal) and value.is_finite()), (what, value)


def _aware(value: datetime | None, what: str) -> None:
    assert value is None or (isinstance(value, datetime) and value.utcoffset() is not None), \
        (what, value)


def check_order(order: Order) -> None:
    assert isinstance(order, Order)
    assert isinstance(order.external_id, str) and isinstance(order.status, str)
    assert isinstance(order.currency, str) and isinstance(order.customer.email, str)
    _finite(order.total_gross, "total_gross")
    _finite(order.shipping_gross, "shipping_gross")
    _aware(order.ordered_at, "ordered_at")
    _aware(order.modified_at, "modified_at")
    for line in order.lines:
        assert isinstance(line.sku, str) and isinstance(line.name, str)
        _finite(line.quantity, "quantity")
        _finite(line.unit_price_gross, "unit_price_gross")
        _finite(line.vat_rate, "vat_rate")


def check_product(product: Product) -> None:
    assert isinstance(product, Product)
    assert isinstance(product.sku, str) and isinstance(product.name, str)
    assert product.shop_id is None or isinstance(product.shop_id, str)
    for name in ("price_gross", "price_net", "vat_rate", "weight_kg"):
        _finite(getattr(product, name), name)
    _aware(product.modified_at, "modified_at")


def _parses_or_item_error(parse: Callable[[Any], Any], payload: Any,
                          error: type[Exception], check: Callable[[Any], None]) -> None:
    try:
        result = parse(payload)
    except error:
        return  # an item error for this one item: the run goes on
    check(result)


# -- the properties -----------------------------------------------------------------------------


@pytest.mark.parametrize("name, payload, parse, error", ORDER_MAPPERS,
                         ids=[m[0] for m in ORDER_MAPPERS])
def test_documented_orders_still_parse(name: str, payload: Any, parse: Any, error: Any) -> None:
    check_order(parse(copy.deepcopy(payload)))


@pytest.mark.parametrize("name, payload, parse, error", PRODUCT_MAPPERS,
                         ids=[m[0] for m in PRODUCT_MAPPERS])
def test_documented_products_still_parse(name: str, payload: Any, parse: Any,
                                         error: Any) -> None:
    check_product(parse(copy.deepcopy(payload)))


@pytest.mark.parametrize("name, payload, parse, error", ORDER_MAPPERS,
                         ids=[m[0] for m in ORDER_MAPPERS])
def test_hostile_orders_parse_or_are_item_errors(name: str, payload: Any, parse: Any,
                                                 error: Any) -> None:
    @hostile(max_examples=150)
    @given(item=mutated(payload))
    def check(item: Any) -> None:
        _parses_or_item_error(parse, item, error, check_order)

    check()


@pytest.mark.parametrize("name, payload, parse, error", PRODUCT_MAPPERS,
                         ids=[m[0] for m in PRODUCT_MAPPERS])
def test_hostile_products_parse_or_are_item_errors(name: str, payload: Any, parse: Any,
                                                   error: Any) -> None:
    @hostile(max_examples=150)
    @given(item=mutated(payload))
    def check(item: Any) -> None:
        _parses_or_item_error(parse, item, error, check_product)

    check()


@pytest.mark.parametrize("name, payload, parse, error", ORDER_MAPPERS + PRODUCT_MAPPERS,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(ORDER_MAPPERS + PRODUCT_MAPPERS)])
def test_anything_at_all_is_an_item_error(name: str, payload: Any, parse: Any,
                                          error: Any) -> None:
    @hostile(max_examples=40)
    @given(item=json_values)
    def check(item: Any) -> None:
        _parses_or_item_error(parse, item, error, lambda _: None)

    check()
    # As deep as a page may nest and still pass the HTTP layer (MAX_JSON_DEPTH; deeper pages
    # fail there, see test_hostile_http).
    for item in (deep(60), {"id": deep(60)}, [deep(60)], {"id": 1, "lines": deep(60)}):
        _parses_or_item_error(parse, item, error, lambda _: None)


#: Every single-field edit the sweep below makes: the hostile texts plus wrong types.
SWEEP_VALUES: list[Any] = [*NUMBER_TEXTS, *DATE_TEXTS, *TEXTS, None, True, False, 0, -1, 1.5,
                           1e300, -(2**63), 2**63 - 1, [], {}, [1], {"a": []}, deep(60)]


def _sweep(payload: Any, parse: Any, error: Any, check: Any) -> int:
    """Each field of `payload` (at any depth) in turn replaced by each SWEEP_VALUE, and each
    removed: hypothesis samples; this covers every one-field edit exhaustively."""
    edits = 0
    for path in list(_paths(payload))[1:]:
        for value in [*SWEEP_VALUES, _DELETE]:
            item = copy.deepcopy(payload)
            parent = item
            for key in path[:-1]:
                parent = parent[key]
            if value is _DELETE:
                parent.pop(path[-1])
            else:
                parent[path[-1]] = copy.deepcopy(value)
            _parses_or_item_error(parse, item, error, check)
            edits += 1
    return edits


_DELETE = object()


@pytest.mark.parametrize("name, payload, parse, error", ORDER_MAPPERS,
                         ids=[m[0] for m in ORDER_MAPPERS])
def test_every_order_field_with_every_hostile_value(name: str, payload: Any, parse: Any,
                                                    error: Any) -> None:
    assert _sweep(payload, parse, error, check_order) > 1000


@pytest.mark.parametrize("name, payload, parse, error", PRODUCT_MAPPERS,
                         ids=[m[0] for m in PRODUCT_MAPPERS])
def test_every_product_field_with_every_hostile_value(name: str, payload: Any, parse: Any,
                                                      error: Any) -> None:
    assert _sweep(payload, parse, error, check_product) > 500


# -- answers of lists and writes ----------------------------------------------------------------

ANSWER_READERS: list[tuple[str, Callable[[Any], Any], type[Exception]]] = [
    ("woo.ensure_list", lambda d: woo.ensure_list(d, "orders"), woo.MappingError),
    ("woo.batch_item_error", lambda d: woo.batch_item_error(d) if isinstance(d, dict) else None,
     woo.MappingError),
    ("woo.item_key", woo.item_key, woo.MappingError),
    ("woo.modified_gmt", woo.modified_gmt, woo.MappingError),
    ("presta.rows", lambda d: presta.rows(d, "orders"), presta.MappingError),
    ("presta.single", lambda d: presta.single(d, "product"), presta.MappingError),
    ("presta.object_id", presta.object_id, presta.MappingError),
    ("presta.order_refs_wanted", lambda d: presta.order_refs_wanted(d if isinstance(d, list)
                                                                     else [d]),
     presta.MappingError),
    ("shoper.parse_list", lambda d: shoper.parse_list(d, "orders"), shoper.MappingError),
    ("shoper.parse_bulk", lambda d: shoper.parse_bulk(d, ["a"]), shoper.MappingError),
    ("shoper.created_id", lambda d: shoper.created_id(shoper.BulkAnswer(200, d)),
     shoper.MappingError),
    ("shoper.parse_stock_row", shoper.parse_stock_row, shoper.MappingError),
    ("shoper.row_key", lambda d: shoper.row_key(d, "order_id", "status_date"),
     shoper.MappingError),
    ("shoper.currency_codes", lambda d: shoper.currency_codes(d if isinstance(d, list) else [d]),
     shoper.MappingError),
    ("shoper.tax_ids", lambda d: shoper.tax_ids(d if isinstance(d, list) else [d]),
     shoper.MappingError),
    ("shoper.open_status_ids",
     lambda d: shoper.open_status_ids(d if isinstance(d, list) else [d]), shoper.MappingError),
    ("shoper.line_order_id", shoper.line_order_id, shoper.MappingError),
    ("idosell.rows_of", lambda d: idosell.rows_of(d, "Results"), idosell.MappingError),
    ("idosell.fault", idosell.fault, idosell.MappingError),
    ("idosell.owner_of_code", idosell.owner_of_code, idosell.MappingError),
    ("idosell.result_list", lambda d: idosell.result_list(d, "results"), idosell.MappingError),
    ("idosell.order_key", idosell.order_key, idosell.MappingError),
    ("idosell.size_codes", idosell.size_codes, idosell.MappingError),
    ("vendure.item_key", vendure.item_key, vendure.MappingError),
    ("vendure.channel_from", lambda d: vendure.channel_from(d, d) if isinstance(d, dict) else None,
     vendure.MappingError),
    ("allegro.task_results", allegro.task_results, allegro.MappingError),
    ("allegro.importable", lambda d: allegro.importable(d) if isinstance(d, dict) else None,
     allegro.MappingError),
    ("allegro.customer", lambda d: allegro.parse_customer(d) if isinstance(d, dict) else None,
     allegro.MappingError),
    ("allegro.ids", lambda d: (allegro.form_id(d), allegro.offer_id(d), allegro.offer_sku(d),
                               allegro.offer_status(d), allegro.revision(d)),
     allegro.MappingError),
]


@pytest.mark.parametrize("name, read, error", ANSWER_READERS, ids=[r[0] for r in ANSWER_READERS])
def test_hostile_answers_are_mapping_errors(name: str, read: Any, error: Any) -> None:
    @hostile(max_examples=80)
    @given(data=json_values)
    def check(data: Any) -> None:
        try:
            read(data)
        except error:
            pass

    check()
    for data in (deep(60), {"id": deep(60), "list": deep(60), "items": deep(60)}):
        try:
            read(data)
        except error:
            pass


def test_found_by_the_long_runs() -> None:
    """A WooCommerce line tax without an id, on an order whose tax line has no rate_id: the
    None key matched and the lookup by ["id"] raised KeyError."""
    order = copy.deepcopy(fixture("woocommerce", "order.json"))
    del order["tax_lines"][0]["rate_id"]
    order["tax_lines"][0]["rate_percent"] = "23"
    del order["line_items"][0]["taxes"][0]["id"]
    check_order(woo.parse_order(order))
