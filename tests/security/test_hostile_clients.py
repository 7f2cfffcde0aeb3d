"""Hostile shops against every connector, through the real client and HTTP layer (hypothesis).

Each platform's sandbox answers in process (no sockets, so hundreds of examples stay fast);
between it and the client sits a tamperer that hypothesis drives: any answer may have fields
removed, replaced with hostile values or added at any depth, or be swapped for a body that is
not JSON, not UTF-8, nested 100 000 levels, larger than the size cap (declared or not), or a
bare error status; headers may lie. The property: every ShopClient call either answers
(pages of sane items and item errors; one result per item written) or raises ShopError.
Any other exception would crash the run instead of failing it with a clear message.
"""

from __future__ import annotations

import functools
import importlib
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, delete

from shared.crypto import SecretBox
from shared.db import make_engine
from shared.erp.demo import create_erp_schema
from shared.erp.sync_tables import sync_ended_offers
from shared.migrate import TENANT, upgrade
from tests.security.support import hostile, mutated
from tests.security.test_hostile_mapping import (
    VENDURE_ORDER,
    VENDURE_VARIANT,
    check_order,
    check_product,
)
from workers.domain import ItemResult, Page, Product, StatusChange, StockQuantity
from workers.engine.connector_state import SqlConnectorState
from workers.ports import OAuthTokens, ShopConnection, ShopError
from workers.shops import connector_class
from workers.shops.allegro.rate import RateGate
from workers.shops.sandbox import Sandbox, SandboxRequest
from workers.shops.vendure.client import VendureClient

BASE_URL = "http://shop.test"
#: Small enough that the tamperer's oversized bodies are cheap to build.
BODY_CAP = 256 * 1024


class InProcess(httpx.BaseTransport):
    """The sandbox's request pipeline called directly, with a tamperer on every answer."""

    def __init__(self, sandbox: Sandbox | Callable[[httpx.Request], httpx.Response],
                 tamper: Callable[[httpx.Response], httpx.Response] | None = None) -> None:
        self.sandbox = sandbox
        self.tamper = tamper

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        if isinstance(self.sandbox, Sandbox):
            answer = self.sandbox.process(SandboxRequest(
                method=request.method, path=request.url.path,
                query_string=request.url.query.decode(),
                headers={k.lower(): v for k, v in request.headers.items()}, body=request.content,
                base_url=f"{request.url.scheme}://{request.url.netloc.decode()}"))
            response = httpx.Response(answer.status, headers=answer.headers, content=answer.body)
        else:
            response = self.sandbox(request)
        return self.tamper(response) if self.tamper is not None else response


@st.composite
def tamperer(draw: st.DrawFn) -> Callable[[httpx.Response], httpx.Response]:
    """A function that spoils some answers; it draws as the client makes its calls."""

    def spoil(response: httpx.Response) -> httpx.Response:
        choice = draw(st.sampled_from(["keep"] * 5 + ["mutate"] * 6 + [
            "not-json", "not-utf8", "deep", "too-big", "too-big-declared", "empty", "status",
            "headers"]))
        body = response.content
        headers = [(k, v) for k, v in response.headers.items()
                   if k.lower() not in ("content-length", "content-encoding")]
        status = response.status_code
        if choice == "mutate":
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                data = None
            if data is not None:
                body = orjson.dumps(draw(mutated(data, max_changes=4)))
        elif choice == "not-json":
            body = b"<html><body>Fatal error: Allowed memory size exhausted</body></html>"
        elif choice == "not-utf8":
            body = b'{"orders": ["\xff\xfe\xfd"]}'
        elif choice == "deep":
            body = b"[" * 100_000 + b"]" * 100_000
        elif choice == "too-big":
            body = b'{"x": "' + b"a" * (BODY_CAP + 10) + b'"}'
        elif choice == "too-big-declared":
            headers.append(("Content-Length", str(10**12)))
            return httpx.Response(status, headers=headers, stream=httpx.ByteStream(b"{}"))
        elif choice == "empty":
            body = b""
        elif choice == "status":
            status = draw(st.sampled_from([200, 201, 207, 301, 400, 401, 404, 413, 418, 422,
                                           500, 503]))
            if 300 <= status < 400:
                headers.append(("Location", "http://169.254.169.254/latest/meta-data"))
        elif choice == "headers":
            # Latin-1 bytes: "²" is what a header can carry that str.isdigit() calls a digit.
            headers += [(name, draw(st.sampled_from(["²", "-1", "99999999999999999999", "",
                                                     "abc", "1e9", "<http://x>; rel=\"next\""]))
                         .encode("latin-1"))
                        for name in ("X-WP-TotalPages", "X-WP-Total", "Link", "Retry-After",
                                     "X-Shop-Api-Calls", "X-Shop-Api-Limit",
                                     "X-Shop-Api-Bandwidth")]
        return httpx.Response(status, headers=headers, content=body)

    return spoil


# -- the platforms ------------------------------------------------------------------------------


@functools.cache
def _allegro_tenant() -> Engine:
    """One real tenant DB (SQLite) for Allegro's connector state in this process: the seller's
    tokens and the offers we ended. Each example writes a fresh token pair into it."""
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp(prefix='hostile-allegro-')}/tenant.db")
    create_erp_schema(engine)
    upgrade(engine, TENANT)
    return engine


ALLEGRO_BOX = SecretBox(Fernet.generate_key())


def allegro_state(sandbox: Any, engine: Engine | None = None) -> SqlConnectorState:
    """A state holding tokens the example's fresh sandbox issued, and no ended offers."""
    engine = engine if engine is not None else _allegro_tenant()
    with engine.begin() as conn:
        conn.execute(delete(sync_ended_offers))
    state = SqlConnectorState(engine, 1, box=lambda: ALLEGRO_BOX)
    issued = sandbox.issue_tokens()
    state.save_tokens(OAuthTokens(issued["access_token"], issued["refresh_token"],
                                  datetime.now(UTC) + timedelta(hours=12)), replaces=None)
    return state


def _harness(platform: str) -> Any:
    return importlib.import_module(f"tests.platforms.harness_{platform}").make_harness()


class Platform:
    """A seeded sandbox and what the calls need: SKUs, shop ids, order ids, a status."""

    def __init__(self, platform: str) -> None:
        self.harness = _harness(platform)
        self.platform = platform
        self.skus = [f"HX-{platform[:3]}-{n}" for n in range(4)]
        self.ids = [self.harness.add_product(sku=sku, name=f"Produkt {n} żółć", stock=n + 1,
                                             price_gross=Decimal("12.30") + n)
                    for n, sku in enumerate(self.skus)]
        self.orders = [self.harness.add_order(sku_lines=[(self.skus[0], 2, Decimal("12.30")),
                                                         (self.skus[1], 1, Decimal("13.30"))],
                                              email=f"kupiec{n}@example.pl") for n in range(3)]

    def client(self, transport: httpx.BaseTransport) -> Any:
        harness = self.harness
        conn = ShopConnection(1, self.platform, BASE_URL, harness.api_key, harness.api_secret,
                              shop_timezone=harness.shop_timezone)
        extra: dict[str, Any] = {}
        if self.platform == "shoper":
            from workers.shops.shoper.auth import TokenCache

            extra["tokens"] = TokenCache()  # a spoiled token must not outlive its example
        if self.platform == "allegro":
            # The seller's tokens from the tenant DB; a gate of its own, since a spoiled 429
            # must not close the process-wide one for the next example.
            extra["state"] = allegro_state(harness.sandbox)
            extra["gate"] = RateGate(sleep=lambda _s: None)
            extra["poll_for"] = 0.0
        client = connector_class(self.platform)(conn, transport=transport,
                                                sleep=lambda _s: None, **extra)
        client.http.max_body_bytes = BODY_CAP
        client.page_size = 2  # several pages even from this small shop: paging is exercised
        return client

    def products(self) -> list[Product]:
        return [Product(sku=sku, name=f"Nowa nazwa {n} 🦄", price_gross=Decimal("19.99"),
                        vat_rate=Decimal("23.00"), shop_id=shop_id, ean="5901234123457",
                        weight_kg=Decimal("0.5"), description="<b>opis</b>")
                for n, (sku, shop_id) in enumerate(zip(self.skus, self.ids, strict=True))]


PLATFORMS = ["woocommerce", "prestashop", "shoper", "idosell", "allegro"]


@pytest.fixture(params=PLATFORMS)
def platform(request: pytest.FixtureRequest) -> str:
    return request.param


def _drain(pages: Iterator[Page[Any]], check: Callable[[Any], None]) -> None:
    for page in pages:
        for item in page.items:
            check(item)
        for error in page.errors:
            assert isinstance(error.key, str) and isinstance(error.message, str)


def _results(results: list[ItemResult], sent: int) -> None:
    assert len(results) == sent
    for result in results:
        assert isinstance(result, ItemResult) and isinstance(result.key, str)
        assert result.ok or isinstance(result.error, str)


DAYS_2 = timedelta(days=2)
CALLS: dict[str, Callable[[Any, Platform], None]] = {
    "iter_orders": lambda c, p: _drain(c.iter_orders(_now() - DAYS_2, _now()), check_order),
    "iter_products_full": lambda c, p: _drain(c.iter_products(None, _now()), check_product),
    "iter_products_delta": lambda c, p: _drain(c.iter_products(_now() - DAYS_2, _now()),
                                               check_product),
    "find_products_by_sku": lambda c, p: c.find_products_by_sku([*p.skus, "NIE-MA"]),
    "create_products": lambda c, p: _results(c.create_products(
        [Product(sku=f"NEW-{n}", name="Nowy", price_gross=Decimal("1.00"),
                 vat_rate=Decimal("23.00")) for n in range(2)]), 2),
    "update_products": lambda c, p: _results(c.update_products(p.products()), len(p.skus)),
    "set_stock": lambda c, p: _results(c.set_stock(
        [StockQuantity(sku, 7, shop_id=shop_id)
         for sku, shop_id in zip(p.skus, p.ids, strict=True)]),
        len(p.skus)),
    "set_order_statuses": lambda c, p: _results(c.set_order_statuses(
        [StatusChange(n, oid, p.harness.status_map["shipped"], 4)
         for n, oid in enumerate(p.orders)]), len(p.orders)),
}


#: The windows' end, fixed for the whole module: hypothesis replays an example later and must
#: see the very same calls and answers, so nothing may depend on the moment of the call. Ahead
#: of every order the examples place "now", however long the suite runs before them.
WINDOW_END = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)


def _now() -> datetime:
    return WINDOW_END


@pytest.mark.parametrize("call", list(CALLS))
def test_a_hostile_shop_fails_the_call_only_with_shop_error(platform: str, call: str) -> None:
    run = CALLS[call]

    @hostile(max_examples=50)
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        # A fresh shop per example (about a millisecond): writes change its state, and
        # hypothesis must be able to replay an example against the same answers.
        shop = Platform(platform)
        spoil = data.draw(tamperer())
        client = shop.client(InProcess(shop.harness.sandbox, spoil))
        try:
            run(client, shop)
        except ShopError:
            pass  # the run fails with this one clear line: allowed
        finally:
            client.close()

    check()


@pytest.mark.parametrize("call", list(CALLS))
def test_an_honest_shop_answers_every_call(platform: str, call: str) -> None:
    """The same calls without tampering succeed (the property above is not vacuous)."""
    shop = Platform(platform)
    client = shop.client(InProcess(shop.harness.sandbox))
    with client:
        CALLS[call](client, shop)


# -- Vendure: no sandbox of ours (its suite runs a real server), so a small fake Admin API ------


def vendure_api(request: httpx.Request) -> httpx.Response:
    body = orjson.loads(request.content)
    query: str = body["query"]
    if "IluoChannel" in query:
        data = {"activeChannel": {"id": "1", "defaultLanguageCode": "pl",
                                  "defaultCurrencyCode": "PLN", "pricesIncludeTax": True,
                                  "defaultTaxZone": {"id": "1"}},
                "taxRates": {"items": [{"value": 23, "enabled": True, "zone": {"id": "1"},
                                        "category": {"id": "1", "isDefault": True}}]},
                "stockLocations": {"items": [{"id": "1"}]}}
    elif "IluoOrder" in query:  # orders, order ids, closed orders' stamps
        skip = body["variables"]["options"]["skip"]
        data = {"orders": {"totalItems": 2, "items": [] if skip else [
            VENDURE_ORDER, {**VENDURE_ORDER, "id": "8", "updatedAt": "2026-01-05T10:00:04.000Z"}]}}
    elif "IluoVariants" in query or "IluoProducts" in query:
        skip = body["variables"]["options"]["skip"]
        field = "productVariants" if "IluoVariants" in query else "products"
        items = [] if skip else ([VENDURE_VARIANT] if field == "productVariants" else [])
        data = {field: {"totalItems": len(items), "items": items}}
    else:
        data = {}
    return httpx.Response(200, json={"data": data})


VENDURE_CALLS = ["orders", "products_full", "products_delta", "fetch_orders", "fetch_products",
                 "order_ids"]


def _vendure_call(call: str, spoil: Callable[[httpx.Response], httpx.Response] | None) -> int:
    """Run one read against the fake Admin API; the number of items and ids it gave."""
    conn = ShopConnection(1, "vendure", "http://vendure.test", "api-key-hostile", None)
    client = VendureClient(conn, transport=InProcess(vendure_api, spoil), sleep=lambda _s: None)
    client.http.max_body_bytes = BODY_CAP
    since = datetime(2026, 1, 1, tzinfo=UTC)
    got: list[Any] = []
    try:
        if call == "orders":
            got = list(client.iter_orders(since, since + timedelta(days=30)))
            _drain(iter(got), check_order)
        elif call == "fetch_orders":
            got = [client.fetch_orders(["7", "8", "9"])]
            _drain(iter(got), check_order)
        elif call == "fetch_products":
            got = [client.fetch_products(["5", "6"])]
            _drain(iter(got), check_product)
        elif call == "order_ids":
            ids = list(client.iter_order_ids(since, since + timedelta(days=14)))
            assert all(isinstance(i, str) and i for page in ids for i in page)
            return sum(len(page) for page in ids)
        else:
            got = list(client.iter_products(since if call == "products_delta" else None,
                                            since + timedelta(days=30)))
            _drain(iter(got), check_product)
    finally:
        client.close()
    return sum(len(page.items) for page in got)


@pytest.mark.parametrize("call", VENDURE_CALLS)
def test_an_honest_vendure_answers_every_read(call: str) -> None:
    """The reads below without tampering give items (the property is not vacuous)."""
    assert _vendure_call(call, None) > 0


def test_a_hostile_vendure_fails_reads_only_with_shop_error() -> None:
    @hostile(max_examples=60)
    @given(data=st.data(), call=st.sampled_from(VENDURE_CALLS))
    def check(data: st.DataObject, call: str) -> None:
        try:
            _vendure_call(call, data.draw(tamperer()))
        except ShopError:
            pass

    check()


# -- what the long (random, 2000-example) runs found, kept as fixed regressions -------------------


def _edit_json(edit: Callable[[Any], Any]) -> Callable[[httpx.Response], httpx.Response]:
    def spoil(response: httpx.Response) -> httpx.Response:
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return response
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=headers,
                              content=orjson.dumps(edit(data)))

    return spoil


def _woo_year_one(data: Any) -> Any:
    """The last order of a full page stamped in year 1: the next keyset bound would be
    one second before 0001-01-01 (OverflowError)."""
    if isinstance(data, list) and len(data) >= 2 and isinstance(data[-1], dict):
        data[-1]["date_modified_gmt"] = "0001-01-01T00:00:00"
    return data


def _presta_country_none(data: Any) -> Any:
    """Addresses whose id_country is missing: the country lookup sorted "None" as a number."""
    for row in (data.get("addresses") or []) if isinstance(data, dict) else []:
        row["id_country"] = None
    return data


def _presta_group_junk(data: Any) -> Any:
    """A tax rule group whose id is an object: Catalog.group_for sorted it with int()."""
    if isinstance(data, dict) and isinstance(data.get("tax_rule_groups"), list):
        data["tax_rule_groups"].append({"id": {"": None}, "active": "1"})
    if isinstance(data, dict) and isinstance(data.get("tax_rules"), list):
        data["tax_rules"].append({"id_tax_rules_group": "{'': None}", "id_state": "0",
                                  "id_tax": "1"})
    return data


@pytest.mark.parametrize("name, call, edit", [
    ("woocommerce", "iter_orders", _woo_year_one),
    ("prestashop", "iter_orders", _presta_country_none),
    ("prestashop", "update_products", _presta_group_junk),
])
def test_found_by_the_long_runs(name: str, call: str, edit: Any) -> None:
    shop = Platform(name)
    client = shop.client(InProcess(shop.harness.sandbox, _edit_json(edit)))
    with client:
        try:
            CALLS[call](client, shop)
        except ShopError:
            pass
