"""PrestaShopClient over real HTTP against the PrestaShop sandbox (127.0.0.1).

Fixtures from ./conftest.py (`ps`, `ps_server`, `client`, `make_client`, `sleeps`) and
tests/shops/conftest.py (`clock`, 2024-06-01 10:00 UTC); the shop runs in Europe/Warsaw unless a
test builds its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.shops.prestashop.conftest import connection
from workers.domain import Order, Page, Product, StatusChange, StockQuantity
from workers.ports import ShopConnection, ShopError, ShopRetriableError
from workers.shops import connect
from workers.shops.prestashop.client import PrestaShopClient, api_base_url
from workers.shops.prestashop.sandbox import DEFAULT_KEY, PrestaShopSandbox
from workers.shops.sandbox import SandboxHandle, SandboxRequest

Clock = Any
ORDERS = "/api/orders"
PRODUCTS = "/api/products"


def add_orders(ps: PrestaShopSandbox, count: int, start: datetime, step: timedelta,
               state: int = 2) -> list[int]:
    if not ps.products_by_reference("KUB-1"):
        ps.add_product("KUB-1", "Kubek", price_gross="24.60")
    return [ps.add_order([("KUB-1", 1 + n % 3, "24.60")], email=f"klient{n % 7}@example.pl",
                         created=start + step * n, state=state)["id"] for n in range(count)]


def read_all(pages: Iterator[Page[Order]]) -> list[Order]:
    orders: list[Order] = []
    for page in pages:
        assert page.errors == [], page.errors
        orders.extend(page.items)
    return orders


def product(sku: str, **fields: Any) -> Product:
    values: dict[str, Any] = {"name": f"Produkt {sku}", "price_gross": Decimal("12.30"),
                              "vat_rate": Decimal("23")}
    values.update(fields)
    return Product(sku=sku, **values)


# -- orders: paging ---------------------------------------------------------------------------


def test_250_orders_across_pages_each_read_once(ps: PrestaShopSandbox, client: PrestaShopClient,
                                                clock: Clock) -> None:
    start = clock.moment - timedelta(days=3)
    ids = add_orders(ps, 250, start, timedelta(minutes=1))

    orders = read_all(client.iter_orders(start, clock.moment))

    assert Counter(int(o.external_id) for o in orders) == Counter(ids)
    assert [o.modified_at for o in orders] == sorted(o.modified_at for o in orders)
    # Keyset pages overlap by one row: 250 orders in 3 reads.
    assert ps.log.count("GET", ORDERS) == 3
    query = ps.log.entries()[0].query
    assert (query["date"], query["display"], query["output_format"]) == ("1", "full", "JSON")
    assert query["sort"] == "[date_upd_ASC,id_ASC]" and query["limit"] == "0,100"
    # The window in the shop's wall-clock time (CEST, UTC+2 in May/June).
    assert query["filter[date_upd]"] == "[2024-05-29 12:00:00,2024-06-01 12:00:00]"
    # What the pages refer to: one customers and one addresses call per page; states,
    # currencies, carriers and countries once.
    for resource, calls in (("customers", 3), ("addresses", 3), ("order_states", 1),
                            ("currencies", 1), ("carriers", 1), ("countries", 1)):
        assert ps.log.count("GET", f"/api/{resource}") == calls, resource


def test_window_bounds_are_inclusive_in_shop_time(ps: PrestaShopSandbox,
                                                  client: PrestaShopClient, clock: Clock) -> None:
    since = clock.moment - timedelta(hours=5)
    until = clock.moment - timedelta(hours=1)
    second = timedelta(seconds=1)
    moments = [since - second, since, since + timedelta(hours=2), until, until + second]
    _before, at_since, inside, at_until, _after = [add_orders(ps, 1, m, timedelta(0))[0]
                                                 for m in moments]

    got = {int(o.external_id) for o in read_all(client.iter_orders(since, until))}

    # Reading the bounds as UTC would shift the window by two hours.
    assert got == {at_since, inside, at_until}


@pytest.mark.parametrize("zone", ["America/Sao_Paulo", "Asia/Kolkata"])
def test_non_utc_shop_timezone(zone: str, make_client: Callable[..., PrestaShopClient],
                               clock: Clock) -> None:
    ps = PrestaShopSandbox(DEFAULT_KEY, shop_timezone=zone)
    ps.now = clock
    start = clock.moment - timedelta(hours=12)
    ids = add_orders(ps, 120, start, timedelta(minutes=6))
    with ps.serve() as handle:
        client = make_client(handle, zone=zone)
        orders = read_all(client.iter_orders(start + timedelta(hours=6), clock.moment))
    assert sorted(int(o.external_id) for o in orders) == ids[60:]
    first = min(orders, key=lambda o: o.modified_at)
    assert first.modified_at == start + timedelta(hours=6)  # UTC again, to the second


def test_order_edited_mid_run_is_not_lost(ps: PrestaShopSandbox, client: PrestaShopClient,
                                          clock: Clock) -> None:
    start = clock.moment - timedelta(days=1)
    ids = add_orders(ps, 250, start, timedelta(minutes=1), state=10)
    pages = client.iter_orders(start, clock.moment + timedelta(hours=1))

    first = next(pages)
    assert len(first.items) == 100
    clock.advance(minutes=1)
    read_before, unread = ids[10], ids[180]
    ps.change_order_state(read_before, 2)  # paid: both jump to the tail of the window
    ps.change_order_state(unread, 2)
    rest = read_all(pages)

    seen = Counter(int(o.external_id) for o in first.items + rest)
    assert set(seen) == set(ids)
    assert seen[unread] == 1 and seen[read_before] == 2  # a change is a new item
    assert all(n == 1 for order_id, n in seen.items() if order_id != read_before)
    assert [o.is_paid for o in rest if int(o.external_id) in (read_before, unread)] == [True, True]


def test_ties_on_one_timestamp(ps: PrestaShopSandbox, client: PrestaShopClient,
                               clock: Clock) -> None:
    tied = clock.moment - timedelta(hours=2)
    ids = add_orders(ps, 230, tied, timedelta(0))
    ids += add_orders(ps, 120, tied + timedelta(seconds=5), timedelta(0))

    orders = read_all(client.iter_orders(tied, clock.moment))

    assert Counter(int(o.external_id) for o in orders) == Counter(ids)


@pytest.mark.parametrize("step", [23, 37, 40])
def test_dst_fall_back_hour_loses_nothing(ps: PrestaShopSandbox, client: PrestaShopClient,
                                          clock: Clock, step: int) -> None:
    # Europe/Warsaw: 03:00 CEST back to 02:00 CET at 01:00 UTC on 27 Oct 2024. The shop stores
    # and compares wall-clock times, so the two passes of 02:xx interleave.
    clock.moment = datetime(2024, 10, 27, 4, 0, tzinfo=UTC)
    start = datetime(2024, 10, 26, 23, 30, tzinfo=UTC)
    ids = add_orders(ps, 300, start, timedelta(seconds=step))

    orders = read_all(client.iter_orders(start, clock.moment))
    assert Counter(int(o.external_id) for o in orders) == Counter(ids)

    # A window that starts inside the repeated hour is widened by that hour.
    late = read_all(client.iter_orders(datetime(2024, 10, 27, 1, 10, tzinfo=UTC), clock.moment))
    expected = [i for i, n in zip(ids, range(300), strict=True)
                if start + timedelta(seconds=step * n) >= datetime(2024, 10, 27, 1, 10,
                                                                    tzinfo=UTC)]
    assert set(expected) <= {int(o.external_id) for o in late}


def test_shop_repeating_a_page_fails_the_run(ps: PrestaShopSandbox, client: PrestaShopClient,
                                             clock: Clock) -> None:
    start = clock.moment - timedelta(days=1)
    add_orders(ps, 200, start, timedelta(0))  # one second: paging goes by offset
    original = ps._limited

    ps._limited = lambda records, value: original(records, "0,100")  # type: ignore[method-assign]
    with pytest.raises(ShopError, match="repeats rows already read"):
        read_all(client.iter_orders(start, clock.moment))


def test_unparseable_orders_are_item_errors(ps: PrestaShopSandbox, client: PrestaShopClient,
                                            clock: Clock) -> None:
    start = clock.moment - timedelta(hours=1)
    good, bad, orphan = add_orders(ps, 3, start, timedelta(minutes=1))
    ps.update_order(bad, bump=False, total_paid_tax_incl="12,50")
    # A customer deleted since the order: the ERP can still hold the order (issue 11), the
    # buyer's name and address come from the order's invoice address, the e-mail is empty.
    ps.update_order(orphan, bump=False, id_customer="999")

    pages = list(client.iter_orders(start, clock.moment))

    imported = {o.external_id: o for p in pages for o in p.items}
    assert sorted(imported) == sorted([str(good), str(orphan)])
    buyer = imported[str(orphan)].customer
    assert buyer.email == "" and buyer.last_name and buyer.city and buyer.country_code == "PL"
    # The page error is keyed by the order's shop id: the retry set re-reads it by that id.
    assert [(e.key, "total_paid_tax_incl" in e.message) for p in pages for e in p.errors] == \
        [(str(bad), True)]


def test_order_fields(ps: PrestaShopSandbox, client: PrestaShopClient, clock: Clock) -> None:
    start = clock.moment - timedelta(hours=1)
    ps.add_product("KUB-1", "Kubek", price_gross="24.60")
    ps.add_product("TAL-8", "Talerz", price_gross="10.80", tax_group=2)
    paid = ps.add_order([("KUB-1", 2, "24.60"), ("TAL-8", 1, "10.80"), ("NIEZNANY", 1, "5.00")],
                        email=" Jan.Kowalski@Example.PL ", created=start, shipping_gross="14.99")
    unpaid = ps.add_order([("KUB-1", 1, "24.60")], email="jan.kowalski@example.pl",
                          created=start, state=10)

    orders = {o.external_id: o for o in read_all(client.iter_orders(start, clock.moment))}

    order = orders[str(paid["id"])]
    assert order.customer.email == "jan.kowalski@example.pl" and order.currency == "PLN"
    assert order.is_paid and not orders[str(unpaid["id"])].is_paid
    assert order.total_gross == Decimal("49.20") + Decimal("10.80") + Decimal("5.00") + \
        Decimal("14.99")
    assert (order.shipping_gross, order.shipping_method) == (Decimal("14.99"), "Kurier InPost")
    assert [(x.sku, x.quantity, x.unit_price_gross, x.vat_rate) for x in order.lines] == [
        ("KUB-1", Decimal(2), Decimal("24.60"), Decimal("23.00")),
        ("TAL-8", Decimal(1), Decimal("10.80"), Decimal("8.00")),
        ("NIEZNANY", Decimal(1), Decimal("5.00"), Decimal("23.00")),
    ]
    assert order.ordered_at == start and order.external_number == paid["reference"]


# -- faults and auth --------------------------------------------------------------------------


def test_25_percent_faults_converge(ps: PrestaShopSandbox, client: PrestaShopClient,
                                    clock: Clock, sleeps: list[float]) -> None:
    start = clock.moment - timedelta(days=1)
    ids = add_orders(ps, 250, start, timedelta(minutes=1))
    ps.faults.configure({"error_rate": 0.20, "rate_limit_rate": 0.05, "retry_after": 2,
                         "seed": 7})

    for _ in range(6):  # the scheduler's next run is the retry
        try:
            orders = read_all(client.iter_orders(start, clock.moment))
            break
        except ShopRetriableError:
            continue
    else:
        pytest.fail("six runs against a 25 % faulty shop never completed")
    assert Counter(int(o.external_id) for o in orders) == Counter(ids)

    wanted = [product(f"F-{n}") for n in range(60)]
    for _ in range(8):  # as export_products: look up by SKU, create only what is missing
        try:
            found = client.find_products_by_sku([p.sku for p in wanted])
            if all(r.ok for r in client.create_products(
                    [p for p in wanted if p.sku not in found])):
                break
        except ShopRetriableError:
            continue
    ps.faults.clear()
    assert all(len(ps.products_by_reference(p.sku)) == 1 for p in wanted)  # never twice
    assert 2.0 in sleeps and client.http.stats.throttled > 0


def test_wrong_key_is_a_clear_shop_error(ps_server: SandboxHandle,
                                         make_client: Callable[..., PrestaShopClient],
                                         clock: Clock) -> None:
    wrong = make_client(ps_server, key="WRONGKEYWRONGKEYWRONGKEYWRONGKEY")
    with pytest.raises(ShopError) as caught:
        list(wrong.iter_orders(clock.moment - timedelta(days=1), clock.moment))
    message = str(caught.value)
    assert not isinstance(caught.value, ShopRetriableError)
    assert "HTTP 401" in message and "Authentification key is not active" in message
    assert "WRONGKEY" not in message
    assert wrong.http.stats.calls == 1  # not retried

    with pytest.raises(ShopError, match="HTTP 401 18: Invalid authentication key format"):
        make_client(ps_server, key="short").find_products_by_sku(["A"])
    with pytest.raises(ShopError, match="needs api_key"):
        PrestaShopClient(ShopConnection(1, "prestashop", "https://x.pl", " ", None))


def test_key_without_a_resource_fails_the_run(ps: PrestaShopSandbox, client: PrestaShopClient,
                                              clock: Clock) -> None:
    ps.keys[DEFAULT_KEY] = {"products": {"GET", "POST", "PUT"}}
    with pytest.raises(ShopError, match='Resource of type "configurations" is not allowed'):
        client.create_products([product("A")])


def test_bodies_are_xml_and_the_key_is_basic_user(ps: PrestaShopSandbox,
                                                  client: PrestaShopClient) -> None:
    seen: list[SandboxRequest] = []
    ps.on_request.append(seen.append)

    (result,) = client.create_products([product("X-1")])

    assert result.ok
    post = next(r for r in seen if r.method == "POST")
    assert post.header("content-type").startswith("text/xml")
    assert post.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<prestashop')
    assert b"<reference>X-1</reference>" in post.body
    assert post.header("authorization") == "Basic " + __import__("base64").b64encode(
        f"{DEFAULT_KEY}:".encode()).decode()
    assert all(r.query.get("output_format") == "JSON" for r in seen)


def test_connect_factory_and_base_url(ps_server: SandboxHandle) -> None:
    client = connect(connection(ps_server))
    try:
        assert isinstance(client, PrestaShopClient)
        assert client.http._client.base_url == ps_server.base_url + "/api/"
    finally:
        client.close()
    assert api_base_url("https://sklep.pl/shop/") == "https://sklep.pl/shop/api/"
    with pytest.raises(ShopError, match="http"):
        api_base_url("sklep.pl")


# -- statuses ---------------------------------------------------------------------------------


def test_set_order_statuses_per_item(ps: PrestaShopSandbox, client: PrestaShopClient,
                                     clock: Clock) -> None:
    first, second, third = add_orders(ps, 3, clock.moment - timedelta(hours=1),
                                      timedelta(minutes=1), state=10)
    ps.change_order_state(third, 4)
    changes = [
        StatusChange(order_id=1, external_id=str(first), shop_status="4", erp_status_id=4),
        StatusChange(order_id=2, external_id="999999", shop_status="4", erp_status_id=4),
        StatusChange(order_id=3, external_id=str(second), shop_status="shipped", erp_status_id=4),
        StatusChange(order_id=4, external_id=str(second), shop_status="77", erp_status_id=4),
        StatusChange(order_id=5, external_id=str(third), shop_status="4", erp_status_id=4),
    ]
    ps.log.clear()

    results = client.set_order_statuses(changes)

    assert [(r.key, r.ok) for r in results] == [(str(first), True), ("999999", False),
                                                (str(second), False), (str(second), False),
                                                (str(third), True)]
    assert "999999 is not in the shop" in (results[1].error or "")
    assert "numeric order_states ids" in (results[2].error or "")
    assert "order state 77 does not exist" in (results[3].error or "")
    assert ps.tables["orders"][first]["current_state"] == "4"
    assert ps.tables["orders"][second]["current_state"] == "10"
    # One write, for the one order that needed it: nothing is sent that PrestaShop would answer
    # with die(), and the order already shipped gets no second history row (no second mail).
    assert ps.log.count("POST", "/api/order_histories") == 1
    assert ps.log.count("GET", "/api/orders") == 1 and ps.log.count("GET", "/api/order_states") == 1


# -- products ---------------------------------------------------------------------------------


def test_create_update_and_per_item_failures(ps: PrestaShopSandbox,
                                             client: PrestaShopClient) -> None:
    results = client.create_products([
        product("NEW-1", ean="5901234123457", weight_kg=Decimal("0.250"),
                description="<p>Opis</p>"),
        product("BAD-EAN", ean="12345678901234"),
        product("NEW-2", is_active=False, vat_rate=Decimal("8"), price_gross=Decimal("10.80")),
        product("ODD-VAT", vat_rate=Decimal("7")),
    ])

    assert [(r.key, r.ok) for r in results] == [("NEW-1", True), ("BAD-EAN", False),
                                                ("NEW-2", True), ("ODD-VAT", False)]
    assert ps.log.count("POST", PRODUCTS) == 2  # what cannot be mapped is not sent
    created = ps.tables["products"][int(results[0].shop_id or 0)]
    assert (created["reference"], created["price"], created["id_tax_rules_group"]) == (
        "NEW-1", "10.000000", "1")
    assert ps.gross_price(created) == Decimal("12.30") and created["ean13"] == "5901234123457"
    assert created["name"] == {"1": "Produkt NEW-1", "2": "Produkt NEW-1"}
    second = ps.tables["products"][int(results[2].shop_id or 0)]
    assert (second["active"], second["id_tax_rules_group"], second["price"]) == ("0", "2",
                                                                                 "10.000000")

    ps.tables["products"][created["id"]]["name"]["2"] = "English name"  # a translation
    updates = client.update_products([
        product("NEW-1", shop_id=results[0].shop_id, price_gross=Decimal("15"), name="Nowa",
                ean="5901234123457"),
        product("GHOST", shop_id="999999"),
        product("NO-ID"),
    ])
    assert [(r.key, r.ok) for r in updates] == [("NEW-1", True), ("GHOST", False),
                                                ("NO-ID", False)]
    assert "999999 is not in the shop" in (updates[1].error or "")
    stored = ps.tables["products"][created["id"]]
    assert stored["name"] == {"1": "Nowa", "2": "English name"}
    assert ps.gross_price(stored) == Decimal("15.00") and stored["ean13"] == "5901234123457"
    assert stored["link_rewrite"]["1"] == "produkt-new-1"  # echoed back, not wiped
    assert ps.log.count("PUT", PRODUCTS) == 1


def test_update_batch_reads_once_and_writes_per_product(ps: PrestaShopSandbox,
                                                        client: PrestaShopClient) -> None:
    made = [ps.add_product(f"U-{n}", f"U {n}") for n in range(100)]
    ps.log.clear()
    results = client.update_products([product(f"U-{n}", shop_id=str(p["id"]), name=f"V {n}")
                                      for n, p in enumerate(made)])
    assert all(r.ok for r in results)
    # 5 catalogue reads (once per client), 1 list call for the batch, 100 PUTs.
    assert ps.log.count("GET", PRODUCTS) == 1 and ps.log.count("PUT", PRODUCTS) == 100
    assert len(ps.log) == 106


def test_find_products_by_sku(ps: PrestaShopSandbox, client: PrestaShopClient) -> None:
    one = ps.add_product("A-1", "A")
    twin_a = ps.add_product("DUP", "Dup 1")
    twin_b = ps.add_product("DUP", "Dup 2")
    ps.add_product("a-1x", "near miss")
    comma = ps.add_product("10,20", "comma")
    ps.add_product("15", "inside the interval")
    ps.add_product("a-1", "other case")  # MySQL matches case-insensitively; we do not
    many = [f"X-{n:04d}" for n in range(400)]

    found = client.find_products_by_sku(["A-1", "DUP", "MISSING", "PIPE|1", *many])
    assert found == {"A-1": [str(one["id"])], "DUP": [str(twin_a["id"]), str(twin_b["id"])]}
    calls = [e for e in ps.log.entries() if e.path == PRODUCTS]
    assert len(calls) >= 2 and all(len(e.query["filter[reference]"]) <= 1510 for e in calls)

    assert client.find_products_by_sku(["10,20"]) == {"10,20": [str(comma["id"])]}
    assert client.find_products_by_sku([]) == {}


def test_set_stock(ps: PrestaShopSandbox, client: PrestaShopClient, clock: Clock) -> None:
    a = ps.add_product("A", "A", quantity=1)
    b = ps.add_product("B", "B", quantity=2)
    rowless = ps.add_product("E", "E", quantity=3)
    with ps.lock:  # a product whose stock row is missing (broken data, not a deletion)
        stock = ps.tables["stock_availables"]
        for row_id in [k for k, r in stock.items() if r["id_product"] == str(rowless["id"])]:
            del stock[row_id]
    before = ps.tables["products"][a["id"]]["date_upd"]
    clock.advance(hours=1)
    ps.log.clear()

    results = client.set_stock([StockQuantity(sku="A", quantity=7, shop_id=str(a["id"])),
                                StockQuantity(sku="B", quantity=-2, shop_id=str(b["id"])),
                                StockQuantity(sku="C", quantity=1),
                                StockQuantity(sku="D", quantity=1, shop_id="4040"),
                                StockQuantity(sku="E", quantity=1, shop_id=str(rowless["id"]))])

    assert [(r.key, r.ok) for r in results] == [("A", True), ("B", False), ("C", False),
                                                ("D", False), ("E", False)]
    # Deleted (no product, no stock row): gone, so the operation unbinds it; a product that
    # exists without its row stays an item error.
    assert "4040 is not in the shop" in (results[3].error or "") and results[3].gone
    assert "no stock_available row" in (results[4].error or "") and not results[4].gone
    assert not any(r.gone for r in results[:3])
    assert ps.log.count("GET", "/api/products") == 1  # one look-up for the two rowless ids
    assert ps.stock_row(a["id"])["quantity"] == "7" and ps.stock_row(b["id"])["quantity"] == "2"
    assert ps.tables["products"][a["id"]]["date_upd"] == before  # #20465
    assert ps.log.count("GET", "/api/stock_availables") == 1
    assert ps.log.count("PUT", "/api/stock_availables") == 1


def test_iter_products_delta_and_full_pass(ps: PrestaShopSandbox, client: PrestaShopClient,
                                           clock: Clock) -> None:
    old = clock.moment - timedelta(days=10)
    for n in range(130):
        ps.add_product(f"P-{n}", f"P {n}", price_gross="9.99", created=old, active=n % 10 != 0)
    no_sku = ps.add_product("", "Bez SKU", created=old)
    changed = ps.add_product("CH-1", "Changed", created=old, tax_group=2, price_gross="10.80")
    clock.advance(minutes=5)
    ps.log.clear()

    full = list(client.iter_products(None, clock.moment))
    items = [p for page in full for p in page.items]
    errors = [e for page in full for e in page.errors]
    # A product without a SKU is passed on with sku "" (the engine lists it; issue 11).
    assert len(items) == 132 and errors == []
    assert [p.shop_id for p in items if p.sku == ""] == [str(no_sku["id"])]
    assert sum(not p.is_active for p in items) == 13
    assert ps.log.count("GET", PRODUCTS) == 2  # by id keyset: >[0], >[100]
    assert ps.log.entries()[-1].query["filter[id]"] == ">[100]"

    ps.tables["products"][changed["id"]]["price"] = "12.000000"
    ps.tables["products"][changed["id"]]["date_upd"] = ps.local(clock.moment)
    delta = [p for page in client.iter_products(clock.moment - timedelta(minutes=1), clock.moment)
             for p in page.items]
    assert [(p.sku, p.price_gross, p.vat_rate) for p in delta] == [
        ("CH-1", Decimal("12.96"), Decimal("8.00"))]
    assert delta[0].modified_at == clock.moment


# -- the net under the watermark: by id, and the ids of a window (issue 11) -------------------


def test_fetch_orders_by_id_in_chunks_of_100(ps: PrestaShopSandbox, client: PrestaShopClient,
                                             clock: Clock) -> None:
    ids = add_orders(ps, 250, clock.moment - timedelta(days=2), timedelta(minutes=1))
    spoiled = ids[7]
    ps.update_order(spoiled, bump=False, total_paid_tax_incl="12,50")
    ps.log.clear()

    page = client.fetch_orders([str(i) for i in ids] + ["999999", "abc", "-3", str(ids[0])])

    assert sorted(int(o.external_id) for o in page.items) == sorted(set(ids) - {spoiled})
    # The unparseable one is a page error keyed by its shop id; unknown ids are just absent.
    assert [e.key for e in page.errors] == [str(spoiled)]
    # 251 distinct numeric ids: ceil(251 / 100) = 3 calls, each `filter[id]=[a|b|…]`.
    assert ps.log.count("GET", ORDERS) == 3
    query = next(e.query for e in ps.log.entries() if e.path == ORDERS)
    assert query["display"] == "full" and query["filter[id]"].startswith(f"[{ids[0]}|")
    assert client.fetch_orders([]).items == [] and ps.log.count("GET", ORDERS) == 3


def test_fetch_products_by_id(ps: PrestaShopSandbox, client: PrestaShopClient) -> None:
    ids = [ps.add_product(f"F-{n}", f"Kubek {n}", price_gross="24.60")["id"] for n in range(150)]
    ps.log.clear()

    page = client.fetch_products([str(i) for i in ids] + ["424242"])

    assert [p.shop_id for p in page.items] == [str(i) for i in ids] and page.errors == []
    assert page.items[0].price_gross == Decimal("24.60") and page.items[0].sku == "F-0"
    assert ps.log.count("GET", PRODUCTS) == 2  # ceil(151 / 100)


def test_iter_order_ids_lists_orders_created_in_the_window(ps: PrestaShopSandbox,
                                                          client: PrestaShopClient,
                                                          clock: Clock) -> None:
    start = clock.moment - timedelta(days=14)
    before = add_orders(ps, 2, start - timedelta(days=1), timedelta(minutes=1))
    inside = add_orders(ps, 25, start + timedelta(hours=1), timedelta(hours=1))
    # Modified today but created before the window: not the reconciliation's business.
    ps.change_order_state(before[0], 4)
    # Created inside, its date_upd left behind any cursor (a shop that did not bump it).
    ps.update_order(inside[3], bump=False, date_upd=ps.local(start - timedelta(days=30)))
    client.ids_page_size = 10
    ps.log.clear()

    pages = list(client.iter_order_ids(start, clock.moment))

    assert [i for page in pages for i in page] == [str(i) for i in inside]
    assert [len(page) for page in pages] == [10, 10, 5]
    assert ps.log.count("GET", ORDERS) == 3  # ceil(25 / 10); no call for the customers etc.
    assert ps.log.count("GET") == 3
    query = ps.log.entries()[-1].query
    assert "display" not in query  # ids only: the lightest list the Webservice answers
    assert (query["date"], query["sort"], query["limit"]) == ("1", "[id_ASC]", "10")
    # The window in the shop's wall-clock time (CEST in May/June).
    assert query["filter[date_add]"] == "[2024-05-18 12:00:00,2024-06-01 12:00:00]"
    assert query["filter[id]"] == f">[{inside[19]}]"


# -- what PrestaShop stores comes home as the ERP wrote it (docs/fidelity/prestashop.md) ------


def test_purified_description_comes_home_as_the_erp_wrote_it(ps: PrestaShopSandbox,
                                                            client: PrestaShopClient) -> None:
    """HTMLPurifier stores `&` as `&amp;` and a bare `<` as `&lt;`; a literal `&amp;` in the
    ERP text must not come back as `&`. Against a sandbox that stored what it was sent (the
    docs-only one) the read-back equalled the wire form; against PrestaShop's it did not."""
    description = "A & B <b>5 < 7</b> &amp; &lt;tag&gt;\nlinia"
    (created,) = client.create_products([product("HTML-1", description=description)])
    stored = ps.tables["products"][int(created.shop_id or 0)]["description"]["1"]
    assert stored == "A &amp; B <b>5 &lt; 7</b> &amp;amp; &amp;lt;tag&amp;gt;\nlinia"

    (back,) = client.fetch_products([created.shop_id or ""]).items
    assert back.description == description

    ps.html_purifier = False  # PS_USE_HTMLPURIFIER off: stored as sent, read back the same
    (updated,) = client.update_products([product("HTML-1", shop_id=created.shop_id,
                                                 description=description)])
    assert updated.ok
    (again,) = client.fetch_products([created.shop_id or ""]).items
    assert again.description == description


def test_names_prestashop_refuses_are_item_errors_without_a_call(ps: PrestaShopSandbox,
                                                                 client: PrestaShopClient) -> None:
    results = client.create_products([
        product("N-1", name="Kubek #1"), product("N-2", name="Kubek\nduży"),
        product("N-3", name="x" * 129), product("N-4", description="<script>x</script>"),
        product("N-5", name="Kubek „Żółty” & 'mały' \"duży\" ½\""), product("N-6", name=" ")])
    assert [r.ok for r in results] == [False, False, False, False, True, False]
    assert "name is empty" in (results[5].error or "")
    assert "containing #" in (results[0].error or "")  # names the character to change
    assert "isCatalogName" in (results[0].error or "")
    assert "line breaks" in (results[1].error or "") and "128" in (results[2].error or "")
    assert "isCleanHtml" in (results[3].error or "")
    assert ps.log.count("POST", PRODUCTS) == 1


@pytest.mark.parametrize("version", ["1.7.8.11", "8.1.7", "9.0.1"])
def test_the_connector_works_on_every_supported_version(
        version: str, clock: Clock, make_client: Callable[..., PrestaShopClient]) -> None:
    """Writes are POST and full-object PUT only (no PATCH, which 1.7 refuses)."""
    sandbox = PrestaShopSandbox(version=version)
    sandbox.now = clock
    with sandbox.serve() as handle:
        client = make_client(handle)
        (created,) = client.create_products([product("V-1")])
        (updated,) = client.update_products([product("V-1", shop_id=created.shop_id,
                                                     price_gross=Decimal("20.00"))])
        (stock,) = client.set_stock([StockQuantity(sku="V-1", quantity=5,
                                                   shop_id=created.shop_id)])
        order = sandbox.add_order([("V-1", 1, "20.00")], email="v@example.pl")
        (status,) = client.set_order_statuses([StatusChange(1, str(order["id"]), "4", 4)])
        (back,) = client.fetch_products([created.shop_id or ""]).items
    assert created.ok and updated.ok and stock.ok and status.ok
    assert back.price_gross == Decimal("20.00")
    assert (sandbox.stock_row(int(back.shop_id or 0)) or {}).get("quantity") == "5"
    assert sandbox.log.count("PATCH") == 0


def test_order_status_round_trip(ps: PrestaShopSandbox, client: PrestaShopClient,
                                 clock: Clock) -> None:
    """Every state sent comes back as that state: `POST order_histories` runs
    `OrderHistory::addWs` → `changeIdOrderState`, which sets the order's `current_state` (and
    `valid`) and saves it (date_upd moves); the read maps `current_state` back unchanged, and
    `is_paid` follows the state's `paid` flag. A second send of the same state writes nothing
    (a second history row would repeat hooks and stock movements)."""
    (order_id,) = add_orders(ps, 1, clock.moment - timedelta(hours=1), timedelta(minutes=1))
    for state in ("10", "3", "4", "5", "6", "2"):
        clock.advance(minutes=1)
        (sent,) = client.set_order_statuses([StatusChange(1, str(order_id), state, 1)])
        assert sent.ok, sent.error
        (back,) = client.fetch_orders([str(order_id)]).items
        paid = ps.tables["order_states"][int(state)]["paid"] == "1"
        assert (back.status, back.is_paid) == (state, paid)
        assert back.modified_at == clock.moment.replace(microsecond=0)
    histories = ps.log.count("POST", "/api/order_histories")
    (again,) = client.set_order_statuses([StatusChange(1, str(order_id), "2", 1)])
    assert again.ok and ps.log.count("POST", "/api/order_histories") == histories
