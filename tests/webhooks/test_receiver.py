"""The receiver's answers, and what each leaves in the schedule and on the queue."""

from __future__ import annotations

import json

from sqlalchemy import select, update

from app.webhooks.receiver import MAX_BODY, TOUCH_EVERY, Limits
from app.webhooks.signatures import shoper_signature
from shared.control.refresh import refresh_tenant
from shared.control.schedule import now_s
from shared.control.tables import schedules
from shared.erp.schema import orders, shop_integrations
from shared.erp.sync_tables import sync_webhooks
from shared.telemetry.metrics import WEBHOOKS
from tests.webhooks.conftest import INTEGRATION, Hooked, Live

BODY = b'{"id":101,"status":"processing","_links":{"self":[{"href":"https:\\/\\/x"}]}}'


def _untouched(hooked: Hooked) -> None:
    row = hooked.row()
    assert row.next_due_at.year == 2100 and row.queued_at is None
    assert hooked.queued_messages() == 0


def test_a_signed_hook_makes_the_import_due_and_one_message_is_queued(hooked: Hooked) -> None:
    with hooked.client() as client:
        answer = client.post(f"/hooks/{hooked.token}", content=BODY, headers=hooked.signed(BODY))
        assert answer.status_code == 200 and answer.json() == {"result": "due"}
        assert hooked.wait(lambda: hooked.row().queued_at is not None)
        # The row is claimed before RabbitMQ confirms the message: count once it has.
        assert hooked.wait(client.app.state.receiver.idle)
    assert hooked.queued_messages() == 1


def test_a_burst_of_hooks_is_one_queued_run(hooked: Hooked) -> None:
    with hooked.client() as client:
        for n in range(50):
            body = BODY.replace(b"101", str(1000 + n).encode())
            for topic in ("order.created", "order.updated"):
                answer = client.post(f"/hooks/{hooked.token}", content=body,
                                     headers=hooked.signed(body, topic=topic))
                assert answer.status_code == 200
        assert hooked.wait(lambda: hooked.row().queued_at is not None)
        late = BODY.replace(b"101", b"9999")  # while queued: that run reads the shop after it
        answer = client.post(f"/hooks/{hooked.token}", content=late, headers=hooked.signed(late))
        assert answer.json() == {"result": "queued"}
        assert hooked.wait(client.app.state.receiver.idle)
    assert hooked.queued_messages() == 1


def test_bad_input_is_refused_and_changes_nothing(hooked: Hooked) -> None:
    before = WEBHOOKS.labels("bad_signature")._value.get()
    url = f"/hooks/{hooked.token}"
    with hooked.client() as client:
        wrong = client.post(url, content=BODY, headers=hooked.signed(BODY, secret="not-it"))
        missing = client.post(url, content=BODY, headers={"Content-Type": "application/json"})
        tampered = client.post(url, content=BODY.replace(b"101", b"102"),
                               headers=hooked.signed(BODY))
        reencoded = json.dumps(json.loads(BODY)).encode()  # same JSON, other bytes
        respelled = client.post(url, content=reencoded, headers=hooked.signed(BODY))
        unknown = client.post(f"/hooks/{hooked.tenant.id}.{'A' * 43}", content=BODY,
                              headers=hooked.signed(BODY))
        malformed = client.post("/hooks/..%2f..%2fetc", content=BODY,
                                headers=hooked.signed(BODY))
        other_tenant = client.post(f"/hooks/{hooked.tenant.id + 7}.{hooked.token.split('.')[1]}",
                                   content=BODY, headers=hooked.signed(BODY))
        big = b"{" + b" " * MAX_BODY + b"}"
        too_large = client.post(url, content=big, headers=hooked.signed(big))
        assert [r.status_code for r in (wrong, missing, tampered, respelled)] == [401] * 4
        assert [r.status_code for r in (unknown, malformed, other_tenant)] == [404] * 3
        assert too_large.status_code == 413
        assert all(r.headers["content-type"] == "application/json"
                   for r in (wrong, unknown, too_large))
    assert WEBHOOKS.labels("bad_signature")._value.get() == before + 4
    _untouched(hooked)


def test_a_replayed_hook_pokes_nothing_but_is_no_failure_for_the_shop(hooked: Hooked) -> None:
    # 200 all the same: a shop retrying a delivery whose answer it lost must not count it as
    # a failure (and disable the webhook); the replay itself changes nothing.
    with hooked.client() as client:
        headers = hooked.signed(BODY)
        first = client.post(f"/hooks/{hooked.token}", content=BODY, headers=headers)
        assert hooked.wait(lambda: client.app.state.receiver.idle())
        with hooked.registry.engine.begin() as conn:  # as after that run: not due for long
            conn.execute(update(schedules).values(next_due_at=now_s().replace(year=2100),
                                                  queued_at=None))
        again = client.post(f"/hooks/{hooked.token}", content=BODY, headers=headers)
        other_topic = client.post(f"/hooks/{hooked.token}", content=BODY,
                                  headers=hooked.signed(BODY, topic="order.updated"))
    assert (first.status_code, again.status_code, other_topic.status_code) == (200, 200, 200)
    assert again.json() == {"result": "replay"} and other_topic.json() == {"result": "due"}


def test_a_flood_on_one_token_is_rate_limited_and_others_still_pass(hooked: Hooked) -> None:
    with hooked.client(Limits(debounce=0.2, rate_per_second=0.001, burst=3)) as client:
        answers = [client.post(f"/hooks/{hooked.token}", content=BODY + b" " * n,
                               headers=hooked.signed(BODY + b" " * n)).status_code
                   for n in range(6)]
        other = client.post(f"/hooks/{hooked.tenant.id}.{'B' * 43}", content=BODY,
                            headers=hooked.signed(BODY))
    assert answers == [200, 200, 200, 429, 429, 429]
    assert other.status_code == 404  # its own bucket: one token's flood is not another's


def test_the_creation_ping_gets_exactly_200_and_pokes_nothing(hooked: Hooked) -> None:
    with hooked.client() as client:
        answer = client.post(f"/hooks/{hooked.token}", content=b"webhook_id=7",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200 and answer.json() == {"result": "ping"}
    _untouched(hooked)


def test_an_integration_without_auto_sync_or_a_switched_off_tenant_is_not_poked(
    hooked: Hooked,
) -> None:
    with hooked.erp.begin() as conn:
        conn.execute(update(shop_integrations).where(shop_integrations.c.id == INTEGRATION)
                     .values(auto_sync=False))
    refresh_tenant(hooked.registry, hooked.tenant.id)  # the row off, as the tick's refresh does
    with hooked.client() as client:
        answer = client.post(f"/hooks/{hooked.token}", content=BODY, headers=hooked.signed(BODY))
    assert answer.status_code == 200 and answer.json() == {"result": "off"}
    with hooked.registry.engine.connect() as conn:
        row = conn.execute(select(schedules.c.queued_at, schedules.c.enabled).where(
            schedules.c.tenant_id == hooked.tenant.id,
            schedules.c.operation == "import_orders")).one()
    assert row.enabled is False and row.queued_at is None
    assert hooked.queued_messages() == 0


def test_an_order_placed_in_the_sandbox_is_in_the_erp_after_its_webhook(live: Live) -> None:
    hooked = live.hooked
    hooked.shop.hooks.allow_local = True  # wp_http_validate_url would refuse 127.0.0.1
    hooked.shop.hooks.queue.delay = 0.2
    for topic in ("order.created", "order.updated"):
        hooked.shop.hooks.create("iluo-sync", topic, f"{live.url}/hooks/{hooked.token}",
                                 hooked.secret)
    assert all(not h["pending_delivery"] for h in hooked.shop.hooks.webhooks.values())
    order = hooked.shop.add_order([("DEMO-0001", 1, "19.99")])  # an ERP product

    def imported() -> bool:
        with hooked.erp.connect() as conn:
            return conn.execute(select(orders.c.id).where(
                orders.c.external_id == str(order["id"]))).first() is not None

    assert hooked.wait(imported, timeout=60), "the order never reached the ERP"
    statuses = [d.status for d in hooked.shop.hooks.deliveries]
    assert statuses and all(s == 200 for s in statuses)
    assert {d.topic for d in hooked.shop.hooks.deliveries} == {"order.created", "order.updated"}


def test_a_shoper_signature_is_checked_over_the_raw_body(hooked: Hooked) -> None:
    def shoper(body: bytes, secret: str) -> dict[str, str]:
        return {"Content-Type": "application/json", "X-Webhook-Id": "5",
                "X-Webhook-Name": "order.create",
                "X-Webhook-SHA1": shoper_signature("5", secret, body)}

    with hooked.client() as client:
        wrong = client.post(f"/hooks/{hooked.token}", content=BODY,
                            headers=shoper(BODY, "not-it"))
        assert wrong.status_code == 401
        _untouched(hooked)
        good = client.post(f"/hooks/{hooked.token}", content=BODY,
                           headers=shoper(BODY, hooked.secret))
        assert good.status_code == 200 and good.json() == {"result": "due"}


def test_a_hook_during_a_run_asks_for_one_more_run_after_it(hooked: Hooked) -> None:
    # A run under way may have read the shop before this order: one more run once it ends.
    with hooked.registry.engine.begin() as conn:
        conn.execute(update(schedules).where(schedules.c.tenant_id == hooked.tenant.id)
                     .values(running_since=now_s(), queued_at=now_s()))
    with hooked.client() as client:
        answer = client.post(f"/hooks/{hooked.token}", content=BODY, headers=hooked.signed(BODY))
        assert answer.json() == {"result": "running"}
        assert hooked.wait(lambda: (1, INTEGRATION) in client.app.state.receiver.pending
                           or hooked.row().queued_at is None)
        assert hooked.queued_messages() == 0
        with hooked.registry.engine.begin() as conn:  # the run reports: row idle again
            conn.execute(update(schedules).where(schedules.c.tenant_id == hooked.tenant.id)
                         .values(running_since=None, queued_at=None))
        assert hooked.wait(lambda: hooked.row().queued_at is not None)
        assert hooked.wait(client.app.state.receiver.idle)
    assert hooked.queued_messages() == 1


def test_a_valid_hook_records_when_it_came_at_most_once_per_few_seconds(hooked: Hooked) -> None:
    def received() -> object:
        with hooked.erp.connect() as conn:
            return conn.execute(select(sync_webhooks.c.last_received_at)).scalar_one()

    with hooked.client() as client:
        wrong = client.post(f"/hooks/{hooked.token}", content=BODY,
                            headers=hooked.signed(BODY, secret="not-it"))
        assert wrong.status_code == 401 and received() is None  # a refusal writes nothing
        ok = client.post(f"/hooks/{hooked.token}", content=BODY, headers=hooked.signed(BODY))
        assert ok.status_code == 200
        assert hooked.wait(lambda: received() is not None)  # written after the answer

        receiver = client.app.state.receiver
        key = (hooked.tenant.id, INTEGRATION)
        at = receiver.touched[key]
        # One write per TOUCH_EVERY per integration, however many hooks come in between.
        assert not receiver.due_touch(key, at + 1.0)
        assert not receiver.due_touch(key, at + TOUCH_EVERY - 0.1)
        assert receiver.due_touch(key, at + TOUCH_EVERY)
        assert receiver.due_touch((hooked.tenant.id, INTEGRATION + 1), at + 1.0)  # its own
