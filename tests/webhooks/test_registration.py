"""`webhooks register` / `webhooks check` against the WooCommerce sandbox's REST webhooks."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.integrations import describe
from app.webhooks.registration import check, public_url_problem, register
from shared.erp.schema import orders
from shared.errors import UserError
from tests.webhooks.conftest import INTEGRATION, Live
from workers.shops.woocommerce.delivery_url import refusal

PUBLIC = {"hooks.example.com": ["93.184.215.14"], "intranet.example.com": ["10.1.2.3"],
          "v6only.example.com": ["2606:2800:220:1::1"], "nowhere.invalid": []}


@pytest.mark.parametrize(("url", "refused"), [
    ("https://hooks.example.com", False),
    ("http://hooks.example.com:8080/x", False),
    ("http://203.0.113.9:8080", True),  # documentation range: WordPress lets it by, we do not
    ("http://169.254.169.254/", True),  # link-local: likewise
    ("http://8.8.8.8:8080", False),
    ("https://8.8.8.8:8443", True),  # WordPress: ports 80, 443, 8080 only
    ("http://127.0.0.1", True),
    ("http://192.168.1.20", True),
    ("http://localhost:8080", True),
    ("http://intranet.example.com", True),  # a name is judged by what it resolves to
    ("http://v6only.example.com", False),  # a public IPv6 address behind a name is fine
    ("http://[2606:2800:220:1::1]/", True),  # but WordPress refuses an IPv6 literal
    ("https://user:pw@hooks.example.com", True),  # credentials in the URL: refused
    ("ftp://hooks.example.com", True),
    ("http://nowhere.invalid:8080", False),  # not resolvable here: the shop's DNS may differ
])
def test_the_public_url_follows_wp_http_validate_url(url: str, refused: bool) -> None:
    def resolve(host: str) -> list[str]:
        return ["127.0.0.1"] if host == "localhost" else PUBLIC[host]

    assert (public_url_problem(url, resolve=resolve) is not None) is refused


@pytest.mark.parametrize(("url", "why"), [
    ("http://192.168.1.5:9000/hooks", None),  # the shop's own host and port: allowed
    ("http://192.168.1.5:9001/hooks", "port 9001"),  # its host, another port: refused
    ("http://10.0.0.7/hooks", "local or private"),
    ("http://172.31.255.1/hooks", "local or private"),
    ("http://172.32.0.1/hooks", None),  # outside 172.16/12: WordPress lets it by
    ("http://100.64.0.1/hooks", None),  # shared range: not in WordPress's list either
    ("http://0.1.2.3/hooks", "local or private"),
    ("http://unresolvable.invalid/hooks", "does not resolve"),
])
def test_the_sandbox_delivers_where_wordpress_would(url: str, why: str | None) -> None:
    found = refusal(url, home="http://192.168.1.5:9000",
                    resolve=lambda host: None if host.endswith(".invalid") else "8.8.8.8")
    assert (found is None) if why is None else (found is not None and why in found)


def test_register_refuses_a_local_url_and_says_what_to_do(live: Live) -> None:
    hooked = live.hooked
    with pytest.raises(UserError, match="public https URL"):
        register(hooked.registry, hooked.tenant, INTEGRATION, live.url)
    assert hooked.shop.hooks.webhooks == {}


def test_register_then_an_order_arrives_and_check_repairs_a_disabled_webhook(live: Live) -> None:
    hooked = live.hooked
    shop = hooked.shop.hooks
    shop.allow_local, shop.queue.delay = True, 0.0
    ids = register(hooked.registry, hooked.tenant, INTEGRATION, live.url, allow_local=True)
    assert sorted(h["topic"] for h in shop.webhooks.values()) == ["order.created",
                                                                  "order.updated"]
    assert [str(i) for i in sorted(shop.webhooks)] == ids
    assert all(not h["pending_delivery"] for h in shop.webhooks.values())  # the ping got 200
    assert describe(hooked.registry, hooked.tenant)[0]["webhook"] == "registered"

    order = hooked.shop.add_order([("DEMO-0001", 1, "19.99")])

    def imported() -> bool:
        with hooked.erp.connect() as conn:
            return conn.execute(select(orders.c.id).where(
                orders.c.external_id == str(order["id"]))).first() is not None

    assert hooked.wait(imported, timeout=60)

    # The receiver unreachable for a while (here: the shop calling a URL it refuses): the
    # seventh failed delivery in a row disables the webhook, as WooCommerce does.
    updated = shop.webhooks[int(ids[1])]
    good_url = updated["delivery_url"]
    updated["delivery_url"] = f"{live.url}/hooks/{hooked.tenant.id}.{'Z' * 43}"
    for n in range(7):
        hooked.shop.update_order(order["id"], customer_note=f"note {n}")
    assert hooked.wait(lambda: shop.idle() and updated["status"] == "disabled")
    assert updated["failure_count"] == 6
    updated["delivery_url"] = good_url

    found = {c.webhook_id: c for c in check(hooked.registry, hooked.tenant, INTEGRATION)}
    assert found[ids[0]].action == "kept"
    assert (found[ids[1]].status, found[ids[1]].action) == ("disabled", "re-enabled")
    assert updated["status"] == "active" and updated["secret"] == shop.webhooks[
        int(ids[0])]["secret"]
    assert updated["failure_count"] == 6  # re-enabling does not reset the count

    del shop.webhooks[int(ids[0])]
    found = {c.webhook_id: c for c in check(hooked.registry, hooked.tenant, INTEGRATION)}
    assert found[ids[0]].action == "missing"
    assert describe(hooked.registry, hooked.tenant)[0]["webhook"] == "missing"


@pytest.mark.parametrize("hooked", ["shoper"], indirect=True)
def test_shoper_register_then_an_order_arrives_and_check_repairs(live: Live) -> None:
    hooked = live.hooked
    shop = hooked.shop.hooks
    shop.queue.delay = 0.0
    ids = register(hooked.registry, hooked.tenant, INTEGRATION, live.url, allow_local=True)
    assert [str(i) for i in shop.webhooks] == ids
    assert shop.webhooks[int(ids[0])]["events"] == ["order.create", "order.edit"]
    assert "secret" not in shop.render(shop.webhooks[int(ids[0])])

    order = hooked.shop.add_order([("DEMO-0001", 1, "19.99")])

    def imported() -> bool:
        with hooked.erp.connect() as conn:
            return conn.execute(select(orders.c.id).where(
                orders.c.external_id == str(order["order_id"]))).first() is not None

    assert hooked.wait(imported, timeout=60)
    assert [d.status for d in shop.deliveries] == [200]
    assert shop.deliveries[0].headers["X-Webhook-Name"] == "order.create"

    shop.webhooks[int(ids[0])]["active"] = False  # switched off in the panel, say
    found = check(hooked.registry, hooked.tenant, INTEGRATION)
    assert [(c.status, c.action) for c in found] == [("disabled", "re-enabled")]
    assert shop.webhooks[int(ids[0])]["active"] is True
