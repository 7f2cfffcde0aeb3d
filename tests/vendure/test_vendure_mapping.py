"""Vendure mapping and paging without a server: rows shaped like Vendure 3.7.3's answers, and
a fake Admin API (httpx.MockTransport) for what a real shop rarely shows on demand — a page of
rows that all share one timestamp, a shop that repeats a page."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from workers.domain import Product
from workers.ports import ShopConnection, ShopError
from workers.shops.vendure import mapping
from workers.shops.vendure.client import VendureClient, graphql_error_detail, server_url
from workers.shops.vendure.mapping import Channel, MappingError

CHANNEL = Channel(id="1", language="en", currency="PLN", prices_include_tax=True,
                  tax_zone_id="1", category_by_rate={Decimal("23"): "1", Decimal("8"): "2"},
                  default_category_id="1", stock_location_id="1")


def order_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "7", "code": "ABC123", "state": "PaymentSettled", "active": False,
        "createdAt": "2026-01-05T10:00:00.000Z", "updatedAt": "2026-01-05T10:00:03.000Z",
        "orderPlacedAt": "2026-01-05T10:00:02.512Z", "currencyCode": "PLN",
        "totalWithTax": 11498, "shippingWithTax": 1500,
        "customer": {"id": "3", "emailAddress": "jan@example.pl", "firstName": "Jan",
                     "lastName": "Kowalski", "phoneNumber": None},
        "shippingAddress": {"fullName": "Jan Kowalski", "company": None,
                            "streetLine1": "ul. Długa 5", "streetLine2": "m. 3",
                            "city": "Kraków", "postalCode": "30-001", "countryCode": "PL",
                            "phoneNumber": "+48 600 100 200"},
        "billingAddress": {"fullName": None, "company": None, "streetLine1": None,
                           "streetLine2": None, "city": None, "postalCode": None,
                           "countryCode": None, "phoneNumber": None},
        "lines": [{"id": "1", "quantity": 2, "orderPlacedQuantity": 2, "unitPriceWithTax": 4999,
                   "proratedUnitPriceWithTax": 4999, "taxRate": 23,
                   "productVariant": {"id": "1", "sku": "KUB-1", "name": "Kubek"}}],
        "shippingLines": [{"shippingMethod": {"code": "kurier", "name": "Kurier"}}],
        "payments": [{"id": "1", "method": "przelew", "amount": 11498, "state": "Settled",
                      "updatedAt": "2026-01-05T10:00:02.000Z", "refunds": []}],
        "fulfillments": [],
    }
    row.update(changes)
    return row


def test_an_order_maps_with_its_customer_lines_and_totals() -> None:
    order = mapping.parse_order(order_row())

    assert (order.external_id, order.external_number, order.status) == ("7", "ABC123",
                                                                       "PaymentSettled")
    assert (order.total_gross, order.shipping_gross, order.currency) == (
        Decimal("114.98"), Decimal("15.00"), "PLN")
    assert order.is_paid is True
    assert order.ordered_at == datetime(2026, 1, 5, 10, 0, 2, 512000, tzinfo=UTC)
    assert (order.payment_method, order.shipping_method) == ("przelew", "Kurier")
    [line] = order.lines
    assert (line.sku, line.quantity, line.unit_price_gross, line.vat_rate) == (
        "KUB-1", Decimal(2), Decimal("49.99"), Decimal("23.00"))
    # No billing address collected: the shipping address stands in; its phone too.
    customer = order.customer
    assert (customer.street, customer.city, customer.postcode, customer.phone) == (
        "ul. Długa 5 m. 3", "Kraków", "30-001", "+48 600 100 200")


def test_the_order_changed_when_a_payment_or_fulfilment_did() -> None:
    row = order_row(fulfillments=[{"id": "1", "state": "Shipped",
                                   "updatedAt": "2026-01-06T08:00:00.000Z"}])
    assert mapping.parse_order(row).modified_at == datetime(2026, 1, 6, 8, tzinfo=UTC)


@pytest.mark.parametrize(("payments", "paid"), [
    ([], False),
    ([{"amount": 11498, "state": "Authorized"}], False),
    ([{"amount": 11498, "state": "Settled", "refunds": [{"total": 11498, "state": "Settled"}]}],
     False),
    ([{"amount": 5000, "state": "Settled"}, {"amount": 6498, "state": "Settled"}], True),
])
def test_paid_means_settled_payments_cover_the_total(payments: list[Any], paid: bool) -> None:
    assert mapping.is_paid(order_row(payments=payments)) is paid


def test_a_cancelled_line_keeps_what_was_ordered() -> None:
    line = {**order_row()["lines"][0], "quantity": 0, "orderPlacedQuantity": 2}
    removed = {**line, "quantity": 0, "orderPlacedQuantity": 0}
    [kept] = mapping.parse_lines([line, removed])
    assert kept.quantity == 2


def test_what_the_erp_can_hold_is_never_refused() -> None:
    """Issue 11 item 1: a guest without e-mail (a shop whose order process lets an order be
    placed without a customer), a line whose variant has no name or SKU, an odd country code
    and an unreadable modification date all map; the engine decides what to make of them."""
    odd_address = {**order_row()["shippingAddress"], "countryCode": " xk ",
                   "fullName": "Anna Nowak"}
    order = mapping.parse_order(order_row(
        customer=None, shippingAddress=odd_address, updatedAt="garbage",
        payments=[{"id": "1", "method": "przelew", "amount": 11498, "state": "Settled",
                   "updatedAt": None, "refunds": []}],
        lines=[{**order_row()["lines"][0], "productVariant": {"id": "1", "sku": "", "name": ""}},
               {**order_row()["lines"][0], "productVariant": None}]))

    assert (order.customer.email, order.customer.first_name, order.customer.last_name) == (
        "", "Anna", "Nowak")
    assert order.customer.country_code == "xk"  # as given, stripped
    assert [(line.sku, line.name) for line in order.lines] == [("", ""), ("", "")]
    assert order.modified_at == order.ordered_at  # no readable change date: the order date


@pytest.mark.parametrize(("changes", "reason"), [
    ({"id": None}, "id"),
    ({"totalWithTax": "lots"}, "not a number"),
    ({"currencyCode": None}, "currency"),
    ({"orderPlacedAt": None, "createdAt": "yesterday"}, "not an ISO date"),
    ({"lines": [{"quantity": 1.5, "proratedUnitPriceWithTax": 100}]}, "whole number"),
])
def test_what_would_make_the_erp_row_wrong_is_refused(changes: dict[str, Any],
                                                      reason: str) -> None:
    with pytest.raises(MappingError, match=reason):
        mapping.parse_order(order_row(**changes))


def test_gross_prices_go_out_as_they_are_or_as_the_net_vendure_turns_back_into_them() -> None:
    product = Product(sku="A", name="A", price_gross=Decimal("49.99"), vat_rate=Decimal("23.00"))
    assert mapping.variant_input(product, CHANNEL, product_id="1")["price"] == 4999
    net_channel = Channel(id="1", language="en", currency="PLN", prices_include_tax=False,
                          tax_zone_id="1", category_by_rate=CHANNEL.category_by_rate,
                          default_category_id="1", stock_location_id="1")
    net = mapping.variant_input(product, net_channel, product_id="1")["price"]
    assert net == 4064 and round(net * Decimal("1.23")) == 4999


def test_the_erp_vat_rate_picks_the_tax_category_or_fails_the_item() -> None:
    reduced = Product(sku="B", name="B", price_gross=Decimal(10), vat_rate=Decimal("8.00"))
    unknown = Product(sku="C", name="C", price_gross=Decimal(10), vat_rate=Decimal("5.00"))
    unset = Product(sku="D", name="D", price_gross=Decimal(10))
    assert mapping.variant_input(reduced, CHANNEL, variant_id="9")["taxCategoryId"] == "2"
    assert mapping.variant_input(unset, CHANNEL, variant_id="9")["taxCategoryId"] == "1"
    with pytest.raises(MappingError, match=r"VAT 5.00%.*8%, 23%"):
        mapping.variant_input(unknown, CHANNEL, variant_id="9")


def test_variants_map_to_products_named_as_the_shop_shows_them() -> None:
    variant = {"id": "5", "sku": "KUB-1", "name": "Kubek (old)", "enabled": True,
               "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-02T00:00:00.000Z",
               "price": 4064, "priceWithTax": 4999, "taxRateApplied": {"value": 23},
               "product": {"id": "2", "name": "Kubek", "description": "Duży", "enabled": True,
                           "updatedAt": "2026-01-03T00:00:00.000Z",
                           "variantList": {"totalItems": 1}}}
    single = mapping.parse_variant(variant)
    assert (single.sku, single.name, single.price_gross, single.price_net) == (
        "KUB-1", "Kubek", Decimal("49.99"), Decimal("40.64"))
    assert single.shop_id == "5" and single.modified_at == datetime(2026, 1, 3, tzinfo=UTC)
    several = {**variant, "product": {**variant["product"], "variantList": {"totalItems": 3}}}
    assert mapping.parse_variant(several).name == "Kubek (old)"
    # No SKU, no name: passed on empty (the engine lists the product as needing attention).
    bare = mapping.parse_variant({**variant, "sku": " ", "name": "", "product": {
        **variant["product"], "name": None}})
    assert (bare.sku, bare.name, bare.shop_id) == ("", "", "5")
    with pytest.raises(MappingError, match="no usable id"):
        mapping.parse_variant({**variant, "id": None})


def test_texts_come_back_byte_for_byte_as_vendure_stored_them() -> None:
    """Vendure stores translations verbatim (no trimming, no HTML filter; see
    docs/fidelity/vendure.md), so what we read is what the ERP sent: nothing may be stripped
    or the import would rewrite the ERP's text."""
    name, text = "  Kubek „Żółty” & <b>  ", "  Linia 1\nLinia 2 & <b>x</b>\r\n\n "
    product = mapping.parse_variant({
        "id": "5", "sku": "K", "name": name, "price": 100, "priceWithTax": 123,
        "updatedAt": "2026-01-02T00:00:00.000Z",
        "product": {"id": "2", "name": name, "description": text,
                    "variantList": {"totalItems": 1}}})
    assert (product.name, product.description) == (name, text)
    empty = mapping.parse_variant({"id": "5", "sku": "K", "name": "N", "priceWithTax": 1,
                                   "product": {"description": ""}})
    assert empty.description is None and empty.modified_at is None


def test_stock_on_hand_adds_back_the_allocations_of_that_location() -> None:
    levels = [{"stockLocationId": "1", "stockOnHand": 12, "stockAllocated": 2},
              {"stockLocationId": "2", "stockOnHand": 5, "stockAllocated": 4}]
    assert mapping.stock_on_hand(10, levels, "1") == 12
    assert mapping.stock_on_hand(0, [], "1") == 0


def test_addresses_and_errors() -> None:
    assert server_url("http://127.0.0.1:3000") == "http://127.0.0.1:3000/"
    assert server_url("https://shop.pl/vendure/admin-api/") == "https://shop.pl/vendure/"
    with pytest.raises(ShopError):
        server_url("shop.pl")
    assert graphql_error_detail({"errors": [{"message": "No  way", "extensions": {
        "code": "FORBIDDEN"}}]}) == ("FORBIDDEN", "No way")
    assert mapping.iso_z(datetime(2026, 1, 2, 3, 4, 5, 678900, tzinfo=UTC)) == \
        "2026-01-02T03:04:05.678Z"
    with pytest.raises(MappingError):
        mapping.parse_time("2026-01-02T03:04:05")


# -- paging over a fake Admin API ------------------------------------------------------------------


class FakeAdminApi:
    """Serves `productVariants` from a list, honouring filter updatedAt after/before, sort by
    updatedAt (ties in a fixed but arbitrary order) and skip/take — like Vendure's list query."""

    def __init__(self, rows: list[dict[str, Any]], *, repeat_from: int | None = None) -> None:
        self.rows = rows
        self.repeat_from = repeat_from
        self.requests: list[Mapping[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if "IluoProducts" in body["query"]:  # the products stream: nothing renamed here
            return httpx.Response(200, json={"data": {"products": {"totalItems": 0,
                                                                   "items": []}}})
        options = body["variables"]["options"]
        self.requests.append(options)
        bounds = options.get("filter", {}).get("updatedAt", {})
        after = _time(bounds.get("after")) if "after" in bounds else None
        before = _time(bounds.get("before")) if "before" in bounds else None
        picked = [r for r in self.rows if (after is None or _time(r["updatedAt"]) > after)
                  and (before is None or _time(r["updatedAt"]) < before)]
        picked.sort(key=lambda r: r["updatedAt"])
        skip = options["skip"]
        if self.repeat_from is not None and skip >= self.repeat_from:
            skip = 0  # a broken shop that keeps answering the first page
        page = picked[skip:skip + options["take"]]
        return httpx.Response(200, json={"data": {"productVariants": {
            "totalItems": len(picked), "items": page}}})


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def variant(n: int, updated: datetime) -> dict[str, Any]:
    return {"id": str(n), "sku": f"S{n}", "name": f"V{n}", "enabled": True,
            "createdAt": "2026-01-01T00:00:00.000Z",
            "updatedAt": updated.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "price": 100,
            "priceWithTax": 123, "taxRateApplied": {"value": 23},
            "product": {"id": str(n), "name": f"P{n}", "description": "", "enabled": True,
                        "updatedAt": "2026-01-01T00:00:00.000Z",
                        "variantList": {"totalItems": 1}}}


def fake_client(api: FakeAdminApi) -> VendureClient:
    conn = ShopConnection(1, "vendure", "http://vendure.test", "key", None)
    client = VendureClient(conn, transport=httpx.MockTransport(api), sleep=lambda _s: None)
    client.page_size = 3
    return client


def test_a_page_sharing_one_second_is_paged_by_offset_and_nothing_is_lost() -> None:
    t0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
    rows = [variant(n, t0) for n in range(1, 8)] + [variant(n, t0 + timedelta(seconds=n))
                                                    for n in range(8, 12)]
    api = FakeAdminApi(rows)

    read = [p.shop_id for page in fake_client(api).iter_products(
        t0 - timedelta(minutes=1), t0 + timedelta(minutes=1)) for p in page.items]

    assert sorted(read, key=int) == [str(n) for n in range(1, 12)]
    assert len(read) == len(set(read))
    assert all(r["take"] == 3 and list(r["sort"]) == ["updatedAt"] for r in api.requests)


def test_a_shop_that_repeats_a_page_fails_the_run() -> None:
    t0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
    api = FakeAdminApi([variant(n, t0) for n in range(1, 8)], repeat_from=3)
    with pytest.raises(ShopError, match="repeats rows"):
        list(fake_client(api).iter_products(t0 - timedelta(minutes=1), t0))
