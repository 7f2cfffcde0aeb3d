"""Hostile data through whole runs: poison items are item errors, the good ones commit.

Two shop sides: a stub shop handing the engine domain objects whose values cannot fit the
ERP (a 300-character SKU, a name over 255, a price beyond numeric(12,2), a quantity beyond
numeric(12,3), NaN, NUL characters) — on SQLite and PostgreSQL, which disagree about what fits;
and each platform's real connector over its sandbox with one order and one product spoiled on
the wire. Either way the run ends "ok", the good items are in the ERP, each bad one is an
item error with a readable message, and the cursor moves past them (a poison item must not
block the tenant's sync forever).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select, update

from shared.erp import retry_set
from shared.erp import schema as erp
from shared.erp.sync_tables import sync_cursors, sync_events
from tests.engine.support import events
from tests.security.support import TEXTS, hostile
from tests.security.test_hostile_clients import BASE_URL, InProcess, Platform, allegro_state
from workers.domain import Customer, ItemError, Order, OrderLine, Page, Product
from workers.runner import RunResult, run_operation
from workers.shops import connector_class
from workers.shops.allegro.rate import RateGate

NOW = datetime.now(UTC).replace(microsecond=0)
NUMERIC_12_2_OVER = Decimal("10000000000")  # 11 whole digits


class StubShop:
    """A ShopClient serving fixed pages of domain objects (what a connector could hand over)."""

    platform = "stub"
    page_size = 100
    batch_size = 100

    def __init__(self, *, orders: Sequence[Order] = (), products: Sequence[Product] = (),
                 errors: Sequence[ItemError] = ()) -> None:
        self.orders, self.products, self.errors = list(orders), list(products), list(errors)

    def iter_orders(self, since: datetime, until: datetime) -> Iterator[Page[Order]]:
        yield Page(items=self.orders, errors=self.errors)

    def iter_products(self, since: datetime | None, until: datetime) -> Iterator[Page[Product]]:
        yield Page(items=self.products, errors=self.errors)

    def close(self) -> None:
        pass


def run(engine: Engine, op: str, shop: Any) -> RunResult:
    return run_operation(engine, 1, op, holder="hostile", shop_factory=lambda conn: shop)


def enable_import_products(engine: Engine) -> None:
    ops = erp.shop_integration_operations
    with engine.begin() as conn:
        conn.execute(update(ops).where(ops.c.operation == "export_products").values(enabled=False))


def item_errors(engine: Engine) -> dict[str, str]:
    return {e.item: e.message for e in events(engine, sync_events.c.kind == "item_error")}


# -- products -----------------------------------------------------------------------------------


def product(sku: str, **changes: Any) -> Product:
    fields: dict[str, Any] = dict(sku=sku, name=f"Produkt {sku}", price_gross=Decimal("10.00"),
                                  shop_id=f"id-{sku[:20]}", modified_at=NOW - timedelta(minutes=5))
    fields.update(changes)
    return Product(**fields)


POISON_PRODUCTS = {
    "SKU over 64": product("S" * 300, shop_id="p1"),
    "name over 255": product("LONG-NAME", name="N" * 300),
    "price over numeric(12,2)": product("BIG-PRICE", price_gross=NUMERIC_12_2_OVER),
    "price 1e30": product("HUGE-PRICE", price_gross=Decimal("1e30")),
    "price NaN": product("NAN-PRICE", price_gross=Decimal("NaN")),
    "negative price": product("NEG-PRICE", price_gross=Decimal("-0.01")),
    "VAT over numeric(5,2)": product("BIG-VAT", vat_rate=Decimal("1000")),
    "weight over numeric(10,3)": product("BIG-WEIGHT", weight_kg=Decimal("1e7")),
    "NUL in name": product("NUL-NAME", name="a\x00b"),
    "NUL in SKU": product("NUL\x00SKU"),
    "NUL in description": product("NUL-DESC", description="x\x00y"),
    "EAN over 14": product("LONG-EAN", ean="1" * 20),
}
GOOD_PRODUCTS = [
    product("GOOD-1"),
    product("GOOD-2 'żółć'; --", name="Kubek \"🦄\" \\ ; DROP TABLE products; --",
            price_gross=Decimal("9999999999.99"), weight_kg=Decimal("9999999.999"),
            vat_rate=Decimal("999.99"), description="<p>opis</p>" * 100),
]


def test_products_that_do_not_fit_the_erp_are_item_errors(erp_db: Engine) -> None:
    enable_import_products(erp_db)
    poison = list(POISON_PRODUCTS.values())
    shop = StubShop(products=[GOOD_PRODUCTS[0], *poison, GOOD_PRODUCTS[1]],
                    errors=[ItemError("77", "price is not a usable number: 'NaN'")])
    result = run(erp_db, "import-products", shop)

    assert result.outcome == "partial", result.error
    assert result.counts["created"] == 2 and result.counts["failed"] == len(poison) + 1
    with erp_db.connect() as conn:
        skus = set(conn.execute(select(erp.products.c.sku)).scalars())
    assert {p.sku for p in GOOD_PRODUCTS} <= skus
    assert not {p.sku for p in poison} & skus
    messages = list(item_errors(erp_db).values())
    assert len(messages) == len(poison) + 1
    for expected in ("longer than 64", "longer than 255", "numeric(12,2)", "not a number",
                     "below 0", "numeric(5,2)", "numeric(10,3)", "NUL", "longer than 14"):
        assert any(expected in m for m in messages), (expected, messages)
    assert all("Error" not in m for m in messages)  # readable lines, not driver exceptions


@st.composite
def hostile_products(draw: st.DrawFn) -> list[Product]:
    numbers = st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True),
        st.sampled_from([Decimal("1e30"), Decimal("-0"), Decimal("9999999999.995"),
                         Decimal("1e-30"), Decimal("NaN"), Decimal("sNaN")]),
    )
    texts = st.one_of(st.text(max_size=300), st.sampled_from(TEXTS))
    return [
        Product(
            sku=draw(st.one_of(st.just(f"H-{n}"), texts)),
            name=draw(texts), price_gross=draw(numbers),
            vat_rate=draw(st.one_of(st.none(), numbers)),
            weight_kg=draw(st.one_of(st.none(), numbers)),
            ean=draw(st.one_of(st.none(), texts)), description=draw(st.one_of(st.none(), texts)),
            shop_id=f"s{n}", modified_at=NOW - timedelta(minutes=5))
        for n in range(draw(st.integers(min_value=1, max_value=6)))
    ]


# One backend is enough for the random part (the fixed cases run on both): SQLite only.
@pytest.mark.parametrize("erp_db", ["sqlite"], indirect=True)
def test_any_product_values_leave_the_run_ok(erp_db: Engine) -> None:
    """Whatever values reach the ERP side, the run completes (partial exactly when a product
    failed), every product is counted, and every failed one is kept in the retry set."""
    enable_import_products(erp_db)

    @hostile(max_examples=40)
    @given(items=hostile_products())
    def check(items: list[Product]) -> None:
        with erp_db.begin() as conn:  # each example starts from an empty catalogue
            conn.execute(delete(sync_events))
            conn.execute(delete(sync_cursors))
            conn.execute(delete(retry_set.sync_retry_items))
        result = run(erp_db, "import-products", StubShop(products=items))
        counts = result.counts
        assert result.outcome == ("partial" if counts["failed"] else "ok"), result.error
        done = counts["created"] + counts["updated"] + counts["unchanged"] + counts["failed"]
        assert done == counts["read"] == len(items)
        with erp_db.connect() as conn:
            kept = {k.shop_id for k in retry_set.listing(conn, 1)}
            failed = {e.shop_id for e in conn.execute(select(sync_events).where(
                sync_events.c.kind == "item_error"))}
        assert kept == failed

    check()


# -- orders -------------------------------------------------------------------------------------


def order(external_id: str, *, lines: tuple[OrderLine, ...] | None = None,
          customer: Customer | None = None, **changes: Any) -> Order:
    fields: dict[str, Any] = dict(
        external_id=external_id, status="processing", currency="PLN",
        total_gross=Decimal("24.60"), shipping_gross=Decimal("0"), is_paid=True,
        ordered_at=NOW - timedelta(minutes=5), modified_at=NOW - timedelta(minutes=5),
        customer=customer or Customer(email=f"k{external_id}@example.pl", first_name="Jan"),
        lines=lines or (OrderLine("DEMO-0001", "Kubek", Decimal("2"), Decimal("12.30")),))
    fields.update(changes)
    return Order(**fields)


def line(**changes: Any) -> tuple[OrderLine, ...]:
    fields: dict[str, Any] = dict(sku="DEMO-0001", name="Kubek", quantity=Decimal("1"),
                                  unit_price_gross=Decimal("12.30"), vat_rate=Decimal("23"))
    fields.update(changes)
    return (OrderLine(**fields),)


POISON_ORDERS = {
    "quantity over numeric(12,3)": order("q", lines=line(quantity=Decimal("1e9"))),
    "line price over numeric(12,2)": order("p", lines=line(unit_price_gross=NUMERIC_12_2_OVER)),
    "total NaN": order("n", total_gross=Decimal("NaN")),
    "total 1e30": order("t", total_gross=Decimal("1e30")),
    "VAT NaN": order("v", lines=line(vat_rate=Decimal("NaN"))),
    "e-mail over 255": order("e", customer=Customer(email="e" * 300 + "@example.pl")),
    "order id over 64": order("X" * 65),
    "quantity -1": order("z", lines=line(quantity=Decimal("-1"))),
}
#: Odd but holdable: the ERP row can still be right, so they import (with a warning where
#: something was made up): NUL leaves free texts, a line of zero is kept as the shop shows it.
LENIENT_ORDERS = {
    "NUL in street": order("s", customer=Customer(email="s@example.pl", street="a\x00b")),
    "NUL in a line name": order("l", lines=line(name="a\x00b")),
    "quantity -0": order("z0", lines=line(quantity=Decimal("-0"))),
    "no e-mail, no name on the line": order(
        "g", customer=Customer(email="", first_name="Ewa", street="Polna 1"),
        lines=line(name="", sku="")),
    "country POL": order("c", customer=Customer(email="c@example.pl", country_code="POL")),
}


def test_orders_that_do_not_fit_the_erp_are_item_errors(erp_db: Engine) -> None:
    poison = list(POISON_ORDERS.values())
    good = [order("good-1"),
            order("good-2", lines=line(sku="S" * 300, name="N" * 300, quantity=Decimal("0.001"),
                                       unit_price_gross=Decimal("9999999999.99")),
                  notes="'; DROP TABLE orders; --" * 100, payment_method="P" * 300)]
    lenient = list(LENIENT_ORDERS.values())
    result = run(erp_db, "import-orders",
                 StubShop(orders=[good[0], *poison, *lenient, good[1]]))

    assert result.outcome == "partial", result.error
    assert result.counts["created"] == 2 + len(lenient)
    assert result.counts["failed"] == len(poison)
    with erp_db.connect() as conn:
        imported = set(conn.execute(select(erp.orders.c.external_id)).scalars())
        cursor = conn.execute(select(sync_cursors.c.value)
                              .where(sync_cursors.c.name == "import_orders")).scalar()
        kept = {k.shop_id: k.state for k in retry_set.listing(conn, 1)}
        country = conn.execute(select(erp.customers.c.country_code)
                               .where(erp.customers.c.email == "c@example.pl")).scalar()
    assert imported == {"good-1", "good-2", *(o.external_id for o in lenient)}
    assert country == "PL"  # POL cannot be stored: the shop's country (Europe/Warsaw)
    # Every refused order is kept (what the ERP cannot hold as sent needs a person)...
    assert kept == {o.external_id[:64]: retry_set.ATTENTION for o in poison}
    assert cursor is not None  # ...so the poison did not hold the cursor back
    messages = item_errors(erp_db)
    assert len(messages) == len(poison)
    for expected in ("numeric(12,3)", "numeric(12,2)", "not a number", "longer than 255",
                     "too long", "must not be negative"):
        assert any(expected in m for m in messages.values()), (expected, messages)


# -- the real connectors, spoiled on the wire ---------------------------------------------------

POISON_EMAIL = "poison@example.pl"
POISON_SKU = "POISON-SKU"


def poison_wire(response: httpx.Response) -> httpx.Response:
    """Every string equal to the poison e-mail or SKU becomes a list: whatever the platform,
    that one order or product no longer has the documented shape."""
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if value in (POISON_EMAIL, POISON_SKU):
            return [value, {"evil": True}]
        return value

    headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
    return httpx.Response(response.status_code, headers=headers,
                          content=orjson.dumps(walk(data)))


def kept_ids(engine: Engine, operation: str) -> set[str]:
    with engine.connect() as conn:
        return {k.shop_id for k in retry_set.listing(conn, 1) if k.operation == operation}


@pytest.mark.parametrize("name", ["woocommerce", "prestashop", "shoper", "idosell", "allegro"])
def test_a_spoiled_order_and_product_do_not_stop_the_rest(name: str, erp_db: Engine) -> None:
    platform = Platform(name)
    harness = platform.harness
    bad_order = harness.add_order(sku_lines=[(platform.skus[0], 1, Decimal("12.30"))],
                                  email=POISON_EMAIL)
    harness.add_product(sku=POISON_SKU, name="Zatruty", price_gross=Decimal("1.00"), stock=1)
    with erp_db.begin() as conn:
        conn.execute(update(erp.shop_integrations).values(
            platform=name, base_url=BASE_URL, api_key=harness.api_key,
            api_secret=harness.api_secret, shop_timezone=harness.shop_timezone))
        conn.execute(delete(erp.shop_status_map))
    enable_import_products(erp_db)

    # Allegro's tokens come from the tenant DB: the seller has authorised the integration.
    extra = ({"state": allegro_state(harness.sandbox, erp_db),
              "gate": RateGate(sleep=lambda _s: None)} if name == "allegro" else {})

    def factory(conn: Any) -> Any:
        return connector_class(name)(conn, transport=InProcess(harness.sandbox, poison_wire),
                                     sleep=lambda _s: None, **extra)

    # A spoiled item either imports (a lenient mapping may read the spoiled field as missing)
    # or is kept for retry or attention: never neither. A run with a failed item is partial.
    orders_run = run_operation(erp_db, 1, "import-orders", holder="h", shop_factory=factory)
    assert orders_run.outcome == ("partial" if orders_run.counts["failed"] else "ok")
    assert orders_run.counts["failed"] + orders_run.counts["created"] == 4
    with erp_db.connect() as conn:
        imported = set(conn.execute(select(erp.orders.c.external_id)).scalars())
    if bad_order not in imported:
        assert bad_order in item_errors(erp_db) and bad_order in kept_ids(erp_db, "import_orders")

    products_run = run_operation(erp_db, 1, "import-products", holder="h", shop_factory=factory)
    assert products_run.outcome == "partial", products_run.error
    assert products_run.counts["failed"] == 1  # a SKU no one can read: kept, needing attention
    assert len(kept_ids(erp_db, "import_products")) == 1
    assert products_run.counts["created"] + products_run.counts["updated"] == len(platform.skus)
    with erp_db.connect() as conn:
        skus = set(conn.execute(select(erp.products.c.sku)).scalars())
    assert set(platform.skus) <= skus and not any("POISON" in s for s in skus)
