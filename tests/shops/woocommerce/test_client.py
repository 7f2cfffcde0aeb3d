"""WooCommerceClient over real HTTP against the WooCommerce sandbox (127.0.0.1, OAuth 1.0a).

Uses the sandbox fixtures of tests/shops/conftest.py (`woo`, `woo_server`, `clock`); the sandbox
site runs in Europe/Warsaw unless a test builds its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from workers.domain import Order, Page, Product, StatusChange, StockQuantity
from workers.ports import ShopConnection, ShopError, ShopRetriableError
from workers.shops import connect
from workers.shops.sandbox import SandboxHandle, SandboxRequest
from workers.shops.woocommerce import sandbox as woo_sandbox_module
from workers.shops.woocommerce.client import WooCommerceClient, WooOAuth1, _auth_for
from workers.shops.woocommerce.sandbox import WooCommerceSandbox

#: The sandbox's settable clock from tests/shops/conftest.py (`.moment`, `.advance(**delta)`).
Clock = Any

ORDERS = "/wp-json/wc/v3/orders"
PRODUCTS = "/wp-json/wc/v3/products"


def connection(handle: SandboxHandle, *, key: str | None = None, secret: str | None = None,
               zone: str = "Europe/Warsaw") -> ShopConnection:
    woo = handle.sandbox
    assert isinstance(woo, WooCommerceSandbox)
    return ShopConnection(integration_id=1, platform="woocommerce", base_url=handle.base_url,
                          api_key=key or woo.consumer_key, api_secret=secret or woo.consumer_secret,
                          shop_timezone=zone)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(sleeps: list[float]) -> Iterator[Callable[..., WooCommerceClient]]:
    clients: list[WooCommerceClient] = []

    def make(handle: SandboxHandle, **options: str) -> WooCommerceClient:
        client = WooCommerceClient(connection(handle, **options), sleep=sleeps.append)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(woo_server: SandboxHandle,
           make_client: Callable[..., WooCommerceClient]) -> WooCommerceClient:
    return make_client(woo_server)


def add_orders(woo: WooCommerceSandbox, count: int, start: datetime, step: timedelta) -> list[int]:
    if not any(p["sku"] == "KUB-1" for p in woo.products.values()):
        woo.add_product(sku="KUB-1", name="Kubek", regular_price="24.60")
    ids = []
    for n in range(count):
        moment = start + step * n
        ids.append(woo.add_order([("KUB-1", 1 + n % 3, "24.60")], created=moment,
                                 email=f"klient{n}@example.pl")["id"])
    return ids


def read_all(pages: Iterator[Page[Order]]) -> list[Order]:
    orders: list[Order] = []
    for page in pages:
        assert page.errors == []
        orders.extend(page.items)
    return orders


# -- orders: paging -----------------------------------------------------------------------------


def test_250_orders_across_pages_each_read_once(
    woo: WooCommerceSandbox, woo_server: SandboxHandle, client: WooCommerceClient, clock: Clock
) -> None:
    start = clock.moment - timedelta(days=3)
    ids = add_orders(woo, 250, start, timedelta(minutes=1))

    orders = read_all(client.iter_orders(start, clock.moment))

    assert Counter(int(o.external_id) for o in orders) == Counter(ids)
    assert [o.modified_at for o in orders] == sorted(o.modified_at for o in orders)
    # Keyset pages overlap by one row: 250 orders cost ceil(249 / 99) + 1 reads at most.
    assert woo.log.count("GET", ORDERS) <= 4
    query = woo.log.entries()[0].query
    assert query["dates_are_gmt"] == "true" and query["orderby"] == "modified"
    assert query["per_page"] == "100" and query["order"] == "asc"
    assert query["modified_after"] == (start - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")


def test_window_bounds_are_inclusive_and_in_gmt(
    woo: WooCommerceSandbox, client: WooCommerceClient, clock: Clock
) -> None:
    since = clock.moment - timedelta(hours=5)
    until = clock.moment - timedelta(hours=1)
    second = timedelta(seconds=1)
    moments = [since - second, since, since + timedelta(hours=2), until, until + second]
    _before, at_since, inside, at_until, _after = [
        add_orders(woo, 1, moment, timedelta(0))[0] for moment in moments]

    got = {int(o.external_id) for o in read_all(client.iter_orders(since, until))}

    # Both ends are inclusive, to the second. The site is in Europe/Warsaw (UTC+2 in summer):
    # comparing local times would shift the window by two hours and take `before`, lose `until`.
    assert got == {at_since, inside, at_until}


@pytest.mark.parametrize("zone", ["America/Sao_Paulo", "Asia/Kolkata"])
def test_non_utc_site_timezone(zone: str, make_client: Callable[..., WooCommerceClient],
                               clock: Clock) -> None:
    woo = WooCommerceSandbox("ck_zone_test_key", "cs_zone_test_secret", site_timezone=zone)
    woo.now = clock
    start = clock.moment - timedelta(hours=12)
    ids = add_orders(woo, 120, start, timedelta(minutes=6))
    with woo.serve() as handle:
        client = make_client(handle, zone=zone)
        since = start + timedelta(hours=6)  # half of them
        orders = read_all(client.iter_orders(since, clock.moment))
    assert sorted(int(o.external_id) for o in orders) == ids[60:]
    assert all(o.modified_at.tzinfo is UTC or o.modified_at.utcoffset() == timedelta(0)
               for o in orders)


def test_order_edited_mid_run_is_not_lost_and_read_once(
    woo: WooCommerceSandbox, client: WooCommerceClient, clock: Clock
) -> None:
    start = clock.moment - timedelta(days=1)
    ids = add_orders(woo, 250, start, timedelta(minutes=1))
    pages = client.iter_orders(start, clock.moment + timedelta(hours=1))

    first = next(pages)
    assert len(first.items) == 100
    # Mid-run: an order already read and one not yet read are edited; both jump to the tail.
    # With offset paging every row behind the first one would shift and one would be skipped.
    clock.advance(minutes=1)
    read_before, unread = ids[10], ids[180]
    woo.update_order(read_before, status="completed")
    woo.update_order(unread, status="completed")
    rest = read_all(pages)

    seen = Counter(int(o.external_id) for o in first.items + rest)
    assert set(seen) == set(ids)
    assert seen[unread] == 1  # only its new version
    assert seen[read_before] == 2  # old version and the change: a change is a new item
    assert all(count == 1 for order_id, count in seen.items() if order_id != read_before)
    assert [o.status for o in rest if int(o.external_id) in (read_before, unread)] == [
        "completed", "completed"]


def test_ties_on_one_timestamp(woo: WooCommerceSandbox, client: WooCommerceClient,
                               clock: Clock) -> None:
    tied = clock.moment - timedelta(hours=2)
    ids = add_orders(woo, 230, tied, timedelta(0))
    ids += add_orders(woo, 120, tied + timedelta(seconds=5), timedelta(0))

    orders = read_all(client.iter_orders(tied, clock.moment))

    assert Counter(int(o.external_id) for o in orders) == Counter(ids)


@pytest.mark.parametrize("step", [23, 37, 40])
def test_dst_fall_back_hour_loses_nothing(
    woo: WooCommerceSandbox, client: WooCommerceClient, clock: Clock, step: int
) -> None:
    # Europe/Warsaw goes from 03:00 CEST back to 02:00 CET at 01:00 UTC on 27 Oct 2024; the
    # shop sorts by local time, so GMT order and page order disagree within that hour. With
    # bounds taken from the GMT time alone, steps 23 and 37 lose 146 and 72 of these orders.
    clock.moment = datetime(2024, 10, 27, 4, 0, tzinfo=UTC)
    start = datetime(2024, 10, 26, 23, 30, tzinfo=UTC)
    ids = add_orders(woo, 300, start, timedelta(seconds=step))

    orders = read_all(client.iter_orders(start, clock.moment))

    assert Counter(int(o.external_id) for o in orders) == Counter(ids)


def test_shop_repeating_the_last_page_fails_the_run(
    woo: WooCommerceSandbox, client: WooCommerceClient, clock: Clock
) -> None:
    start = clock.moment - timedelta(days=1)
    add_orders(woo, 200, start, timedelta(0))  # one timestamp: paging goes by page number

    # Imitate Magento-style breakage: whatever page is asked for, the first one comes back
    # (headers still promising more pages).
    original = woo._page

    def same_page(request: SandboxRequest, collection: str, records: list[Any],
                  args: dict[str, Any], api: str, link_base: str) -> Any:
        return original(request, collection, records, {**args, "page": 1}, api, link_base)

    woo._page = same_page  # type: ignore[method-assign]
    with pytest.raises(ShopError, match="page 2 repeats rows already read"):
        read_all(client.iter_orders(start, clock.moment))


def test_unparseable_orders_are_item_errors(
    woo: WooCommerceSandbox, client: WooCommerceClient, clock: Clock
) -> None:
    start = clock.moment - timedelta(hours=1)
    good, bad = add_orders(woo, 2, start, timedelta(minutes=1))
    woo.update_order(bad, bump_modified=False, total="12,50")

    pages = list(client.iter_orders(start, clock.moment))

    assert [o.external_id for p in pages for o in p.items] == [str(good)]
    errors = [e for p in pages for e in p.errors]
    assert len(errors) == 1 and errors[0].key == str(bad) and "total" in errors[0].message


def test_order_fields_from_the_sandbox(
    woo: WooCommerceSandbox, client: WooCommerceClient, clock: Clock
) -> None:
    start = clock.moment - timedelta(hours=1)
    woo.add_product(sku="KUB-1", name="Kubek", regular_price="24.60")
    woo.add_order([("KUB-1", 2, "24.60"), ("NIEZNANY", 1, "10.00")], created=start,
                  email=" Jan.Kowalski@Example.PL ", shipping_cost="14.99")

    (order,) = read_all(client.iter_orders(start, clock.moment))

    assert order.customer.email == "jan.kowalski@example.pl"
    assert order.currency == "PLN" and order.is_paid
    assert order.total_gross == Decimal("49.20") + Decimal("10.00") + Decimal("14.99")
    assert order.shipping_gross == Decimal("14.99")
    assert [
        (line.sku, line.quantity, line.unit_price_gross, line.vat_rate) for line in order.lines
    ] == [
        ("KUB-1", Decimal(2), Decimal("24.60"), Decimal("23.00")),
        # A product the shop no longer has: WooCommerce answers `sku` null (the SKU came from
        # the product); the line keeps its stored name and maps with sku "".
        ("", Decimal(1), Decimal("10.00"), Decimal("23.00")),
    ]
    assert order.lines[1].name == "NIEZNANY"


# -- faults and auth ----------------------------------------------------------------------------


def test_25_percent_faults_converge(
    woo: WooCommerceSandbox, client: WooCommerceClient, clock: Clock, sleeps: list[float]
) -> None:
    start = clock.moment - timedelta(days=1)
    ids = add_orders(woo, 250, start, timedelta(minutes=1))
    woo.faults.configure({"error_rate": 0.20, "rate_limit_rate": 0.05, "retry_after": 2,
                          "seed": 7})

    # A run that outlives the client's few retries fails as retriable; the scheduler's next run
    # is the real retry. Within a few runs the whole window must come through, once per run.
    for _ in range(5):
        try:
            orders = read_all(client.iter_orders(start, clock.moment))
            break
        except ShopRetriableError:
            continue
    else:
        pytest.fail("five runs against a 25 % faulty shop never completed")
    assert Counter(int(o.external_id) for o in orders) == Counter(ids)

    products = [Product(sku=f"F-{n}", name=f"F {n}", price_gross=Decimal("1.00"))
                for n in range(150)]
    results = client.create_products(products[:100]) + client.create_products(products[100:])
    assert all(r.ok for r in results), [r for r in results if not r.ok]

    faulted = sum(1 for e in woo.log.entries() if e.status >= 429)
    assert faulted > 0
    assert 2.0 in sleeps  # Retry-After of the 429s honoured
    assert client.http.stats.throttled > 0 and client.http.stats.retries >= faulted - 1


def test_wrong_secret_is_a_clear_shop_error(
    woo_server: SandboxHandle, make_client: Callable[..., WooCommerceClient], clock: Clock
) -> None:
    wrong = make_client(woo_server, secret="cs_wrong_secret_value")
    with pytest.raises(ShopError) as caught:
        list(wrong.iter_orders(clock.moment - timedelta(days=1), clock.moment))
    message = str(caught.value)
    assert not isinstance(caught.value, ShopRetriableError)
    assert "HTTP 401" in message and "woocommerce_rest_authentication_error" in message
    assert "cs_wrong_secret_value" not in message and "oauth_signature" not in message
    assert wrong.http.stats.calls == 1  # an auth error is not retried


def test_wrong_key_is_a_clear_shop_error(
    woo_server: SandboxHandle, make_client: Callable[..., WooCommerceClient], clock: Clock
) -> None:
    wrong = make_client(woo_server, key="ck_not_a_known_key_1234")
    with pytest.raises(ShopError, match="HTTP 401") as caught:
        wrong.find_products_by_sku(["A"])
    assert "ck_not_a_known_key_1234" not in str(caught.value)


def test_basic_auth_over_https_oauth_over_http() -> None:
    https = ShopConnection(1, "woocommerce", "https://sklep.pl", "ck_1", "cs_1")
    http = ShopConnection(1, "woocommerce", "http://127.0.0.1:8080", "ck_1", "cs_1")
    assert isinstance(_auth_for(https), httpx.BasicAuth)
    assert isinstance(_auth_for(http), WooOAuth1)
    with pytest.raises(ShopError, match="needs api_key"):
        _auth_for(ShopConnection(1, "woocommerce", "https://sklep.pl", "ck_1", None))


def test_https_shop_gets_basic_auth_and_no_oauth_query() -> None:
    seen: list[httpx.Request] = []

    def shop(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[], headers={"X-WP-TotalPages": "0"})

    conn = ShopConnection(1, "woocommerce", "https://sklep.example.pl/", "ck_abc", "cs_def")
    with WooCommerceClient(conn, transport=httpx.MockTransport(shop)) as client:
        assert client.find_products_by_sku(["A"]) == {}
    (request,) = seen
    assert request.url.path == "/wp-json/wc/v3/products"
    assert request.headers["Authorization"].startswith("Basic ")
    assert not any(name.startswith("oauth_") for name in request.url.params)


def test_connect_factory(woo_server: SandboxHandle) -> None:
    client = connect(connection(woo_server))
    try:
        assert isinstance(client, WooCommerceClient)
        assert client.http._client.base_url == woo_server.base_url + "/wp-json/wc/v3/"
    finally:
        client.close()
    with pytest.raises(ShopError, match="no connector for platform 'magento'"):
        connect(ShopConnection(1, "magento", "https://x.pl", "k", None))


# -- statuses -----------------------------------------------------------------------------------


def test_set_order_statuses_per_item(
    woo: WooCommerceSandbox, client: WooCommerceClient, clock: Clock
) -> None:
    first, second = add_orders(woo, 2, clock.moment - timedelta(hours=1), timedelta(minutes=1))
    changes = [
        StatusChange(order_id=1, external_id=str(first), shop_status="completed", erp_status_id=4),
        StatusChange(order_id=2, external_id="999999", shop_status="completed", erp_status_id=4),
        StatusChange(order_id=3, external_id=str(second), shop_status="on-hold", erp_status_id=2),
        StatusChange(order_id=4, external_id="not-an-id", shop_status="completed", erp_status_id=4),
    ]

    results = client.set_order_statuses(changes)

    assert [(r.key, r.ok) for r in results] == [
        (str(first), True), ("999999", False), (str(second), True), ("not-an-id", False)]
    assert "invalid_id" in (results[1].error or "")
    assert not any(r.gone for r in results)  # `gone` is about products only
    assert woo.orders[first]["status"] == "completed" and woo.orders[second]["status"] == "on-hold"
    assert woo.log.count("POST", ORDERS + "/batch") == 1


# -- products -----------------------------------------------------------------------------------


def product(sku: str, **fields: object) -> Product:
    values: dict[str, object] = {"name": f"Produkt {sku}", "price_gross": Decimal("12.30")}
    values.update(fields)
    return Product(sku=sku, **values)  # type: ignore[arg-type]


def test_create_update_and_duplicate_sku(woo: WooCommerceSandbox,
                                         client: WooCommerceClient) -> None:
    owner = woo.add_product(sku="DUP-1", name="Already there", status="draft")

    results = client.create_products([
        product("NEW-1", ean="5901234123457", weight_kg=Decimal("0.250"),
                description="<p>Opis</p>"),
        product("DUP-1"),
        product("NEW-2", is_active=False),
    ])

    assert [(r.key, r.ok) for r in results] == [("NEW-1", True), ("DUP-1", False), ("NEW-2", True)]
    assert results[1].shop_id == str(owner["id"])  # bind to it instead of duplicating
    assert "product_invalid_sku" in (results[1].error or "")
    created = woo.products[int(results[0].shop_id or 0)]
    assert (created["sku"], created["regular_price"], created["status"]) == ("NEW-1", "12.30",
                                                                             "publish")
    assert created["global_unique_id"] == "5901234123457" and created["weight"] == "0.25"
    assert woo.products[int(results[2].shop_id or 0)]["status"] == "draft"
    assert woo.log.count("POST", PRODUCTS + "/batch") == 1

    updates = client.update_products([
        product("NEW-1", shop_id=results[0].shop_id, price_gross=Decimal("15"), name="Nowa nazwa"),
        product("GHOST", shop_id="999999"),
        product("NO-ID"),
    ])
    assert [(r.key, r.ok) for r in updates] == [("NEW-1", True), ("GHOST", False),
                                                  ("NO-ID", False)]
    assert created["regular_price"] == "15.00" and created["name"] == "Nowa nazwa"
    assert updates[2].error and "not a WooCommerce id" in updates[2].error
    # GHOST: woocommerce_rest_product_invalid_id, the shop has no such product (any more).
    assert [r.gone for r in updates] == [False, True, False]
    assert not any(r.gone for r in results)  # a create's refusal never is


def test_413_splits_the_batch_in_half(
    woo: WooCommerceSandbox, client: WooCommerceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A shop whose woocommerce_rest_batch_items_limit filter allows only 60 items.
    monkeypatch.setattr(woo_sandbox_module, "BATCH_LIMIT", 60)

    results = client.create_products([product(f"S-{n}") for n in range(100)])

    assert len(results) == 100 and all(r.ok for r in results)
    assert len(woo.products) == 100
    assert woo.log.count("POST", PRODUCTS + "/batch", status=413) == 1
    assert woo.log.count("POST", PRODUCTS + "/batch", status=200) == 2
    assert client.batch_size == 50  # later batches start small

    monkeypatch.setattr(woo_sandbox_module, "BATCH_LIMIT", 20)
    with pytest.raises(ShopError, match="HTTP 413 woocommerce_rest_request_entity_too_large"):
        client.set_stock([StockQuantity(sku=f"S-{n}", quantity=1, shop_id=r.shop_id)
                          for n, r in enumerate(results[:50])])


def test_find_products_by_sku_exact_all_statuses(woo: WooCommerceSandbox,
                                                 client: WooCommerceClient) -> None:
    published = woo.add_product(sku="A-1", name="A")
    draft = woo.add_product(sku="B-1", name="B", status="draft")
    private = woo.add_product(sku="C-1", name="C", status="private")
    woo.add_product(sku="A-10", name="A10")
    many = [f"X-{n:04d}" for n in range(400)]  # long enough to need several requests

    found = client.find_products_by_sku(["A-1", "B-1", "C-1", "MISSING", *many])

    assert found == {"A-1": [str(published["id"])], "B-1": [str(draft["id"])],
                     "C-1": [str(private["id"])]}
    calls = [e for e in woo.log.entries() if e.path == PRODUCTS]
    assert len(calls) >= 2 and all(len(e.query["sku"]) <= 1500 for e in calls)
    assert all(e.query["status"] == "any" for e in calls)


def test_set_stock(woo: WooCommerceSandbox, client: WooCommerceClient) -> None:
    a = woo.add_product(sku="A", name="A")
    before = woo.products[a["id"]]["date_modified_gmt"]

    results = client.set_stock([StockQuantity(sku="A", quantity=7, shop_id=str(a["id"])),
                                StockQuantity(sku="B", quantity=-2, shop_id="5"),
                                StockQuantity(sku="C", quantity=1)])

    assert [(r.key, r.ok) for r in results] == [("A", True), ("B", False), ("C", False)]
    record = woo.products[a["id"]]
    assert (record["manage_stock"], record["stock_quantity"]) == (True, 7)
    assert record["date_modified_gmt"] == before  # as WooCommerce: stock writes keep the date
    assert woo.log.count("POST", PRODUCTS + "/batch") == 1


def test_iter_products_delta_and_full_pass(
    woo: WooCommerceSandbox, client: WooCommerceClient, clock: Clock
) -> None:
    old = clock.moment - timedelta(days=10)
    for n in range(130):
        woo.add_product(sku=f"P-{n}", name=f"P {n}", regular_price="9.99", created=old,
                        status="draft" if n % 10 == 0 else "publish")
    no_sku = woo.add_product(sku="", name="Bez SKU", created=old)
    changed = woo.add_product(sku="CH-1", name="Changed", created=old)
    clock.advance(minutes=5)
    woo.update_product(changed["id"], regular_price="11.00")

    full = list(client.iter_products(None, clock.moment))
    items = [p for page in full for p in page.items]
    errors = [e for page in full for e in page.errors]
    # A product without SKU is read (sku ""): the engine lists it as needing attention.
    assert len(items) == 132 and errors == []
    assert [p.shop_id for p in items if p.sku == ""] == [str(no_sku["id"])]
    assert sum(not p.is_active for p in items) == 13
    assert woo.log.entries()[0].query["orderby"] == "id"
    assert woo.log.entries()[0].query["context"] == "edit"

    delta = [p for page in client.iter_products(clock.moment - timedelta(minutes=1), clock.moment)
             for p in page.items]
    assert [(p.sku, p.price_gross) for p in delta] == [("CH-1", Decimal("11.00"))]
    assert delta[0].modified_at == clock.moment


# -- the net under the watermark: by id, and reconciliation ids --------------------------------


def test_fetch_orders_by_id_in_chunks_of_100(
    woo: WooCommerceSandbox, client: WooCommerceClient, clock: Clock
) -> None:
    ids = add_orders(woo, 250, clock.moment - timedelta(days=2), timedelta(minutes=1))
    bad = ids[7]
    woo.update_order(bad, bump_modified=False, total="12,50")
    wanted = [str(i) for i in ids] + ["999999", "not-an-id"]

    page = client.fetch_orders(wanted)

    assert sorted(int(o.external_id) for o in page.items) == sorted(set(ids) - {bad})
    assert [(e.key, "total" in e.message) for e in page.errors] == [(str(bad), True)]
    # 251 usable ids → ceil(251 / 100) = 3 calls; `include` does not lift per_page (default 10),
    # so each call asks for as many rows as it names.
    calls = woo.log.entries()
    assert len(calls) == 3 and all(c.path == ORDERS for c in calls)
    assert [len(c.query["include"].split(",")) for c in calls] == [100, 100, 51]
    assert [c.query["per_page"] for c in calls] == ["100", "100", "51"]
    assert client.fetch_orders([]).items == [] and len(woo.log.entries()) == 3


def test_fetch_products_by_id_reads_the_stored_text(
    woo: WooCommerceSandbox, client: WooCommerceClient
) -> None:
    made = [woo.add_product(sku=f"F-{n}", name=f"F {n}", description="a\nb")["id"]
            for n in range(150)]
    woo.add_product(sku="TRASHED", name="T", status="trash")

    page = client.fetch_products([str(i) for i in made])

    assert len(page.items) == 150 and page.errors == []
    # context=edit: the description as stored, not wpautop's "<p>a<br />\nb</p>".
    assert {p.description for p in page.items} == {"a\nb"}
    assert [c.query["context"] for c in woo.log.entries()] == ["edit", "edit"]


def test_iter_order_ids_lists_ids_created_in_the_window_only(
    woo: WooCommerceSandbox, client: WooCommerceClient, clock: Clock
) -> None:
    since = clock.moment - timedelta(days=14)
    before = add_orders(woo, 1, since - timedelta(seconds=1), timedelta(0))
    inside = add_orders(woo, 230, since, timedelta(minutes=30))
    # Created long ago, modified now: not in a creation window (after/before use post_date).
    woo.update_order(before[0], status="completed")

    pages = list(client.iter_order_ids(since, clock.moment))

    assert sorted(int(i) for page in pages for i in page) == sorted(inside)
    calls = woo.log.entries()[-3:]
    assert len(pages) == 3 and len(calls) == 3  # 230 ids → ceil(230 / 100) calls
    query = calls[0].query
    assert query["_fields"] == "id" and query["dates_are_gmt"] == "true"
    assert query["after"] == (since - timedelta(seconds=1)).astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%M:%S")


# -- text as WooCommerce stores it --------------------------------------------------------------

AWKWARD_TEXT = "Linia 1\nLinia 2 & <b>pogrubiona</b>\n\n5 < 7 > 3 „cytat” \"x\" 'y' C:\\dir &amp;"


def test_awkward_text_comes_back_exactly_and_survives_kses(
    woo: WooCommerceSandbox, client: WooCommerceClient
) -> None:
    """The shop stores names and descriptions through wp_filter_post_kses (which would eat
    "< 7 >" and the backslash); what we send is a form kses keeps, mapped back on read."""
    (created,) = client.create_products([product(
        "TXT-1", name="Kubek & spodek <mały> ½\"", description=AWKWARD_TEXT)])
    stored = woo.products[int(created.shop_id or 0)]
    assert "<b>pogrubiona</b>" in stored["description"]  # markup kses keeps stays markup
    assert "&lt; 7 &gt;" in stored["description"] and "&#92;" in stored["description"]

    (back,) = client.fetch_products([created.shop_id or ""]).items
    assert back.description == AWKWARD_TEXT and back.name == "Kubek & spodek <mały> ½\""


def test_sku_wc_clean_would_change_is_refused_before_sending(
    woo: WooCommerceSandbox, client: WooCommerceClient
) -> None:
    results = client.create_products([product("A  B"), product("A%20B"), product("OK-1")])
    assert [r.ok for r in results] == [False, False, True]
    assert "folds" in (results[0].error or "") and "%xx" in (results[1].error or "")
    assert woo.log.count("POST", PRODUCTS + "/batch") == 1 and len(woo.products) == 1


def test_a_variation_sku_binds_as_parent_and_variation_and_writes_through_its_parent(
    woo: WooCommerceSandbox, client: WooCommerceClient
) -> None:
    """`products?sku=` finds variations too; products/batch would answer 404 for them (which a
    deleted-product check could take for a product gone), so their writes go to
    `products/{parent}/variations/batch`."""
    parent = woo.add_product(name="Koszulka", sku="T", variations=[{"sku": "T-M"}, {"sku": "T-L"}])
    simple = woo.add_product(name="Kubek", sku="K-1")
    m_id, l_id = parent["variations"]

    found = client.find_products_by_sku(["T-M", "T-L", "K-1"])
    assert found == {"T-M": [f"{parent['id']}/{m_id}"], "T-L": [f"{parent['id']}/{l_id}"],
                     "K-1": [str(simple["id"])]}

    stock = client.set_stock([
        StockQuantity(sku="T-M", quantity=4, shop_id=found["T-M"][0]),
        StockQuantity(sku="K-1", quantity=2, shop_id=found["K-1"][0]),
        StockQuantity(sku="T-L", quantity=0, shop_id=found["T-L"][0]),
    ])
    assert [(r.key, r.ok, r.shop_id) for r in stock] == [
        ("T-M", True, found["T-M"][0]), ("K-1", True, found["K-1"][0]),
        ("T-L", True, found["T-L"][0])]
    assert (woo.variations[m_id]["stock_quantity"], woo.variations[l_id]["stock_quantity"],
            woo.products[simple["id"]]["stock_quantity"]) == (4, 0, 2)
    writes = [e.path for e in woo.log.entries() if e.method == "POST"]
    assert sorted(writes) == sorted([PRODUCTS + "/batch",
                                     f"{PRODUCTS}/{parent['id']}/variations/batch"])

    (updated,) = client.update_products([product("T-M", shop_id=found["T-M"][0],
                                                 price_gross=Decimal("59"), is_active=False)])
    assert updated.ok and updated.shop_id == found["T-M"][0]
    variation = woo.variations[m_id]
    assert (variation["regular_price"], variation["status"]) == ("59.00", "private")


def test_gtin_the_shop_would_strip_is_refused_and_a_duplicate_gtin_binds_nothing(
    woo: WooCommerceSandbox, client: WooCommerceClient
) -> None:
    """WC_Product::set_global_unique_id keeps digits, hyphens and a final X, and refuses a GTIN
    another product holds — with a `resource_id` that is *not* an owner to bind to."""
    holder = woo.add_product(sku="HOLD-1", name="H", global_unique_id="5901234123457")
    spaced, duplicate, fine = client.create_products([
        product("E-1", ean="590 1234 123457"),
        product("E-2", ean="5901234123457"),
        product("E-3", ean="978-83-01-X"),
    ])
    assert not spaced.ok and "strips" in (spaced.error or "")
    assert not duplicate.ok and duplicate.shop_id is None  # never bound to HOLD-1
    assert "product_invalid_global_unique_id" in (duplicate.error or "")
    assert fine.ok and woo.products[int(fine.shop_id or 0)]["global_unique_id"] == "978-83-01-X"
    assert holder["id"] not in {int(r.shop_id or 0) for r in (spaced, duplicate, fine)}


def test_a_taxed_fee_is_a_line_a_negative_fee_is_not(
    woo: WooCommerceSandbox, client: WooCommerceClient, clock: Clock
) -> None:
    """fee_lines go through get_order_item_data like products (name, total, total_tax, taxes;
    no sku). A COD fee is part of what the buyer pays: a line without SKU. A negative fee is a
    discount already inside `total`."""
    start = clock.moment - timedelta(hours=1)
    woo.add_product(sku="KUB-1", name="Kubek", regular_price="24.60")
    placed = woo.add_order([("KUB-1", 1, "24.60")], created=start, shipping_cost="14.99",
                           fees=[("Pobranie", "5.00"), ("Rabat stałego klienta", "-2.46")])
    assert placed["fee_lines"][0]["total_tax"] == "0.93" and "sku" not in placed["fee_lines"][0]

    (order,) = read_all(client.iter_orders(start, clock.moment))

    assert order.total_gross == Decimal("24.60") + Decimal("14.99") + Decimal("5.00") - Decimal(
        "2.46")
    assert [(line.sku, line.name, line.unit_price_gross, line.vat_rate)
            for line in order.lines[1:]] == [
        ("", "Pobranie", Decimal("5.00"), Decimal("23.00"))]


def test_a_variation_deleted_in_the_shop_is_gone(
    woo: WooCommerceSandbox, client: WooCommerceClient
) -> None:
    parent = woo.add_product(name="Koszulka", sku="T", variations=[{"sku": "T-M"}])
    (shop_id,) = client.find_products_by_sku(["T-M"])["T-M"]
    with woo.lock:  # deleted in the shop's admin, behind our back
        del woo.variations[parent["variations"][0]]
    (result,) = client.set_stock([StockQuantity(sku="T-M", quantity=1, shop_id=shop_id)])
    assert not result.ok and result.gone and result.shop_id == shop_id
