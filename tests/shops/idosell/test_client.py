"""IdoSellClient over real HTTP against the IdoSell sandbox (127.0.0.1).

Fixtures from ./conftest.py (`ido`, `ido_server`, `client`, `make_client`, `sleeps`) and
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

from tests.shops.idosell.conftest import connection
from workers.domain import Order, Page, Product, StatusChange, StockQuantity
from workers.ports import ShopConnection, ShopError, ShopRetriableError
from workers.shops import connect
from workers.shops.idosell import client as client_module
from workers.shops.idosell.client import IdoSellClient, api_base_url
from workers.shops.idosell.sandbox import DEFAULT_KEY, IdoSellSandbox
from workers.shops.sandbox import SandboxHandle, SandboxRequest

Clock = Any
SEARCH = "/api/admin/v6/orders/orders/search"
PRODUCTS_SEARCH = "/api/admin/v6/products/products/search"


def add_orders(ido: IdoSellSandbox, count: int, start: datetime, step: timedelta,
               status: str = "new") -> list[int]:
    if not ido.product_by_code("KUB-1"):
        ido.add_product("KUB-1", "Kubek", price_gross="24.60")
    return [ido.add_order([("KUB-1", 1 + n % 3, "24.60")], email=f"klient{n % 7}@example.pl",
                          created=start + step * n, status=status)["serial"]
            for n in range(count)]


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


# -- orders -----------------------------------------------------------------------------------


def test_250_orders_across_pages_each_read_once(ido: IdoSellSandbox, client: IdoSellClient,
                                                clock: Clock) -> None:
    start = clock.moment - timedelta(days=3)
    ids = add_orders(ido, 250, start, timedelta(minutes=1))
    bodies: list[Any] = []
    ido.on_request.append(lambda r: bodies.append(r.json()) if r.path == SEARCH else None)

    orders = read_all(client.iter_orders(start, clock.moment))

    assert Counter(int(o.external_id) for o in orders) == Counter(ids)
    assert [o.modified_at for o in orders] == sorted(o.modified_at for o in orders)
    # 3 pages of the modification window + 1 for payments (none: fault 2, HTTP 404).
    assert ido.log.count("POST", SEARCH) == 4
    first = bodies[0]["params"]
    assert first["ordersRange"]["ordersDateRange"] == {
        "ordersDateType": "modified", "ordersDateBegin": "2024-05-29 12:00:00",
        "ordersDateEnd": "2024-06-01 12:00:00"}  # shop-local (CEST)
    assert (first["resultsPage"], first["resultsLimit"]) == (0, 100)
    assert [b["params"]["resultsPage"] for b in bodies] == [0, 1, 2, 0]
    assert bodies[-1]["params"]["ordersRange"]["ordersDateRange"]["ordersDateType"] == \
        "last_payments_operation"


def test_window_bounds_are_inclusive_in_shop_time(ido: IdoSellSandbox, client: IdoSellClient,
                                                  clock: Clock) -> None:
    since = clock.moment - timedelta(hours=5)
    until = clock.moment - timedelta(hours=1)
    second = timedelta(seconds=1)
    moments = [since - second, since, since + timedelta(hours=2), until, until + second]
    _before, at_since, inside, at_until, _after = [add_orders(ido, 1, m, timedelta(0))[0]
                                                 for m in moments]
    got = {int(o.external_id) for o in read_all(client.iter_orders(since, until))}
    assert got == {at_since, inside, at_until}


@pytest.mark.parametrize("zone", ["America/Sao_Paulo", "Asia/Kolkata"])
def test_non_utc_shop_timezone(zone: str, make_client: Callable[..., IdoSellClient],
                               clock: Clock) -> None:
    ido = IdoSellSandbox(DEFAULT_KEY, shop_timezone=zone)
    ido.now = clock
    start = clock.moment - timedelta(hours=12)
    ids = add_orders(ido, 120, start, timedelta(minutes=6))
    with ido.serve() as handle:
        orders = read_all(make_client(handle, zone=zone).iter_orders(start + timedelta(hours=6),
                                                                     clock.moment))
    assert sorted(int(o.external_id) for o in orders) == ids[60:]
    assert min(o.modified_at for o in orders) == start + timedelta(hours=6)


def test_order_leaving_the_window_mid_read_shifts_nothing_past_us(
    ido: IdoSellSandbox, client: IdoSellClient, clock: Clock
) -> None:
    start = clock.moment - timedelta(days=1)
    ids = add_orders(ido, 250, start, timedelta(minutes=1))
    edited = []

    def edit_once(request: SandboxRequest) -> None:
        if request.path == SEARCH and request.json()["params"]["resultsPage"] == 1 and not edited:
            clock.advance(minutes=5)  # after the window's end: the order leaves the window
            edited.append(ido.set_order_status(ids[3], "packed")["serial"])

    ido.on_request.append(edit_once)
    orders = read_all(client.iter_orders(start, clock.moment - timedelta(seconds=1)))

    # Order 3 left page 0, every later order moved up one place; without the re-read the
    # order then first on page 1 (the 101st) would never be seen.
    assert {int(o.external_id) for o in orders} == set(ids)
    pages = [entry.query for entry in ido.log.entries() if entry.path == SEARCH]
    assert len(pages) >= 5  # 0, 1 (total changed), 0, 1, 2, payments


def test_result_set_that_never_settles_fails_as_retriable(
    ido: IdoSellSandbox, client: IdoSellClient, clock: Clock
) -> None:
    start = clock.moment - timedelta(days=1)
    ids = add_orders(ido, 150, start, timedelta(minutes=1))
    victims = iter(ids)

    def keep_editing(request: SandboxRequest) -> None:
        if request.path == SEARCH and request.json()["params"]["resultsPage"] == 1:
            clock.advance(minutes=1)
            ido.set_order_status(next(victims), "packed")

    ido.on_request.append(keep_editing)
    with pytest.raises(ShopRetriableError, match="kept changing"):
        read_all(client.iter_orders(start, start + timedelta(hours=12)))


def test_large_windows_are_read_in_slices(ido: IdoSellSandbox, client: IdoSellClient,
                                          clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "SLICE_MAX", 150)
    start = clock.moment - timedelta(days=2)
    ids = add_orders(ido, 400, start, timedelta(minutes=5))

    orders = read_all(client.iter_orders(start, clock.moment))

    assert Counter(int(o.external_id) for o in orders) == Counter(ids)
    assert [o.modified_at for o in orders] == sorted(o.modified_at for o in orders)
    pages = list(client.iter_orders(start, clock.moment))
    assert all(len(p.items) <= 100 for p in pages)


def test_payment_that_keeps_the_modified_date_is_still_seen(
    ido: IdoSellSandbox, client: IdoSellClient, clock: Clock
) -> None:
    old = add_orders(ido, 1, clock.moment - timedelta(days=5), timedelta(0))[0]
    ido.add_payment(old, when=clock.moment - timedelta(minutes=30))
    late = add_orders(ido, 1, clock.moment - timedelta(days=4), timedelta(0))[0]
    ido.add_payment(late, when=clock.moment - timedelta(minutes=20))
    ido.set_order_status(late, "packed")  # changed at clock.moment: after the window below

    orders = read_all(client.iter_orders(clock.moment - timedelta(hours=1),
                                         clock.moment - timedelta(minutes=10)))

    # `old` only paid within the window: it comes through the payments delta, paid. `late`
    # changed after the window: left to the window that holds its change.
    assert [(o.external_id, o.is_paid) for o in orders] == [(str(old), True)]


@pytest.mark.parametrize("step", [23, 40])
def test_dst_fall_back_hour_loses_nothing(ido: IdoSellSandbox, client: IdoSellClient,
                                          clock: Clock, step: int) -> None:
    clock.moment = datetime(2024, 10, 27, 4, 0, tzinfo=UTC)
    start = datetime(2024, 10, 26, 23, 30, tzinfo=UTC)
    ids = add_orders(ido, 300, start, timedelta(seconds=step))
    orders = read_all(client.iter_orders(start, clock.moment))
    assert Counter(int(o.external_id) for o in orders) == Counter(ids)


def test_unparseable_orders_are_item_errors(ido: IdoSellSandbox, client: IdoSellClient,
                                            clock: Clock) -> None:
    good, bad = add_orders(ido, 2, clock.moment - timedelta(hours=1), timedelta(minutes=1))
    ido.orders[bad]["currency"] = "zł"  # a currency the ERP cannot store
    pages = list(client.iter_orders(clock.moment - timedelta(hours=2), clock.moment))
    assert [o.external_id for p in pages for o in p.items] == [str(good)]
    assert [(e.key, e.message) for p in pages for e in p.errors] == [
        (str(bad), "currencyId is not an ISO code: 'ZŁ'")]


@pytest.mark.parametrize("mode", ["404", "207", "200"])
def test_no_results_in_any_form_is_an_empty_read(make_client: Callable[..., IdoSellClient],
                                                 clock: Clock, mode: str) -> None:
    ido = IdoSellSandbox(DEFAULT_KEY, empty_results=mode)
    ido.now = clock
    with ido.serve() as handle:
        client = make_client(handle)
        assert read_all(client.iter_orders(clock.moment - timedelta(days=1), clock.moment)) == []
        assert client.find_products_by_sku(["A"]) == {}
        assert list(client.iter_products(None, clock.moment)) == []


# -- faults, limits and auth ------------------------------------------------------------------


def test_25_percent_faults_converge(ido: IdoSellSandbox, client: IdoSellClient, clock: Clock,
                                    sleeps: list[float]) -> None:
    start = clock.moment - timedelta(days=1)
    ids = add_orders(ido, 250, start, timedelta(minutes=1))
    ido.faults.configure({"error_rate": 0.20, "rate_limit_rate": 0.05, "retry_after": 2,
                          "seed": 7})
    for _ in range(6):
        try:
            orders = read_all(client.iter_orders(start, clock.moment))
            break
        except ShopRetriableError:
            continue
    else:
        pytest.fail("six runs against a 25 % faulty shop never completed")
    assert Counter(int(o.external_id) for o in orders) == Counter(ids)

    wanted = [product(f"F-{n}") for n in range(150)]
    for _ in range(6):
        try:
            results = client.create_products(wanted)
            break
        except ShopRetriableError:
            continue
    assert all(r.ok for r in results)
    ido.faults.clear()
    # Creates are upserts by external code: retried batches never duplicate.
    assert all(len(ido.product_by_code(p.sku)) == 1 for p in wanted)
    assert 2.0 in sleeps and client.http.stats.throttled > 0


def test_rate_limit_is_waited_out(clock: Clock) -> None:
    tick = [0.0]
    ido = IdoSellSandbox(DEFAULT_KEY, rate_limit=(2, 1.0))
    ido.now, ido.clock = clock, lambda: tick[0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the shop's clock moves while we wait
        slept.append(seconds)
        tick[0] += seconds

    with ido.serve() as handle, IdoSellClient(connection(handle), sleep=sleep) as client:
        statuses = [StatusChange(n, str(n), "packed", 3) for n in range(1, 6)]
        answers = [client.set_order_statuses([change]) for change in statuses]
    assert all(len(a) == 1 for a in answers) and ido.log.count(status=429) >= 1
    assert slept and all(s >= 1 for s in slept)  # Retry-After honoured, not a blind back-off


def test_wrong_key_is_a_clear_shop_error(ido_server: SandboxHandle,
                                         make_client: Callable[..., IdoSellClient],
                                         clock: Clock) -> None:
    wrong = make_client(ido_server, key="not-the-key-123")
    with pytest.raises(ShopError) as caught:
        read_all(wrong.iter_orders(clock.moment - timedelta(days=1), clock.moment))
    message = str(caught.value)
    assert not isinstance(caught.value, ShopRetriableError)
    assert "HTTP 401 1: Login failure" in message and "not-the-key-123" not in message
    assert wrong.http.stats.calls == 1
    with pytest.raises(ShopError, match="needs api_key"):
        IdoSellClient(ShopConnection(1, "idosell", "https://x.iai-shop.com", "", None))


def test_connect_factory_and_base_url(ido_server: SandboxHandle) -> None:
    client = connect(connection(ido_server))
    try:
        assert isinstance(client, IdoSellClient)
        assert client.http._client.base_url == ido_server.base_url + "/api/admin/v6/"
    finally:
        client.close()
    assert api_base_url("https://client123.iai-shop.com/") == \
        "https://client123.iai-shop.com/api/admin/v6/"


# -- statuses ---------------------------------------------------------------------------------


def test_set_order_statuses_in_batches_with_per_item_faults(
    ido: IdoSellSandbox, client: IdoSellClient, clock: Clock
) -> None:
    ids = add_orders(ido, 230, clock.moment - timedelta(hours=5), timedelta(seconds=30))
    changes = [StatusChange(n, str(serial), "packed", 3) for n, serial in enumerate(ids)]
    changes[5] = StatusChange(5, "999999", "packed", 3)
    changes[6] = StatusChange(6, str(ids[6]), "shipped", 3)  # not an IdoSell status
    changes[7] = StatusChange(7, str(ids[7]), "joined", 3)

    results = client.set_order_statuses(changes)

    assert len(results) == 230
    failed = {r.key: r.error for r in results if not r.ok}
    assert set(failed) == {"999999", str(ids[6]), str(ids[7])}
    assert failed["999999"].startswith("4: ") and failed[str(ids[7])].startswith("6: ")
    assert "not an IdoSell order status" in failed[str(ids[6])]
    assert ido.log.count("PUT", "/api/admin/v6/orders/orders") == 3  # 229 sent, 100 a call
    assert ido.orders[ids[0]]["status"] == "packed" and ido.orders[ids[6]]["status"] == "new"


# -- products ---------------------------------------------------------------------------------


def test_create_update_and_per_item_faults(ido: IdoSellSandbox, client: IdoSellClient) -> None:
    taken = ido.add_product("TAKEN", "Zajęty")
    results = client.create_products([
        product("NEW-1", ean="5901234123457", weight_kg=Decimal("0.25"), description="<p>x</p>"),
        product("ODD-VAT", vat_rate=Decimal("7")),
        product("NEW-2", is_active=False),
        product("", name="no sku"),
    ])
    assert [(r.key, r.ok) for r in results] == [("NEW-1", True), ("ODD-VAT", False),
                                                ("NEW-2", True), ("", False)]
    assert (results[1].error or "").startswith("9: Incorrect VAT rate")
    assert ido.log.count("PUT", "/api/admin/v6/products/products") == 1
    created = ido.products[int(results[0].shop_id or 0)]
    assert (created["price"], created["weight"], created["producer"]) == (Decimal("12.3"), 250,
                                                                         "5901234123457")
    assert ido.products[int(results[2].shop_id or 0)]["visible"] == "n"

    updates = client.update_products([
        product("NEW-1", shop_id=results[0].shop_id, price_gross=Decimal("15"), name="Nowa"),
        product("GHOST", shop_id="4040"),
        product("TAKEN", shop_id=results[2].shop_id),  # a code another product holds
        product("NO-ID"),
    ])
    assert [(r.key, r.ok) for r in updates] == [("NEW-1", True), ("GHOST", False),
                                                ("TAKEN", False), ("NO-ID", False)]
    assert created["names"]["pol"] == "Nowa" and created["price"] == Decimal(15)
    assert "already used" in (updates[2].error or "") and updates[2].shop_id == results[2].shop_id
    assert [r.gone for r in updates] == [False, True, False, False]  # GHOST: not in the shop
    assert ido.products[taken["productId"]]["names"]["pol"] == "Zajęty"


def test_find_products_by_sku(ido: IdoSellSandbox, client: IdoSellClient) -> None:
    one = ido.add_product("A-1", "A")
    twin_a = ido.add_product("DUP", "Dup 1")
    twin_b = ido.add_product("DUP", "Dup 2")
    ido.add_product("a-1", "other case")  # the shop matches case-insensitively; we do not
    many = [f"X-{n:04d}" for n in range(250)]

    found = client.find_products_by_sku(["A-1", "DUP", "MISSING", *many])

    assert found == {"A-1": [str(one["productId"])],
                     "DUP": [str(twin_a["productId"]), str(twin_b["productId"])]}
    assert ido.log.count("POST", PRODUCTS_SEARCH) == 3  # 100 codes a search


def test_set_stock(ido: IdoSellSandbox, client: IdoSellClient, clock: Clock) -> None:
    a = ido.add_product("A", "A", quantity=1)
    clock.advance(hours=1)
    results = client.set_stock([StockQuantity(sku="A", quantity=7, shop_id=str(a["productId"])),
                                StockQuantity(sku="B", quantity=-2, shop_id="5"),
                                StockQuantity(sku="GONE", quantity=1, shop_id="6")])
    assert [(r.key, r.ok) for r in results] == [("A", True), ("B", False), ("GONE", False)]
    assert (results[2].error or "").startswith("4: ")
    assert [r.gone for r in results] == [False, False, True]  # no product carries that code
    assert a["sizes"][0]["quantities"][1] == 7
    assert a["modified"] == "2024-06-01 12:00:00"  # stock does not move the modification time
    assert ido.log.count("PUT", "/api/admin/v6/products/stockQuantity") == 1


def test_iter_products_full_pass_and_day_delta(ido: IdoSellSandbox, client: IdoSellClient,
                                               clock: Clock) -> None:
    old = clock.moment - timedelta(days=10)
    for n in range(130):
        ido.add_product(f"P-{n}", f"P {n}", created=old, visible=n % 10 != 0)
    variants = ido.add_product("VAR", "Z rozmiarami", created=old, sizes=2)
    early = ido.add_product("EARLY", "Rano", created=clock.moment - timedelta(hours=9))
    clock.advance(minutes=5)
    changed = ido.update_product(ido.product_by_code("P-7")[0]["productId"],
                                 price=Decimal("11.00"))

    full = list(client.iter_products(None, clock.moment))
    items = [p for page in full for p in page.items]
    assert len(items) == 131 and sum(not p.is_active for p in items) == 13
    assert [e.key for page in full for e in page.errors] == [str(variants["productId"])]

    delta = [p for page in client.iter_products(clock.moment - timedelta(minutes=1),
                                                clock.moment) for p in page.items]
    # The filter knows only days: 03:00 today is re-read with the change of 12:05.
    assert [(p.sku, p.price_gross) for p in delta] == [("EARLY", Decimal("10.00")),
                                                       ("P-7", Decimal("11.00"))]
    assert delta[1].modified_at == clock.moment
    assert changed["productId"] == int(delta[1].shop_id or 0) and early


def test_product_keyset_by_day_over_many_changes(ido: IdoSellSandbox, client: IdoSellClient,
                                                 clock: Clock) -> None:
    for day in range(3):
        for n in range(120):
            ido.add_product(f"D{day}-{n}", f"D{day} {n}",
                            created=clock.moment - timedelta(days=2 - day, minutes=n))
    pages = list(client.iter_products(clock.moment - timedelta(days=3), clock.moment))
    skus = Counter(p.sku for page in pages for p in page.items)
    assert len(skus) == 360 and set(skus.values()) == {1}
