"""VendureClient against the real Vendure server: paging, SKU ambiguity, refused transitions,
authentication failures, the order re-scan and stock allocations."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.vendure.conftest import VendureShop
from tests.vendure.harness import (
    PASSWORD,
    SUPERADMIN,
    create_product,
    order_state,
    place_order,
    settle_payments,
    ship_order,
    shop_checkout,
    variant_stock,
)
from workers.domain import Product, StatusChange, StockQuantity
from workers.ports import ShopConnection, ShopError
from workers.shops import connect
from workers.shops.vendure import VendureClient

pytestmark = pytest.mark.slow


def client_for(shop: VendureShop, *, api_key: str | None = None,
               api_secret: str | None = None) -> VendureClient:
    conn = ShopConnection(integration_id=1, platform="vendure", base_url=shop.base_url,
                          api_key=shop.api_key if api_key is None else api_key,
                          api_secret=api_secret)
    client = connect(conn)
    assert isinstance(client, VendureClient)
    return client


@pytest.fixture
def client(vendure: VendureShop) -> Iterator[VendureClient]:
    with client_for(vendure) as c:
        yield c


def unique(prefix: str = "T") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}"


def now() -> datetime:
    return datetime.now(UTC)


def test_pages_through_everything_with_a_small_take(vendure: VendureShop,
                                                    client: VendureClient) -> None:
    tag = unique("PG")
    skus = [f"{tag}-{n}" for n in range(7)]
    for sku in skus:
        create_product(vendure.api, f"Stronicowanie {sku}", [{"sku": sku, "price": 1000}])
    client.page_size = 3
    calls = client.http.stats.calls

    pages = list(client.iter_products(now() - timedelta(minutes=5), now()))

    read = [p.sku for page in pages for p in page.items if p.sku.startswith(tag)]
    assert sorted(read) == sorted(skus)  # every one, each once
    all_ids = [p.shop_id for page in pages for p in page.items]
    assert len(all_ids) == len(set(all_ids))
    assert client.http.stats.calls - calls >= 3
    assert all(len(page.items) <= 3 for page in pages)


def test_a_take_above_the_shops_limit_shrinks_to_that_limit(client: VendureClient) -> None:
    client.page_size = 1001  # Vendure answers USER_INPUT_ERROR "Cannot take more than 1000"
    list(client.iter_orders(now() - timedelta(days=1), now()))
    assert client.page_size == 1000


def test_a_sku_carried_by_two_variants_gives_both(vendure: VendureShop,
                                                   client: VendureClient) -> None:
    sku = unique("DUP")
    first, [v1] = create_product(vendure.api, "Kubek A", [{"sku": sku, "price": 1000}])
    second, [v2] = create_product(vendure.api, "Kubek B", [{"sku": sku, "price": 2000}])
    try:
        found = client.find_products_by_sku([sku, unique("NONE")])
        assert found == {sku: [v1, v2]}
    finally:  # other tests import the whole catalogue; leave no ambiguous SKU behind
        vendure.api("mutation($ids:[ID!]!){deleteProducts(ids:$ids){result}}",
                    {"ids": [first, second]})


def test_a_refused_state_transition_is_an_item_error(vendure: VendureShop,
                                                     client: VendureClient) -> None:
    sku = unique("ST")
    _, [variant] = create_product(vendure.api, "Stan", [{"sku": sku, "price": 1500}])
    settled = place_order(vendure.api, vendure.setup, [(variant, 1)], email="st@example.pl")
    cancelled = place_order(vendure.api, vendure.setup, [(variant, 1)], email="st@example.pl")
    vendure.api("mutation($i:CancelOrderInput!){cancelOrder(input:$i){__typename}}",
                {"i": {"orderId": cancelled.id}})

    results = client.set_order_statuses([
        StatusChange(1, settled.id, "AddingItems", 1),
        StatusChange(2, cancelled.id, "Shipped", 4),
        StatusChange(3, "999999", "Shipped", 4),
        StatusChange(4, settled.id, "Delivered", 5),
    ])

    assert [r.ok for r in results] == [False, False, False, True]
    assert "ORDER_STATE_TRANSITION_ERROR" in results[0].error
    assert 'from "PaymentSettled" to "AddingItems"' in results[0].error
    assert "Cancelled" in results[1].error
    assert "does not exist" in results[2].error
    assert order_state(vendure.api, settled.id)["state"] == "Delivered"


def test_an_api_key_the_server_ignores_is_a_clear_error(
        vendure_without_api_keys: VendureShop) -> None:
    with client_for(vendure_without_api_keys) as client, \
            pytest.raises(ShopError) as failure:
        list(client.iter_orders(now() - timedelta(days=1), now()))
    message = str(failure.value)
    assert "did not accept the API key" in message
    assert "tokenMethod includes 'api-key'" in message
    assert vendure_without_api_keys.api_key not in message


def test_a_wrong_api_key_is_a_clear_error(vendure: VendureShop) -> None:
    wrong = "0123456789abcdef01234567:" + "f" * 64
    with client_for(vendure, api_key=wrong) as client, pytest.raises(ShopError) as failure:
        client.find_products_by_sku(["X"])
    assert "rejected the API key" in str(failure.value)
    assert wrong not in str(failure.value)


def test_a_missing_permission_names_what_the_key_needs(vendure: VendureShop) -> None:
    role = vendure.api("mutation($i:CreateRoleInput!){createRole(input:$i){id}}", {"i": {
        "code": unique("orders-only-").lower(), "description": "orders only",
        "permissions": ["ReadOrder"], "channelIds": [vendure.setup.channel_id]}})["createRole"]
    key = vendure.api("mutation($i:CreateApiKeyInput!){createApiKey(input:$i){apiKey}}", {"i": {
        "roleIds": [role["id"]], "translations": [{"languageCode": "en", "name": "ro"}]}},
    )["createApiKey"]["apiKey"]
    with client_for(vendure, api_key=key) as client, pytest.raises(ShopError) as failure:
        client.set_stock([StockQuantity("X", 1, shop_id="1")])
    assert "lacks a permission" in str(failure.value)
    assert "ReadStockLocation" in str(failure.value)


def test_login_with_a_password_and_renewal_of_a_dead_session(vendure: VendureShop) -> None:
    sku = unique("LG")
    _, [variant] = create_product(vendure.api, "Login", [{"sku": sku, "price": 100}])
    with client_for(vendure, api_key=SUPERADMIN, api_secret=PASSWORD) as client:
        assert client.find_products_by_sku([sku]) == {sku: [variant]}
        client._token = "0" * 64  # the session expired or was revoked meanwhile
        assert client.find_products_by_sku([sku]) == {sku: [variant]}
        assert client._token != "0" * 64

    with client_for(vendure, api_key=SUPERADMIN, api_secret="wrong") as client, \
            pytest.raises(ShopError, match="INVALID_CREDENTIALS_ERROR"):
        client.find_products_by_sku([sku])


def test_a_graphql_error_fails_the_call_with_its_code(client: VendureClient) -> None:
    with pytest.raises(ShopError, match="GRAPHQL_VALIDATION_FAILED"):
        client._query("query IluoBroken { noSuchField }")


def test_orders_paid_later_come_through_the_rescan_and_carts_never(
        vendure: VendureShop, client: VendureClient) -> None:
    sku = unique("RS")
    _, [variant] = create_product(vendure.api, "Rescan", [{"sku": sku, "price": 2500}])
    order = shop_checkout(vendure.base_url, [(variant, 1)], email="rescan@example.pl")
    cart = shop_checkout(vendure.base_url, [(variant, 1)], email="cart@example.pl",
                         checkout=False)
    draft = vendure.api("mutation{createDraftOrder{id}}")["createDraftOrder"]["id"]
    before = order_state(vendure.api, order["id"])
    time.sleep(1.1)  # so a bumped updatedAt would show even at sql.js's one-second precision
    settle_payments(vendure.api, order["id"])
    after = order_state(vendure.api, order["id"])
    assert (before["state"], after["state"]) == ("PaymentAuthorized", "PaymentSettled")
    assert after["updatedAt"] == before["updatedAt"]  # Vendure does not bump it

    # A window that starts after the order's updatedAt: only the re-scan can see the payment.
    since = datetime.fromisoformat(after["updatedAt"].replace("Z", "+00:00")) + timedelta(seconds=2)
    orders = {o.external_id: o for page in client.iter_orders(since, now() + timedelta(seconds=1))
              for o in page.items}

    assert orders[order["id"]].is_paid is True
    assert orders[order["id"]].status == "PaymentSettled"
    assert orders[order["id"]].lines[0].sku == sku
    assert cart["id"] not in orders and draft not in orders



def test_an_order_delivered_in_the_shop_between_two_imports_comes_through(
        vendure: VendureShop, client: VendureClient) -> None:
    """Shipping and delivering through fulfilments leaves the order's updatedAt alone, and a
    Delivered order is no longer open: only the fulfilment's own updatedAt shows the change."""
    sku = unique("DL")
    _, [variant] = create_product(vendure.api, "Dostawa", [{"sku": sku, "price": 700}])
    order = place_order(vendure.api, vendure.setup, [(variant, 1)], email="dl@example.pl")
    before = order_state(vendure.api, order.id)
    time.sleep(1.1)  # so a bumped updatedAt would show even at sql.js's one-second precision
    since = now()
    ship_order(vendure.api, order.id, deliver=True)
    after = order_state(vendure.api, order.id)
    assert (after["state"], after["updatedAt"]) == ("Delivered", before["updatedAt"])

    orders = {o.external_id: o for page in client.iter_orders(since, now() + timedelta(seconds=1))
              for o in page.items}

    assert orders[order.id].status == "Delivered"
    assert orders[order.id].modified_at >= since - timedelta(seconds=1)



def test_an_order_cancelled_in_the_shop_moves_its_updated_at_and_comes_through_the_delta(
        vendure: VendureShop, client: VendureClient) -> None:
    """Cancelled is outside the open-order re-scan, so it must show by date: `cancelOrder`
    rewrites the lines (their quantities drop to 0), which moves the order's updatedAt; a bare
    transition to Cancelled is refused while lines are not cancelled."""
    sku = unique("CN")
    _, [variant] = create_product(vendure.api, "Anulowanie", [{"sku": sku, "price": 800}])
    order = place_order(vendure.api, vendure.setup, [(variant, 2)], email="cn@example.pl")
    refused = vendure.api.raw('mutation($id:ID!){transitionOrderToState(id:$id,state:"Cancelled")'
                              '{__typename}}', {"id": order.id}).json()
    assert refused["data"]["transitionOrderToState"]["__typename"] == "OrderStateTransitionError"
    time.sleep(1.1)
    since = now()
    vendure.api("mutation($i:CancelOrderInput!){cancelOrder(input:$i){__typename}}",
                {"i": {"orderId": order.id}})
    client.rescan_window = timedelta(0)  # the delta alone must carry it

    orders = {o.external_id: o for page in client.iter_orders(since, now() + timedelta(seconds=1))
              for o in page.items}

    assert orders[order.id].status == "Cancelled"
    assert orders[order.id].lines[0].quantity == 2  # what was ordered, not the 0 left


def test_on_a_channel_with_net_prices_the_gross_price_is_what_vendure_rounds_back(
        vendure: VendureShop) -> None:
    """pricesIncludeTax off: Vendure keeps the integer net price and shows
    round(net × (1 + rate)). Most gross prices come back exactly; some cannot be reached by
    any integer net price (0.99 at 23 %: 80 → 0.98, 81 → 1.00) — a stated limitation."""
    channel = vendure.setup.channel_id
    set_net = "mutation($i:UpdateChannelInput!){updateChannel(input:$i){__typename}}"
    vendure.api(set_net, {"i": {"id": channel, "pricesIncludeTax": False}})
    try:
        with client_for(vendure) as net_client:
            tag = unique("NET")
            prices = [Decimal("1234.56"), Decimal("54.00"), Decimal("0.99")]
            made = net_client.create_products([
                Product(sku=f"{tag}-{n}", name=f"Netto {n}", price_gross=price,
                        vat_rate=Decimal(23)) for n, price in enumerate(prices)])
            assert all(r.ok for r in made), made
            page = net_client.fetch_products([r.shop_id for r in made if r.shop_id])
    finally:
        vendure.api(set_net, {"i": {"id": channel, "pricesIncludeTax": True}})
    read = {p.sku: p.price_gross for p in page.items}
    assert read == {f"{tag}-0": Decimal("1234.56"), f"{tag}-1": Decimal("54.00"),
                    f"{tag}-2": Decimal("0.98")}


def test_stock_written_is_what_vendure_may_sell_after_its_allocations(
        vendure: VendureShop, client: VendureClient) -> None:
    sku = unique("SK")
    _, [variant] = create_product(vendure.api, "Stan magazynu", [{"sku": sku, "price": 990,
                                                                  "stockOnHand": 0}])
    [result] = client.set_stock([StockQuantity(sku, 10, shop_id=variant)])
    assert result.ok
    assert variant_stock(vendure.api, variant) == {"on_hand": 10, "allocated": 0, "saleable": 10}

    place_order(vendure.api, vendure.setup, [(variant, 3)], email="alloc@example.pl")
    assert variant_stock(vendure.api, variant)["saleable"] == 7

    [result] = client.set_stock([StockQuantity(sku, 10, shop_id=variant)])
    assert result.ok
    assert variant_stock(vendure.api, variant) == {"on_hand": 13, "allocated": 3, "saleable": 10}

    [missing] = client.set_stock([StockQuantity("GONE", 1, shop_id="999999")])
    assert not missing.ok and "not in the shop" in missing.error


def test_create_and_update_report_each_item(vendure: VendureShop, client: VendureClient) -> None:
    good, bad = unique("CR"), unique("CR")
    created = client.create_products([
        Product(sku=good, name="Dobry", price_gross=Decimal("19.99"), vat_rate=Decimal("8")),
        Product(sku=bad, name="Zły VAT", price_gross=Decimal("9.99"), vat_rate=Decimal("7")),
    ])
    assert [r.ok for r in created] == [True, False]
    assert "VAT 7" in created[1].error
    assert client.find_products_by_sku([good, bad]) == {good: [created[0].shop_id]}

    updated = client.update_products([
        Product(sku=good, name="Dobry 2", price_gross=Decimal("21.00"), vat_rate=Decimal("8"),
                shop_id=created[0].shop_id, is_active=False),
        Product(sku="GONE", name="x", price_gross=Decimal(1), shop_id="999999"),
    ])
    assert [r.ok for r in updated] == [True, False]
    variant = vendure.api("query($id:ID!){productVariant(id:$id){name priceWithTax enabled "
                          "taxCategory{id} product{name enabled}}}",
                          {"id": created[0].shop_id})["productVariant"]
    assert variant == {"name": "Dobry 2", "priceWithTax": 2100, "enabled": False,
                       "taxCategory": {"id": vendure.setup.reduced_tax_category_id},
                       "product": {"name": "Dobry 2", "enabled": False}}


# -- the net under the watermark: reads by id and the reconciliation's id list --------------------


def test_orders_fetched_by_id_come_in_one_call_per_list_limit_and_carts_are_absent(
        vendure: VendureShop, client: VendureClient) -> None:
    sku = unique("FO")
    _, [variant] = create_product(vendure.api, "Po id", [{"sku": sku, "price": 1200}])
    placed = [place_order(vendure.api, vendure.setup, [(variant, 1)],
                          email=f"fo{n}@example.pl").id for n in range(5)]
    cart = shop_checkout(vendure.base_url, [(variant, 1)], email="fo-cart@example.pl",
                         checkout=False)["id"]
    draft = vendure.api("mutation{createDraftOrder{id}}")["createDraftOrder"]["id"]
    wanted = [*placed, cart, draft, "999999", "not-an-id"]

    calls = client.http.stats.calls
    page = client.fetch_orders(wanted)
    assert client.http.stats.calls - calls == 1  # 9 ids ≤ adminListQueryLimit (1000)
    assert sorted(o.external_id for o in page.items) == sorted(placed)  # no cart, no draft
    assert page.errors == []
    assert all(o.lines[0].sku == sku for o in page.items)

    client.list_limit = 2
    calls = client.http.stats.calls
    again = client.fetch_orders(wanted)
    assert client.http.stats.calls - calls == 5  # ceil(9 / 2)
    assert sorted(o.external_id for o in again.items) == sorted(placed)


def test_a_by_id_read_above_the_shops_limit_is_chunked_to_the_limit_it_names(
        vendure: VendureShop, client: VendureClient) -> None:
    sku = unique("FL")
    variants = [create_product(vendure.api, f"Limit {n}", [{"sku": f"{sku}-{n}", "price": 100}])
                [1][0] for n in range(2)]
    client.list_limit = 1001  # Vendure answers USER_INPUT_ERROR "Cannot take more than 1000"
    filler = [str(n) for n in range(10**6, 10**6 + 1000)]  # ids nobody has: 1002 in all
    page = client.fetch_products([*variants, *filler])
    assert client.list_limit == 1000
    assert sorted(p.shop_id for p in page.items) == sorted(variants)


def test_products_fetched_by_id_are_variants_with_their_product(
        vendure: VendureShop, client: VendureClient) -> None:
    sku = unique("FP")
    variants = [create_product(vendure.api, name, [{"sku": f"{sku}-{n}", "price": price}])[1][0]
                for n, (name, price) in enumerate((("Pobrany po id", 1999), ("Drugi", 2999)))]
    calls = client.http.stats.calls
    page = client.fetch_products([*variants, "999999"])
    assert client.http.stats.calls - calls == 1
    got = {p.shop_id: p for p in page.items}
    assert set(got) == set(variants)
    assert (got[variants[0]].sku, got[variants[0]].price_gross) == (f"{sku}-0", Decimal("19.99"))
    assert (got[variants[1]].name, got[variants[1]].price_gross) == ("Drugi", Decimal("29.99"))
    assert got[variants[0]].description == "Pobrany po id (seeded)"


def test_reconciliation_lists_orders_placed_in_the_window_not_carts_nor_their_creation(
        vendure: VendureShop, client: VendureClient) -> None:
    """`createdAt` of a Vendure order is when its cart was made; the order exists from
    `orderPlacedAt`. A cart made before the window and placed inside it belongs to the window;
    a cart made inside it and never placed does not."""
    sku = unique("RC")
    _, [variant] = create_product(vendure.api, "Uzgadnianie", [{"sku": sku, "price": 500}])
    old_cart = vendure.api("mutation{createDraftOrder{id code}}")["createDraftOrder"]
    time.sleep(1.1)  # sql.js keeps createdAt to the second
    since = now()
    placed = [place_order(vendure.api, vendure.setup, [(variant, 1)],
                          email=f"rc{n}@example.pl").id for n in range(4)]
    late = place_order(vendure.api, vendure.setup, [(variant, 1)], email="rc-late@example.pl",
                       draft=old_cart).id
    shop_checkout(vendure.base_url, [(variant, 1)], email="rc-cart@example.pl", checkout=False)
    vendure.api("mutation{createDraftOrder{id}}")
    until = now() + timedelta(seconds=1)
    before_window = order_state(vendure.api, late)
    assert before_window["orderPlacedAt"] >= mapping_iso(since)

    client.list_limit = 2
    calls = client.http.stats.calls
    pages = list(client.iter_order_ids(since, until))
    ids = [i for page in pages for i in page]
    assert sorted(ids, key=int) == sorted([*placed, late], key=int)
    assert client.http.stats.calls - calls == 3  # ceil(5 / 2): the short last page ends it
    assert list(client.iter_order_ids(until + timedelta(seconds=1),
                                      until + timedelta(minutes=1))) == []


def mapping_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
