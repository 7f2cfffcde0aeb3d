"""Stock through quantity commands and their reports, stock 0 as an ended offer (re-activated
only when we ended it), offers bound by signature and updated, offers read as products, and the
request limit kept without a retry storm."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.shops.allegro.support import CLIENT_ID, CLIENT_SECRET, authorised, state, tenant
from workers.domain import Product, StockQuantity
from workers.ports import ShopRetriableError
from workers.shops.allegro.client import CREATE_REFUSED, AllegroClient
from workers.shops.allegro.rate import RateGate
from workers.shops.allegro.sandbox import AllegroSandbox
from workers.shops.sandbox import SandboxHandle


@pytest.fixture
def sandbox() -> AllegroSandbox:
    return AllegroSandbox(CLIENT_ID, CLIENT_SECRET)


@pytest.fixture
def handle(sandbox: AllegroSandbox) -> Iterator[SandboxHandle]:
    with sandbox.serve() as served:
        yield served


@pytest.fixture
def db(tmp_path: Path) -> Engine:
    return tenant(tmp_path)


@pytest.fixture
def client(handle: SandboxHandle, db: Engine) -> AllegroClient:
    return authorised(handle, db)


def _offer(sandbox: AllegroSandbox, sku: str, stock: int = 5, **kw: object) -> str:
    return str(sandbox.add_offer(sku=sku, name=f"Oferta {sku}", price=Decimal("10.00"),
                                 stock=stock, **kw)["id"])  # type: ignore[arg-type]


def test_quantities_go_in_one_command_per_value_and_reports_are_read(
    sandbox: AllegroSandbox, client: AllegroClient,
) -> None:
    ids = [_offer(sandbox, f"S-{n}") for n in range(5)]
    foreign = _offer(sandbox, "OBCY", seller=False)  # not this seller's: the report says FAIL
    wanted = [7, 7, 7, 3, 3]
    results = client.set_stock([StockQuantity(f"S-{n}", q, shop_id=i)
                                for n, (i, q) in enumerate(zip(ids, wanted, strict=True))]
                               + [StockQuantity("OBCY", 7, shop_id=foreign)])
    assert [r.ok for r in results] == [True] * 5 + [False]
    assert "not found" in (results[5].error or "") and results[5].gone
    assert [sandbox.offers[i]["stock"]["available"] for i in ids] == wanted
    assert sandbox.log.count("PUT", "/sale/offer-quantity-change-commands/") == 2  # two values
    assert sandbox.log.count("GET", "/sale/offer-quantity-change-commands/") == 2  # reports


def test_a_slow_report_is_polled_and_an_unfinished_one_is_sent_again_next_run(
    sandbox: AllegroSandbox, handle: SandboxHandle, db: Engine,
) -> None:
    offer = _offer(sandbox, "S")
    sandbox.command_lag = 2  # the tasks stay NEW for two reads
    client = authorised(handle, db)
    [done] = client.set_stock([StockQuantity("S", 4, shop_id=offer)])
    assert done.ok and sandbox.log.count("GET", "/sale/offer-quantity-change-commands/") == 3

    sandbox.command_lag = 100
    ticks = iter(range(1000))
    slow = authorised(handle, db, monotonic=lambda: float(next(ticks)), poll_for=3)
    [late] = slow.set_stock([StockQuantity("S", 6, shop_id=offer)])
    assert not late.ok and "not confirmed" in (late.error or "")


def test_stock_zero_ends_the_offer_and_only_offers_we_ended_come_back(
    sandbox: AllegroSandbox, client: AllegroClient, db: Engine,
) -> None:
    ours = _offer(sandbox, "OURS")
    sellers = _offer(sandbox, "SELLERS", status="ENDED")  # the seller ended it
    results = client.set_stock([StockQuantity("OURS", 0, shop_id=ours),
                                StockQuantity("SELLERS", 0, shop_id=sellers)])
    assert all(r.ok for r in results)  # both are not for sale, as wanted
    assert sandbox.offers[ours]["publication"]["status"] == "ENDED"
    assert state(db).ended_offers([ours, sellers]) == {ours}
    # Zero again: nothing to do for an offer we ended already.
    puts = sandbox.log.count("PUT")
    assert client.set_stock([StockQuantity("OURS", 0, shop_id=ours)])[0].ok
    assert sandbox.log.count("PUT") == puts

    back = client.set_stock([StockQuantity("OURS", 3, shop_id=ours),
                             StockQuantity("SELLERS", 3, shop_id=sellers)])
    assert all(r.ok for r in back)
    assert sandbox.offers[ours]["publication"]["status"] == "ACTIVE"
    assert sandbox.offers[sellers]["publication"]["status"] == "ENDED"  # never re-activated
    assert sandbox.offers[sellers]["stock"]["available"] == 3
    assert state(db).ended_offers([ours, sellers]) == set()


def test_more_than_a_thousand_offers_take_two_commands(sandbox: AllegroSandbox,
                                                       client: AllegroClient) -> None:
    ids = [_offer(sandbox, f"M-{n}") for n in range(1001)]
    results = client.set_stock([StockQuantity(f"M-{n}", 9, shop_id=i) for n, i in enumerate(ids)])
    assert all(r.ok for r in results)
    assert sandbox.log.count("PUT", "/sale/offer-quantity-change-commands/") == 2


def test_offers_are_bound_by_signature_updated_and_never_created(
    sandbox: AllegroSandbox, client: AllegroClient,
) -> None:
    offer = _offer(sandbox, "KUB-1")
    _offer(sandbox, "KUB-10")  # a longer signature is not a match
    assert client.find_products_by_sku(["KUB-1", "BRAK"]) == {"KUB-1": [offer]}
    [created] = client.create_products([Product("NEW-1", "Nowy", Decimal("5.00"))])
    assert not created.ok and created.error == CREATE_REFUSED
    updated, too_long, gone = client.update_products([
        Product("KUB-1", "Kubek „Żółty” & spodek", Decimal("49.99"), shop_id=offer),
        Product("KUB-1", "x" * 76, Decimal("49.99"), shop_id=offer),
        Product("KUB-2", "Kubek", Decimal("1.00"), shop_id="99999999999"),
    ])
    assert updated.ok and sandbox.offers[offer]["name"] == "Kubek „Żółty” & spodek"
    assert sandbox.offers[offer]["sellingMode"]["price"]["amount"] == "49.99"
    assert not too_long.ok and "75" in (too_long.error or "")
    assert not gone.ok and gone.gone


def test_offers_read_as_products(sandbox: AllegroSandbox, client: AllegroClient,
                                 db: Engine) -> None:
    active = _offer(sandbox, "A")
    ended_by_us = _offer(sandbox, "B", status="ENDED")
    ended_by_seller = _offer(sandbox, "C", status="ENDED")
    unsigned = str(sandbox.add_offer(sku=None, name="Bez sygnatury", price=Decimal("1.00"),
                                     stock=1)["id"])
    state(db).record_ended([ended_by_us])
    products = {p.shop_id: p for page in client.iter_products(None, datetime.now(UTC))
                for p in page.items}
    assert products[active].is_active and products[active].price_gross == Decimal("10.00")
    assert products[ended_by_us].is_active  # out of stock, not out of the range
    assert not products[ended_by_seller].is_active
    assert products[unsigned].sku == ""  # import turns this into "no SKU"
    page = client.fetch_products([active, "123", "nie-liczba"])
    assert [p.shop_id for p in page.items] == [active]


def test_a_blocked_client_id_stops_at_once_instead_of_retrying(
    sandbox: AllegroSandbox, handle: SandboxHandle, db: Engine,
) -> None:
    """Past the limit Allegro blocks the client id for a minute (429, no Retry-After): the
    gate closes and the run ends with one retriable error, not a burst of doomed retries."""
    _offer(sandbox, "A")
    sandbox.per_minute = 2
    client = authorised(handle, db, gate=RateGate(sleep=lambda s: None))
    list(client.iter_products(None, datetime.now(UTC)))
    list(client.iter_products(None, datetime.now(UTC)))
    with pytest.raises(ShopRetriableError, match="request limit"):
        list(client.iter_products(None, datetime.now(UTC)))
    assert sandbox.log.count(status=429) == 1
    with pytest.raises(ShopRetriableError):  # and stays closed for the next call too
        list(client.iter_products(None, datetime.now(UTC)))
    assert sandbox.log.count(status=429) == 1


def test_a_429_with_retry_after_is_waited_out(sandbox: AllegroSandbox,
                                              client: AllegroClient) -> None:
    _offer(sandbox, "A")
    sandbox.faults.retry_after = 0
    sandbox.faults.fail_next(2, 429)
    assert len([p for page in client.iter_products(None, datetime.now(UTC))
                for p in page.items]) == 1


def test_an_offer_allegro_ended_when_it_sold_out_comes_back_with_the_stock(
    sandbox: AllegroSandbox, client: AllegroClient, db: Engine,
) -> None:
    offer = _offer(sandbox, "SOLD")
    sandbox.sell_out(offer)  # Allegro ended it: endedBy EMPTY_STOCK
    assert client.set_stock([StockQuantity("SOLD", 0, shop_id=offer)])[0].ok
    assert state(db).ended_offers([offer]) == {offer}
    assert client.set_stock([StockQuantity("SOLD", 4, shop_id=offer)])[0].ok
    assert sandbox.offers[offer]["publication"]["status"] == "ACTIVE"
    assert sandbox.offers[offer]["stock"]["available"] == 4


def test_a_command_refused_as_too_big_is_split_not_lost(
    sandbox: AllegroSandbox, client: AllegroClient,
) -> None:
    """The per-command offer limit is unverified: were it smaller than ours, the refused
    command is halved until it goes through."""
    ids = [_offer(sandbox, f"H-{n}") for n in range(10)]

    def small_limit(request: object) -> int | None:
        body = getattr(request, "body", b"")
        if getattr(request, "method", "") == "PUT" and body.count(b'"id"') > 3:
            return 422
        return None

    sandbox.faults.predicate = small_limit
    results = client.set_stock([StockQuantity(f"H-{n}", 2, shop_id=i) for n, i in enumerate(ids)])
    assert all(r.ok for r in results)
    assert [sandbox.offers[i]["stock"]["available"] for i in ids] == [2] * 10
