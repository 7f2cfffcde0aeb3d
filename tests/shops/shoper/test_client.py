"""ShoperClient over real HTTP against the Shoper sandbox (127.0.0.1), on one fake clock.

The sandbox runs the documented bucket (10 calls, 2/s) unless a test says otherwise; the
client's bucket and every sleep use the same fake clock, so waiting costs no real time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.shops.shoper.support import PASSWORD, FakeTime, connection
from workers.domain import Order, Page, Product, StatusChange, StockQuantity
from workers.ports import ShopError, ShopRetriableError
from workers.shops import connect
from workers.shops.sandbox import SandboxHandle, SandboxRequest
from workers.shops.shoper.auth import TokenCache
from workers.shops.shoper.client import ShoperClient, api_base_url
from workers.shops.shoper.sandbox import ShoperSandbox

ORDERS = "/webapi/rest/orders"
LINES = "/webapi/rest/order-products"
BULK = "/webapi/rest/bulk"

MakeClient = Callable[..., ShoperClient]


def read_all(pages: Iterator[Page[Order]]) -> list[Order]:
    orders: list[Order] = []
    for page in pages:
        assert not page.errors, page.errors
        orders.extend(page.items)
    return orders


def add_orders(shop: ShoperSandbox, count: int, start: datetime, step: timedelta,
               lines: int = 1) -> list[str]:
    if not shop.stock_by_code("KUB-1"):
        shop.add_product("KUB-1", "Kubek", "24.60", 10_000)
    return [shop.add_order([("KUB-1", 1 + k, "24.60") for k in range(lines)],
                           created=start + step * n, email=f"klient{n}@example.pl")["order_id"]
            for n in range(count)]


# -- basics -----------------------------------------------------------------------------------


def test_connect_builds_a_shoper_client_and_states_its_limitations(
    server: SandboxHandle,
) -> None:
    client = connect(connection(server))
    try:
        assert isinstance(client, ShoperClient)
        assert client.page_size == 50 and client.batch_size == 25
        assert all(text.endswith(".") and len(text) < 200 for text in client.limitations)
        assert any("neither date nor status" in text for text in client.limitations)
    finally:
        client.close()
    assert api_base_url("https://sklep.example.pl/") == "https://sklep.example.pl/webapi/rest/"
    assert api_base_url("https://sklep.example.pl/webapi/rest") == (
        "https://sklep.example.pl/webapi/rest/")


def test_a_wrong_password_is_a_plain_shop_error_without_the_secret(
    server: SandboxHandle, make_client: MakeClient
) -> None:
    client = make_client(server, password="zle-haslo-999")
    with pytest.raises(ShopError) as raised:
        list(client.iter_products(None, datetime.now(UTC)))
    assert not isinstance(raised.value, ShopRetriableError)
    assert "refused the WebAPI login" in str(raised.value)
    assert "zle-haslo-999" not in str(raised.value) and PASSWORD not in str(raised.value)


# -- orders: windows, paging, re-scan ---------------------------------------------------------


def test_orders_are_paged_by_50_with_their_lines_in_batched_calls(
    shop: ShoperSandbox, client: ShoperClient, fake_time: FakeTime
) -> None:
    start = fake_time.moment() - timedelta(days=1)
    ids = add_orders(shop, 120, start, timedelta(minutes=1), lines=2)
    orders = read_all(client.iter_orders(start, fake_time.moment()))
    assert sorted(o.external_id for o in orders) == sorted(ids)  # each order exactly once
    assert all(len(o.lines) == 2 and o.lines[0].sku == "KUB-1" for o in orders)
    assert [o.modified_at for o in orders] == sorted(o.modified_at for o in orders)
    # 240 lines: 50 orders' lines per query (100 rows = 2 pages) → 3 queries per 50 orders.
    assert shop.log.count("GET", LINES) == 2 + 2 + 1
    # Two keyset streams of 120 rows (3 pages each) plus the re-scan of open orders (3 pages).
    assert shop.log.count("GET", ORDERS) == 3 + 3 + 3
    assert shop.bucket.refused == 0


def test_windows_use_shop_local_time_and_include_status_changes_of_old_orders(
    shop: ShoperSandbox, make_client: MakeClient, server: SandboxHandle, fake_time: FakeTime
) -> None:
    now = fake_time.moment()  # 10:00 UTC = 12:00 in Warsaw
    old = shop.add_order([("X", 1, "10.00")], created=now - timedelta(days=40), email="o@x.pl")
    before = shop.add_order([("X", 1, "10.00")], created=now - timedelta(minutes=30),
                            email="b@x.pl")
    inside = shop.add_order([("X", 1, "10.00")], created=now - timedelta(minutes=5),
                            email="i@x.pl")
    shop.set_order_status(int(old["order_id"]), 7)  # shipped now: status_date moves
    since = now - timedelta(minutes=10)
    client = make_client(server, rescan=timedelta(0))
    got = {o.external_id: o for o in read_all(client.iter_orders(since, now))}
    assert set(got) == {old["order_id"], inside["order_id"]}
    assert before["order_id"] not in got
    assert got[inside["order_id"]].ordered_at == now - timedelta(minutes=5)
    assert got[old["order_id"]].ordered_at == now - timedelta(days=40)
    assert got[old["order_id"]].modified_at == now and got[old["order_id"]].status == "7"

    # The same shop read as if it were in New York: its naive times mean other instants.
    ny = make_client(server, zone="America/New_York", rescan=timedelta(0))
    assert read_all(ny.iter_orders(since, now)) == []


def test_an_order_whose_status_changes_during_the_read_skips_nobody(
    shop: ShoperSandbox, client: ShoperClient, fake_time: FakeTime
) -> None:
    old = fake_time.moment() - timedelta(days=30)
    ids = add_orders(shop, 130, old, timedelta(seconds=1))
    for order_id in ids:  # all changed in the window, one second apart
        fake_time.advance(1)
        shop.set_order_status(int(order_id), 2)
    since, until = fake_time.moment() - timedelta(hours=1), fake_time.moment()
    moved = {"done": False}

    def change_first_after_page_one(request: SandboxRequest) -> None:
        if request.path == ORDERS and "status_date" in request.query.get("filters", "") \
                and not moved["done"] and shop.log.count("GET", ORDERS) >= 2:
            moved["done"] = True
            fake_time.advance(1)
            shop.set_order_status(int(ids[0]), 7)  # leaves the window: rows shift forward

    shop.on_request.append(change_first_after_page_one)
    orders = read_all(client.iter_orders(since, until))
    assert moved["done"]
    assert set(ids) <= {o.external_id for o in orders}


def test_rescan_finds_a_payment_that_moved_no_date_on_open_orders_only(
    shop: ShoperSandbox, client: ShoperClient, fake_time: FakeTime
) -> None:
    now = fake_time.moment()
    open_order = shop.add_order([("X", 1, "10.00")], created=now - timedelta(days=3),
                                email="open@x.pl", status_id=1)
    closed = shop.add_order([("X", 1, "10.00")], created=now - timedelta(days=3),
                            email="closed@x.pl", status_id=7)
    ancient = shop.add_order([("X", 1, "10.00")], created=now - timedelta(days=30),
                             email="old@x.pl", status_id=1)
    fake_time.advance(3600)
    for order in (open_order, closed, ancient):
        shop.mark_paid(int(order["order_id"]))
    since, until = fake_time.moment() - timedelta(minutes=10), fake_time.moment()
    got = {o.external_id: o for o in read_all(client.iter_orders(since, until))}
    assert set(got) == {open_order["order_id"]}
    assert got[open_order["order_id"]].is_paid is True
    assert got[open_order["order_id"]].modified_at <= until  # never moves a cursor past until


def test_rescan_runs_only_in_windows_that_cross_a_half_hour_mark(
    shop: ShoperSandbox, client: ShoperClient, fake_time: FakeTime
) -> None:
    now = fake_time.moment()  # 10:00:00 UTC, a mark
    order = shop.add_order([("X", 1, "10.00")], created=now - timedelta(days=1), email="p@x.pl")
    shop.mark_paid(int(order["order_id"]))
    quiet = read_all(client.iter_orders(now + timedelta(minutes=5), now + timedelta(minutes=10)))
    assert quiet == [] and shop.log.count("GET", ORDERS) == 2  # one empty page per stream
    crossing = read_all(client.iter_orders(now + timedelta(minutes=25),
                                           now + timedelta(minutes=31)))
    assert [o.external_id for o in crossing] == [order["order_id"]]


def test_tokens_are_reused_by_the_next_client_of_the_same_shop(
    shop: ShoperSandbox, server: SandboxHandle, make_client: MakeClient
) -> None:
    cache = TokenCache()
    first = make_client(server, tokens=cache)
    first.find_products_by_sku(["A"])
    second = make_client(server, tokens=cache)
    second.find_products_by_sku(["A"])
    assert (first.logins, second.logins) == (1, 0)
    shop.expire_tokens()
    third = make_client(server, tokens=cache)
    third.find_products_by_sku(["A"])  # the cached token is refused: one new login, no error
    assert third.logins == 1 and shop.tokens_issued == 2


def test_an_order_in_both_streams_and_the_rescan_comes_once(
    shop: ShoperSandbox, client: ShoperClient, fake_time: FakeTime
) -> None:
    now = fake_time.moment()
    order = shop.add_order([("X", 1, "10.00")], created=now - timedelta(minutes=2),
                           email="x@x.pl")
    fake_time.advance(30)
    shop.set_order_status(int(order["order_id"]), 2)
    orders = read_all(client.iter_orders(now - timedelta(minutes=5), fake_time.moment()))
    assert [o.external_id for o in orders] == [order["order_id"]]


def test_order_fields_map_to_the_domain(
    shop: ShoperSandbox, client: ShoperClient, fake_time: FakeTime
) -> None:
    shop.add_product("HERB-1", "Herbata", "19.99", 10)
    now = fake_time.moment()
    order = shop.add_order([("HERB-1", 3, "19.99")], created=now - timedelta(minutes=1),
                           email="Firma@Example.PL", nip="5252556107", company="Firma sp. z o.o.",
                           shipping_cost="12.00", paid=True, discount_perc="10")
    [got] = read_all(client.iter_orders(now - timedelta(minutes=5), now))
    assert got.currency == "PLN" and got.is_paid and got.shipping_gross == Decimal("12.00")
    assert got.total_gross == Decimal(order["sum"]) == Decimal("65.97")
    assert got.customer.email == "firma@example.pl" and got.customer.tax_id == "5252556107"
    assert got.customer.company == "Firma sp. z o.o." and got.customer.country_code == "PL"
    line = got.lines[0]
    assert (line.sku, line.quantity, line.unit_price_gross, line.vat_rate) == (
        "HERB-1", Decimal(3), Decimal("17.99"), Decimal("23.00"))
    assert got.payment_method == "Przelew bankowy" and got.shipping_method == "Kurier DPD"


def test_a_malformed_order_is_an_item_error_and_the_rest_still_comes(
    shop: ShoperSandbox, client: ShoperClient, fake_time: FakeTime
) -> None:
    now = fake_time.moment()
    good = shop.add_order([("X", 1, "10.00")], created=now - timedelta(minutes=1), email="g@x.pl")
    bad = shop.add_order([("X", 1, "10.00")], created=now - timedelta(minutes=1), email="b@x.pl")
    shop.edit_order(int(bad["order_id"]), email="", currency_id="99")
    pages = list(client.iter_orders(now - timedelta(minutes=5), now))
    assert [o.external_id for p in pages for o in p.items] == [good["order_id"]]
    assert [e.key for p in pages for e in p.errors] == [bad["order_id"]]


# -- token ------------------------------------------------------------------------------------


def test_token_is_renewed_before_expiry_and_after_a_401_mid_run(
    shop: ShoperSandbox, client: ShoperClient, fake_time: FakeTime
) -> None:
    shop.token_lifetime = 62  # renewed when less than 60 s are left: every 2 s
    start = fake_time.moment() - timedelta(hours=1)
    add_orders(shop, 200, start, timedelta(seconds=10))
    expired = {"done": False}

    def revoke_once(request: SandboxRequest) -> None:
        if request.path == LINES and not expired["done"]:
            expired["done"] = True
            shop.expire_tokens()  # e.g. the password was changed in the panel meanwhile

    shop.on_request.append(revoke_once)
    orders = read_all(client.iter_orders(start, fake_time.moment()))
    assert len({o.external_id for o in orders}) == 200
    assert client.logins >= 3  # the first login, one after the 401, one or more by expiry
    assert shop.log.count("GET", status=401) == 1


# -- writes -----------------------------------------------------------------------------------


def test_stock_of_1000_products_goes_in_40_bulk_calls_without_overrunning_the_bucket(
    shop: ShoperSandbox, client: ShoperClient, fake_time: FakeTime
) -> None:
    for n in range(1000):
        shop.add_product(f"P-{n:04d}", f"Produkt {n}", "10.00", 0)
    quantities = [StockQuantity(sku=f"P-{n:04d}", quantity=n % 50, shop_id=f"{n + 1}:{n + 1}")
                  for n in range(1000)]
    results = [r for start in range(0, 1000, 25)
               for r in client.set_stock(quantities[start:start + 25])]
    assert all(r.ok for r in results) and len(results) == 1000
    assert shop.log.count("POST", BULK) == 40
    assert client.http.stats.throttled == 0 and shop.bucket.refused == 0
    assert shop.bucket.peak <= shop.bucket.limit
    # 41 calls (login + 40 bulks): 10 at once, then one per 0.5 s.
    assert fake_time.slept == pytest.approx((41 - 10) / 2, abs=0.6)
    assert shop.stocks[1000]["stock"] == str(999 % 50)


def test_a_bulk_charged_per_item_is_waited_out_too(
    shop: ShoperSandbox, client: ShoperClient, fake_time: FakeTime
) -> None:
    shop.bulk_cost = "item"
    for n in range(100):
        shop.add_product(f"P-{n:03d}", f"Produkt {n}", "10.00", 0)
    quantities = [StockQuantity(sku=f"P-{n:03d}", quantity=5, shop_id=f"{n + 1}:{n + 1}")
                  for n in range(100)]
    assert all(r.ok for r in client.set_stock(quantities))
    assert client.http.stats.throttled == 0 and shop.bucket.refused == 0
    # login 1 + 4 bulks of 25 units: each bulk is let in once the fill is down to 9, so the
    # last one waits for the first 76 units to drain to 9.
    assert fake_time.slept == pytest.approx((1 + 3 * 25 - 9) / 2, abs=0.6)


def test_status_writes_use_bulk_and_report_per_item(
    shop: ShoperSandbox, client: ShoperClient
) -> None:
    orders = [shop.add_order([("X", 1, "1.00")], email=f"s{n}@x.pl") for n in range(30)]
    changes = [StatusChange(order_id=n, external_id=o["order_id"], shop_status="7",
                            erp_status_id=4) for n, o in enumerate(orders)]
    changes[3] = StatusChange(3, orders[3]["order_id"], "999", 4)
    changes[4] = StatusChange(4, "not-an-id", "7", 4)
    results = client.set_order_statuses(changes)
    assert [r.ok for r in results].count(False) == 2
    assert "Nie znaleziono wartości '999'" in (results[3].error or "")
    assert "not an id" in (results[4].error or "")
    assert shop.log.count("POST", BULK) == 2  # 28 sendable items: 25 + 3
    assert shop.orders[1]["status_id"] == "7" and shop.orders[4]["status_id"] == "1"


def test_products_are_found_by_exact_code_created_and_updated(
    shop: ShoperSandbox, client: ShoperClient
) -> None:
    shop.add_product("KOSZ-1", "Koszulka", "50.00", 0, variants=[("KOSZ-1-M", "55.00", 4)])
    found = client.find_products_by_sku(["KOSZ-1", "KOSZ-1-M", "kosz-1", "NOPE"])
    assert found == {"KOSZ-1": ["1:1"], "KOSZ-1-M": ["1:2:v"]}

    created = client.create_products([
        Product(sku="NOWY-1", name="Nowy", price_gross=Decimal("12.30"), ean="5901234123457",
                vat_rate=Decimal("8"), weight_kg=Decimal("0.5")),
        Product(sku="KOSZ-1", name="Duplikat", price_gross=Decimal("1")),
    ])
    assert created[0].ok and created[0].shop_id == "2:3"
    assert not created[1].ok and "już istnieje" in (created[1].error or "")
    new = shop.products[2]
    assert new["tax_id"] == "2" and new["category_id"] == "1"
    assert shop.stocks[3]["weight"] == "0.500" and shop.stocks[3]["price"] == "12.30"

    updated = client.update_products([
        Product(sku="NOWY-1", name="Nowy 2", price_gross=Decimal("13.00"), shop_id="2:3",
                is_active=False),
        Product(sku="KOSZ-1-M", name="ignored", price_gross=Decimal("60.00"), shop_id="1:2:v"),
        Product(sku="X", name="X", price_gross=Decimal("1"), shop_id=None),
    ])
    assert [r.ok for r in updated] == [True, True, False]
    assert shop.products[2]["translations"]["pl_PL"] == {
        "lang_id": "1", "active": "0", "name": "Nowy 2", "description": ""}
    assert shop.stocks[2]["price"] == "60.00" and shop.products[1]["translations"]["pl_PL"][
        "name"] == "Koszulka"  # a variant update leaves the parent alone


def test_stock_for_a_bare_product_id_looks_up_its_base_row_once(
    shop: ShoperSandbox, client: ShoperClient
) -> None:
    for n in range(3):
        shop.add_product(f"B-{n}", f"B {n}", "1.00", 0)
    results = client.set_stock([StockQuantity("B-0", 4, shop_id="1"),
                                StockQuantity("B-1", 5, shop_id="2"),
                                StockQuantity("B-2", 6, shop_id="junk")])
    assert [r.ok for r in results] == [True, True, False]
    assert shop.stocks[1]["stock"] == "4" and shop.stocks[2]["stock"] == "5"
    assert shop.log.count("GET", "/webapi/rest/product-stocks") == 1
    assert not any(r.gone for r in results)  # junk is an item error, not a deletion


def test_a_product_deleted_in_the_shop_answers_gone(
    shop: ShoperSandbox, client: ShoperClient
) -> None:
    kept = shop.add_product("K-1", "Zostaje", "1.00", 0)
    shop.add_product("D-1", "Usunięty", "1.00", 0)
    shop.add_product("D-2", "Też", "1.00", 0)
    with shop.lock:  # DELETE products/2 and 3 in the admin: with their stock rows
        for product_id in (2, 3):
            del shop.products[product_id]
        for stock_id in [k for k, r in shop.stocks.items() if int(r["product_id"]) in (2, 3)]:
            del shop.stocks[stock_id]

    updated = client.update_products([
        Product(sku="K-1", name="Zostaje", price_gross=Decimal(2), shop_id="1:1"),
        Product(sku="D-1", name="Usunięty", price_gross=Decimal(2), shop_id="2:2")])
    stock = client.set_stock([StockQuantity("K-1", 3, shop_id="1:1"),
                              StockQuantity("D-1", 3, shop_id="2:2"),  # PUT answers 404
                              StockQuantity("D-2", 3, shop_id="3")])  # no base row to find

    assert [(r.ok, r.gone) for r in updated] == [(True, False), (False, True)]
    assert "HTTP 404" in (updated[1].error or "")
    assert [(r.ok, r.gone) for r in stock] == [(True, False), (False, True), (False, True)]
    assert str(kept["product_id"]) == "1" and shop.stocks[1]["stock"] == "3"


def test_product_import_by_edit_date_and_full_pass(
    shop: ShoperSandbox, client: ShoperClient, fake_time: FakeTime
) -> None:
    now = fake_time.moment()
    shop.add_product("OLD-1", "Stary", "5.00", edited=now - timedelta(days=3))
    for n in range(60):
        shop.add_product(f"NEW-{n:02d}", f"Nowy {n}", "7.50", weight="1.2")
    shop.products[1]["code"] = ""  # a product without a SKU in the shop
    shop.stocks[1]["code"] = ""
    window = list(client.iter_products(now - timedelta(hours=1), now + timedelta(seconds=1)))
    products = [p for page in window for p in page.items]
    assert len(products) == 60 and all(p.modified_at is not None for p in products)
    assert products[0].weight_kg == Decimal("1.200") and products[0].vat_rate == Decimal("23.00")
    full = list(client.iter_products(None, now))
    # A product without a SKU is passed on with sku "" (the engine lists it as needing
    # attention) instead of being an item error retried forever.
    assert sum(len(p.items) for p in full) == 61
    assert not [e for page in full for e in page.errors]
    assert [p.sku for page in full for p in page.items if p.shop_id == "1:1"] == [""]


# -- faults and the rate limit ----------------------------------------------------------------


def test_25_percent_faults_converge(
    shop: ShoperSandbox, client: ShoperClient, fake_time: FakeTime
) -> None:
    start = fake_time.moment() - timedelta(days=1)
    ids = add_orders(shop, 150, start, timedelta(minutes=1))
    shop.faults.configure({"error_rate": 0.20, "rate_limit_rate": 0.05, "retry_after": 2,
                           "seed": 11})
    shop.faults.fail_next(1, 429)  # at least one 429, whatever the draws
    for _ in range(5):  # a run that outlives the retries fails; the next run is the retry
        try:
            orders = read_all(client.iter_orders(start, fake_time.moment()))
            break
        except ShopRetriableError:
            continue
    else:
        pytest.fail("five runs against a 25 % faulty shop never completed")
    assert Counter(o.external_id for o in orders) == Counter(ids)
    assert 2.0 in fake_time.sleeps  # Retry-After honoured

    quantities = [StockQuantity("KUB-1", 3, shop_id="1:1")] * 60
    for _ in range(5):
        try:
            results = client.set_stock(quantities)
            break
        except ShopRetriableError:
            continue
    assert all(r.ok for r in results) and shop.stocks[1]["stock"] == "3"


def test_bucket_headers_from_another_client_are_respected(
    shop: ShoperSandbox, server: SandboxHandle, make_client: MakeClient, fake_time: FakeTime
) -> None:
    first, second = make_client(server), make_client(server)  # separate estimates
    shop.add_product("A", "A", "1.00")
    for _ in range(6):
        first.find_products_by_sku(["A"])
        second.find_products_by_sku(["A"])
    # Each client only learns of the other's calls from the headers; a collision is waited
    # out through Retry-After, never a failure.
    assert shop.bucket.peak <= shop.bucket.limit
    assert first.http.stats.retries + second.http.stats.retries == (
        first.http.stats.throttled + second.http.stats.throttled)
