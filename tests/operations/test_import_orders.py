"""import_orders against the WooCommerce sandbox over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import Engine, insert, select, update

from shared.erp.schema import customers, order_lines, order_statuses, orders
from shared.erp.sync_tables import sync_events, sync_sent
from tests.engine.support import (
    Shop,
    ago,
    count,
    cursor,
    events,
    no_sleep_factory,
    point_at,
    rows,
    run,
)
from workers.engine.store import SqlErpUnit, order_number

OP = "import_orders"


def status_code(engine: Engine, external_id: str) -> str:
    stmt = (select(order_statuses.c.code)
            .select_from(orders.join(order_statuses, orders.c.status_id == order_statuses.c.id))
            .where(orders.c.external_id == external_id))
    return rows(engine, stmt)[0].code


def test_happy_path_creates_orders_customers_lines(erp: Engine, woo: Shop) -> None:
    shop = woo.sandbox
    for sku in ("DEMO-0001", "DEMO-0002", "DEMO-0003"):
        shop.add_product(sku=sku, name=f"Produkt {sku}", regular_price="12.30")
    paid = shop.add_order([("DEMO-0001", 2, "12.30"), ("DEMO-0002", 1, "5.00")],
                          email="anna@example.com", status="processing", created=ago(minutes=9))
    pending = shop.add_order([("NO-SUCH-SKU", 1, "9.99")], email="Anna@Example.com",
                             status="pending", created=ago(minutes=8))
    other = shop.add_order([("DEMO-0003", 3, "1.00")], email="piotr@example.com",
                           status="on-hold", created=ago(minutes=7))

    result = run(erp, OP)

    assert result.outcome == "ok", result.error
    assert result.counts["read"] == 3 and result.counts["created"] == 3
    assert count(erp, orders) == 3
    assert count(erp, customers) == 2  # anna matched case-insensitively
    assert status_code(erp, str(paid["id"])) == "in_progress"  # processing → in_progress
    assert status_code(erp, str(pending["id"])) == "new"  # pending → new (mapped)
    assert status_code(erp, str(other["id"])) == "new"  # on-hold: unmapped → new
    row = rows(erp, select(orders).where(orders.c.external_id == str(paid["id"])))[0]
    assert row.number == order_number(1, str(paid["id"])) and row.is_paid
    assert row.total_gross == Decimal(paid["total"])
    assert row.ordered_at == datetime.fromisoformat(paid["date_created_gmt"])
    lines = rows(erp, select(order_lines).where(order_lines.c.order_id == row.id)
                 .order_by(order_lines.c.line_no))
    assert [(line.sku, line.product_id, line.quantity) for line in lines] == [
        ("DEMO-0001", 1, Decimal("2.000")), ("DEMO-0002", 2, Decimal("1.000"))]
    # A product the shop does not carry: WooCommerce keeps the line's name but has no SKU for
    # it (the SKU comes from the product); the line comes in without a product, with a warning.
    unknown = rows(erp, select(order_lines).where(order_lines.c.name == "NO-SUCH-SKU"))
    assert len(unknown) == 1 and unknown[0].product_id is None and unknown[0].sku == ""
    warnings = events(erp, sync_events.c.kind == "unknown_sku")
    assert len(warnings) == 1 and warnings[0].level == "warning"
    assert "NO-SUCH-SKU" in warnings[0].message and "no SKU" in warnings[0].message
    # The status each order came in with counts as sent: nothing to echo back.
    assert count(erp, sync_sent, sync_sent.c.kind == "order_status") == 3
    assert woo.writes() == 0


def test_second_run_writes_nothing_and_creates_nothing(erp: Engine, woo: Shop) -> None:
    woo.add_orders(5)
    assert run(erp, OP).counts["created"] == 5
    first_cursor = cursor(erp, OP)
    writes = woo.writes()

    again = run(erp, OP)

    assert again.outcome == "ok"
    assert again.counts["created"] == 0 and again.counts["updated"] == 0
    assert count(erp, orders) == 5
    assert woo.writes() == writes == 0
    assert cursor(erp, OP) >= first_cursor


def test_existing_erp_customer_matched_by_email(erp: Engine, woo: Shop) -> None:
    now = datetime(2024, 1, 1)
    with erp.begin() as conn:
        conn.execute(insert(customers).values(
            email="Jan.Kowalski@Example.COM", first_name="Jan", last_name="Kowalski",
            street="Długa 1", city="Gdańsk", postcode="80-001", country_code="PL",
            created_at=now, updated_at=now))
    woo.sandbox.add_order([("DEMO-0001", 1, "1.00")], email="jan.kowalski@example.com",
                          created=ago(minutes=5))

    assert run(erp, OP).counts["created"] == 1
    assert count(erp, customers) == 1


def test_250_orders_over_pages_then_cursor_at_window_end(erp: Engine, woo: Shop) -> None:
    woo.add_orders(250, start=ago(minutes=30))

    result = run(erp, OP)

    assert result.outcome == "ok", result.error
    assert result.counts["created"] == 250 and count(erp, orders) == 250
    assert woo.reads("/wp-json/wc/v3/orders") == 3  # ceil(250 / 100) pages
    assert cursor(erp, OP) >= result.started_at.replace(microsecond=0) - timedelta(seconds=2)


def test_change_in_shop_updates_paid_and_status_while_new(erp: Engine, woo: Shop) -> None:
    order = woo.sandbox.add_order([("DEMO-0001", 1, "1.00")], status="pending",
                                  created=ago(minutes=5))
    run(erp, OP)
    external = str(order["id"])
    assert status_code(erp, external) == "new"
    # The shop's clock a little behind, so the edit is inside the next window's end.
    woo.sandbox.now = lambda: datetime.now(UTC) - timedelta(seconds=30)

    woo.sandbox.update_order(order["id"], status="processing")  # paid in the shop
    result = run(erp, OP)

    assert result.counts["updated"] == 1, result
    row = rows(erp, select(orders).where(orders.c.external_id == external))[0]
    assert row.is_paid and status_code(erp, external) == "in_progress"
    # The status taken from the shop counts as sent: update_order_statuses will not echo it.
    sent = rows(erp, select(sync_sent.c.fingerprint).where(sync_sent.c.erp_id == row.id,
                                                           sync_sent.c.kind == "order_status"))
    assert sent[0].fingerprint == str(row.status_id)
    # Once the ERP has moved the order on, the shop no longer drives its status.
    with erp.begin() as conn:
        conn.execute(update(orders).where(orders.c.id == row.id).values(status_id=4))  # shipped
    woo.sandbox.update_order(order["id"], status="cancelled")
    assert run(erp, OP).counts["updated"] == 0
    assert status_code(erp, external) == "shipped"


def test_order_modified_during_the_run_is_neither_lost_nor_doubled(erp: Engine, woo: Shop) -> None:
    made = woo.add_orders(250, start=ago(minutes=30), status="pending")
    touched = made[10]["id"]  # on page 1, already committed when it changes
    woo.sandbox.now = lambda: datetime.now(UTC) - timedelta(seconds=5)

    def edit_once(done: int, _total: int | None) -> None:
        if done == 100:  # page 1 committed; the edit moves the order to the tail of the set
            woo.sandbox.update_order(touched, status="processing")

    first = run(erp, OP, progress=edit_once)
    assert first.outcome == "ok", first.error
    assert count(erp, orders) == 250  # no row skipped by the others shifting up a place
    second = run(erp, OP)
    assert second.outcome == "ok"
    assert count(erp, orders) == 250  # and nothing doubled
    assert first.counts["updated"] + second.counts["updated"] == 1
    assert status_code(erp, str(touched)) == "in_progress"


def test_site_timezone_far_from_utc(erp_db: Engine) -> None:
    from tests.engine.support import KEY, SECRET, Shop
    from workers.shops.woocommerce.sandbox import WooCommerceSandbox

    sandbox = WooCommerceSandbox(KEY, SECRET, site_timezone="Pacific/Auckland")
    with sandbox.serve() as handle:
        shop = Shop(sandbox, handle)
        point_at(erp_db, shop)
        # Auckland is UTC+12/+13: the site's local time is "tomorrow" for most of a UTC day.
        shop.add_orders(3, start=ago(minutes=20))
        assert run(erp_db, OP).counts["created"] == 3
        # An order committed late inside the overlap of the previous window still arrives.
        late = sandbox.add_order([("DEMO-0001", 1, "1.00")],
                                 created=cursor(erp_db, OP) - timedelta(seconds=30))
        result = run(erp_db, OP)
        assert result.counts["created"] == 1, result
        row = rows(erp_db, select(orders).where(orders.c.external_id == str(late["id"])))[0]
        assert row.ordered_at == datetime.fromisoformat(late["date_created_gmt"])


def test_first_run_starts_at_orders_since_or_30_days(erp: Engine, woo: Shop) -> None:
    woo.add_orders(1, start=ago(days=40))
    woo.add_orders(1, start=ago(days=20))
    assert run(erp, OP).counts["created"] == 1  # 30 days back
    with erp.begin() as conn:
        conn.execute(update(orders).values(status_id=1))
    from shared.erp.schema import shop_integrations
    from shared.erp.sync_tables import sync_cursors
    with erp.begin() as conn:
        conn.execute(sync_cursors.delete())
        conn.execute(update(shop_integrations).values(
            orders_since=(datetime.now(UTC) - timedelta(days=50)).replace(tzinfo=None)))
    assert run(erp, OP).counts["created"] == 1  # the older one; the newer is unchanged
    assert count(erp, orders) == 2


# -- failures: faults, interruptions, bad input ----------------------------------------------


def test_faults_converge_to_exactly_the_right_orders(erp: Engine, woo: Shop) -> None:
    woo.add_orders(250, start=ago(minutes=30))
    woo.sandbox.faults.configure({"error_rate": 0.15, "rate_limit_rate": 0.10, "seed": 7})

    outcomes = [run(erp, OP) for _ in range(6)]

    assert any(r.outcome == "ok" for r in outcomes), [r.error for r in outcomes]
    assert woo.sandbox.log.count(status=429) > 0 and woo.sandbox.log.count(status=503) + \
        woo.sandbox.log.count(status=500) + woo.sandbox.log.count(status=502) > 0
    assert count(erp, orders) == 250
    assert count(erp, order_lines) == 250
    assert sum(r.counts["created"] for r in outcomes) == 250


def test_shop_failing_on_page_2_keeps_page_1_and_its_cursor(erp: Engine, woo: Shop) -> None:
    made = woo.add_orders(250, start=ago(minutes=30))

    def break_after_page_1(done: int, _total: int | None) -> None:
        if done == 100:
            woo.sandbox.faults.fail_next(20, 503)

    broken = run(erp, OP, progress=break_after_page_1)

    assert broken.outcome == "failed" and "503" in (broken.error or "")
    assert count(erp, orders) == 100
    page1_last = datetime.fromisoformat(made[99]["date_modified_gmt"]).replace(tzinfo=UTC)
    assert cursor(erp, OP) == page1_last  # where the last commit left it
    woo.sandbox.faults.clear()
    again = run(erp, OP)
    assert again.outcome == "ok" and again.counts["created"] == 150
    assert count(erp, orders) == 250


def test_crash_in_the_middle_of_page_2_leaves_no_half_page(
    erp: Engine, woo: Shop, monkeypatch
) -> None:
    woo.add_orders(250, start=ago(minutes=30), email="stały.klient@example.com")
    real_add_order = SqlErpUnit.add_order
    calls = {"n": 0}

    def crashing_add_order(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 150:
            raise RuntimeError("worker killed")
        return real_add_order(self, *args, **kwargs)

    monkeypatch.setattr(SqlErpUnit, "add_order", crashing_add_order)
    broken = run(erp, OP)
    monkeypatch.setattr(SqlErpUnit, "add_order", real_add_order)

    assert broken.outcome == "failed" and "worker killed" in (broken.error or "")
    assert count(erp, orders) == 100 and count(erp, customers) == 1
    again = run(erp, OP)
    assert again.outcome == "ok", again.error
    assert count(erp, orders) == 250 and count(erp, order_lines) == 250
    assert len({r.external_id for r in rows(erp, select(orders.c.external_id))}) == 250


class Tamper(httpx.BaseTransport):
    """Real HTTP to the sandbox, except where `answer` returns something for a request."""

    def __init__(self, answer) -> None:  # type: ignore[no-untyped-def]
        self.real = httpx.HTTPTransport()
        self.answer = answer
        self.seen = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        forged = self.answer(request, self.seen)
        if forged is not None:
            if isinstance(forged, Exception):
                raise forged
            return forged
        return self.real.handle_request(request)

    def close(self) -> None:
        self.real.close()


def test_page_that_is_not_json_fails_the_run_cleanly(erp: Engine, woo: Shop) -> None:
    woo.add_orders(150, start=ago(minutes=30))

    def html_on_second_page(request: httpx.Request, n: int) -> httpx.Response | None:
        if n == 2:
            return httpx.Response(200, content=b"<html>Maintenance</html>",
                                  headers={"Content-Type": "text/html"})
        return None

    result = run(erp, OP, shop_factory=no_sleep_factory(Tamper(html_on_second_page)))

    assert result.outcome == "failed" and "not JSON" in (result.error or "")
    assert count(erp, orders) == 100  # page 1 committed, nothing of page 2
    failure = events(erp, sync_events.c.kind == "run_failed")
    assert len(failure) == 1 and "not JSON" in failure[0].message


def test_timeout_fails_the_run_with_a_clear_message(erp: Engine, woo: Shop) -> None:
    woo.add_orders(2)
    always_timeout = Tamper(lambda request, n: httpx.ReadTimeout("timed out", request=request))

    result = run(erp, OP, shop_factory=no_sleep_factory(always_timeout))

    assert result.outcome == "failed"
    assert "ReadTimeout" in (result.error or "") and "attempts" in (result.error or "")
    assert count(erp, orders) == 0 and cursor(erp, OP) is None


def test_wrong_key_fails_the_run_and_writes_nothing(erp: Engine, woo: Shop) -> None:
    woo.add_orders(2)
    point_at(erp, woo, secret="cs_wrong_secret_value")

    result = run(erp, OP)

    assert result.outcome == "failed" and "401" in (result.error or "")
    assert "cs_wrong_secret_value" not in (result.error or "")
    assert count(erp, orders) == 0 and cursor(erp, OP) is None


def test_malformed_orders_are_item_errors_and_the_rest_imports(erp: Engine, woo: Shop) -> None:
    good, no_lines, negative, no_currency = woo.add_orders(4)
    with woo.sandbox.lock:
        del woo.sandbox.orders[no_lines["id"]]["line_items"]
        woo.sandbox.orders[negative["id"]]["line_items"][0]["quantity"] = -1
        woo.sandbox.orders[no_currency["id"]]["currency"] = ""

    result = run(erp, OP)

    # An order without lines is one the ERP can hold (with a warning); the other two would make
    # ERP rows wrong: kept as needing attention, the run partial.
    assert result.outcome == "partial"
    assert result.kept is not None and (result.kept.retry, result.kept.attention) == (0, 2)
    assert result.counts["created"] == 2 and result.counts["failed"] == 2
    assert sorted(r.external_id for r in rows(erp, select(orders.c.external_id))) == sorted(
        [str(good["id"]), str(no_lines["id"])])
    [warning] = events(erp, sync_events.c.kind == "no_lines")
    assert warning.item == str(no_lines["id"])
    errors = {e.item: e.message for e in events(erp, sync_events.c.kind == "item_error")}
    assert "quantity" in errors[str(negative["id"])]
    assert "currency" in errors[str(no_currency["id"])]


def test_order_the_erp_refuses_is_an_item_error_not_a_half_write(erp: Engine, woo: Shop) -> None:
    # An ERP order already holds the number our import would give (someone typed it by hand).
    first, _second = woo.add_orders(2)
    with erp.begin() as conn:
        conn.execute(insert(customers).values(
            email="x@example.com", first_name="", last_name="", street="", city="", postcode="",
            country_code="PL", created_at=datetime(2024, 1, 1), updated_at=datetime(2024, 1, 1)))
        conn.execute(insert(orders).values(
            number=order_number(1, str(first["id"])), integration_id=1, external_id="manual-1",
            customer_id=1, status_id=1, currency="PLN", total_gross=1, shipping_gross=0,
            is_paid=False, ordered_at=datetime(2024, 1, 1), created_at=datetime(2024, 1, 1),
            updated_at=datetime(2024, 1, 1)))

    result = run(erp, OP)

    assert result.outcome == "partial"
    assert result.counts == {**result.counts, "created": 1, "failed": 1}
    assert count(erp, orders) == 2 and count(erp, customers) == 2  # no orphan customer/lines
    assert count(erp, order_lines) == 1
