"""The whole path on real servers: the WooCommerce (or Shoper) sandbox fires its webhooks over
HTTP at the receiver under uvicorn, the receiver pokes the schedule in PostgreSQL and publishes
to RabbitMQ, an in-process dramatiq worker runs the real `import_orders` into the tenant's ERP
database. Waits are deadlines; the assertions are on outcomes and counts, never on time."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select, update

from app.webhooks.registration import check, register
from producers.tick import publish_due
from shared.control.schedule import ScheduleConfig, now_s
from shared.control.tables import schedules
from shared.erp.schema import orders
from shared.erp.sync_tables import sync_runs, sync_webhooks
from shared.telemetry.metrics import WEBHOOKS
from tests.webhooks.conftest import INTEGRATION, Hooked, Live
from tests.webhooks.harness import RealWorker, free_port


def in_erp(hooked: Hooked) -> Counter[str]:
    """How many ERP orders each shop order id has (the unique key says at most one)."""
    with hooked.erp.connect() as conn:
        return Counter(str(r.external_id) for r in conn.execute(
            select(orders.c.external_id).where(orders.c.integration_id == INTEGRATION)))


def import_runs(hooked: Hooked) -> int:
    with hooked.erp.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(sync_runs).where(
            sync_runs.c.operation == "import_orders")).scalar_one())


def last_received(hooked: Hooked) -> object:
    with hooked.erp.connect() as conn:
        return conn.execute(select(sync_webhooks.c.last_received_at)).scalar_one()


def test_a_burst_of_100_orders_is_at_most_two_runs_and_every_order_once(live: Live) -> None:
    hooked = live.hooked
    shop = hooked.shop
    shop.hooks.allow_local, shop.hooks.queue.delay = True, 0.2  # the receiver is on 127.0.0.1
    register(hooked.registry, hooked.tenant, INTEGRATION, live.url, allow_local=True)
    placed = [str(shop.add_order([("DEMO-0001", 1, "19.99")])["id"]) for _ in range(100)]

    assert hooked.wait(lambda: set(placed) <= set(in_erp(hooked)), timeout=180), \
        "not every order of the burst reached the ERP"
    assert hooked.wait(live.settled, timeout=120)
    counts = in_erp(hooked)
    assert {order: counts[order] for order in placed} == dict.fromkeys(placed, 1)
    assert 1 <= import_runs(hooked) <= 2
    delivered = [d for d in shop.hooks.deliveries if d.topic in ("order.created",
                                                                "order.updated")]
    assert len(delivered) == 200 and {d.status for d in delivered} == {200}
    assert last_received(hooked) is not None  # shown by `integrations` and the console


@contextmanager
def polling(hooked: Hooked) -> Iterator[None]:
    """The clock, every fraction of a second instead of every few minutes: whenever the row is
    idle it is made due and the tick's own claim publishes it (polling as deployed, faster)."""
    stop = threading.Event()
    config = ScheduleConfig.from_env()
    s = schedules.c

    def tick() -> None:
        while not stop.wait(0.3):
            now = now_s()
            with hooked.registry.engine.begin() as conn:
                conn.execute(update(schedules).where(
                    s.tenant_id == hooked.tenant.id, s.operation == "import_orders",
                    s.queued_at.is_(None), s.running_since.is_(None)).values(next_due_at=now))
            publish_due(hooked.registry.engine, hooked.broker, now, config,
                        tenant_id=hooked.tenant.id)

    clock = threading.Thread(target=tick, name="polling", daemon=True)
    clock.start()
    try:
        yield
    finally:
        stop.set()
        clock.join(timeout=30)


def test_with_the_receiver_down_polling_imports_every_order_exactly_once(
    hooked: Hooked, worker: RealWorker,
) -> None:
    shop = hooked.shop
    shop.hooks.allow_local, shop.hooks.queue.delay = True, 0.0
    # Registered, but nothing listens there: every delivery fails, as with the receiver down.
    register(hooked.registry, hooked.tenant, INTEGRATION, f"http://127.0.0.1:{free_port()}",
             allow_local=True)
    placed: list[str] = []
    with polling(hooked):
        for n in range(30):  # spread over a few runs, some placed while one is under way
            order = shop.add_order([("DEMO-0001", 1, "19.99")])
            placed.append(str(order["id"]))
            if n % 3 == 0:  # changed after placing: read again by later runs, never doubled
                shop.update_order(order["id"], customer_note=f"note {n}")
            time.sleep(0.1)
        assert hooked.wait(lambda: set(placed) <= set(in_erp(hooked)), timeout=180), \
            "polling did not bring every order in"
        time.sleep(2)  # a few more polls: they re-read the same window and must add nothing
    assert hooked.wait(lambda: hooked.row().queued_at is None
                       and hooked.row().running_since is None)
    assert hooked.wait(shop.hooks.idle)

    counts = in_erp(hooked)
    assert sorted(counts) == sorted(placed) and set(counts.values()) == {1}
    assert import_runs(hooked) >= 2
    assert shop.hooks.deliveries and all(d.status is None for d in shop.hooks.deliveries)
    # 30 orders' failed deliveries: WooCommerce has switched both webhooks off by now.
    assert {h["status"] for h in shop.hooks.webhooks.values()} == {"disabled"}
    assert last_received(hooked) is None


def test_a_hook_with_a_bad_signature_changes_nothing(live: Live) -> None:
    hooked = live.hooked
    shop = hooked.shop
    shop.hooks.allow_local, shop.hooks.queue.delay = True, 0.0
    register(hooked.registry, hooked.tenant, INTEGRATION, live.url, allow_local=True)
    for hook in shop.hooks.webhooks.values():  # someone changed the secret in the shop
        hook["secret"] = "not-our-secret"
    refused = WEBHOOKS.labels("bad_signature")._value.get()

    order = shop.add_order([("DEMO-0001", 1, "19.99")])
    assert hooked.wait(lambda: shop.hooks.idle() and live.receiver.idle())

    assert [d.status for d in shop.hooks.deliveries] == [401, 401]
    assert WEBHOOKS.labels("bad_signature")._value.get() == refused + 2  # the one write
    row = hooked.row()
    assert row.next_due_at.year == 2100 and row.queued_at is None
    assert hooked.queued_messages() == 0
    assert import_runs(hooked) == 0 and str(order["id"]) not in in_erp(hooked)
    assert last_received(hooked) is None


@pytest.mark.parametrize("hooked", ["shoper"], indirect=True)
def test_shoper_a_retried_delivery_whose_answer_was_lost_is_no_failure(live: Live) -> None:
    # Under the reading that Shoper retries: the retry is the same bytes and signature, a
    # replay to us; it must not poke again, nor count as a failure at the shop.
    hooked = live.hooked
    shop = hooked.shop.hooks
    shop.queue.delay, shop.retry_delays, shop.lose_answers = 0.0, (0.2, 0.2, 0.2), 1
    register(hooked.registry, hooked.tenant, INTEGRATION, live.url, allow_local=True)
    order = hooked.shop.add_order([("DEMO-0001", 1, "19.99")])

    assert hooked.wait(lambda: str(order["order_id"]) in in_erp(hooked))
    assert hooked.wait(live.settled)
    assert [(d.attempt, d.status) for d in shop.deliveries] == [(0, None), (1, 200)]
    assert all(h["active"] for h in shop.webhooks.values())
    assert in_erp(hooked)[str(order["order_id"])] == 1 and import_runs(hooked) == 1


@pytest.mark.parametrize("hooked", ["shoper"], indirect=True)
def test_shoper_switches_a_failing_webhook_off_and_check_repairs_it(live: Live) -> None:
    # Under the reading that Shoper disables a webhook after failures in a row (retries on).
    hooked = live.hooked
    shop = hooked.shop.hooks
    shop.queue.delay, shop.retry_delays, shop.disable_after = 0.0, (0.05, 0.05, 0.05), 5
    (webhook_id,) = register(hooked.registry, hooked.tenant, INTEGRATION, live.url,
                             allow_local=True)
    hook = shop.webhooks[int(webhook_id)]
    good_url, hook["url"] = hook["url"], f"{live.url}/hooks/{hooked.tenant.id}.{'Z' * 43}"
    for _ in range(2):  # two orders: 4 failed sends each at most, off at the fifth
        hooked.shop.add_order([("DEMO-0001", 1, "19.99")])
    assert hooked.wait(lambda: shop.idle() and not hook["active"])
    assert [d.status for d in shop.deliveries] == [404] * 5
    hook["url"] = good_url

    found = check(hooked.registry, hooked.tenant, INTEGRATION)
    assert [(c.status, c.action) for c in found] == [("disabled", "re-enabled")]
    assert hook["active"] is True
    order = hooked.shop.add_order([("DEMO-0001", 1, "19.99")])
    assert hooked.wait(lambda: str(order["order_id"]) in in_erp(hooked))
