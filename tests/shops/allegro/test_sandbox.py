"""The Allegro sandbox refuses what Allegro refuses (docs/fidelity/allegro.md), so the
connector is tested against the strict API: media types, limits, tokens, revisions."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import orjson
import pytest

from tests.shops.allegro.support import CLIENT_ID, CLIENT_SECRET
from workers.shops.allegro.sandbox import VND, AllegroSandbox
from workers.shops.sandbox import SandboxHandle


@pytest.fixture
def served() -> Iterator[tuple[AllegroSandbox, SandboxHandle, httpx.Client]]:
    now = [1_700_000_000.0]
    sandbox = AllegroSandbox(CLIENT_ID, CLIENT_SECRET, clock=lambda: now[0], access_ttl=60)
    with sandbox.serve() as handle, httpx.Client(base_url=handle.base_url, timeout=5) as http:
        token = sandbox.issue_tokens()["access_token"]
        http.headers.update({"Accept": VND, "Authorization": f"Bearer {token}"})
        sandbox.now = now  # type: ignore[attr-defined]
        yield sandbox, handle, http


def test_media_types_and_limits(served: tuple[AllegroSandbox, SandboxHandle, httpx.Client]) -> None:
    sandbox, _, http = served
    assert http.get("/order/checkout-forms", headers={"Accept": "application/json"}) \
        .status_code == 406
    body = orjson.dumps({"status": "SENT"})
    form = sandbox.add_form([])
    assert http.put(f"/order/checkout-forms/{form['id']}/fulfillment", content=body,
                    headers={"Content-Type": "application/json"}).status_code == 415
    assert http.get("/order/checkout-forms", params={"limit": 101}).status_code == 422
    assert http.get("/order/checkout-forms", params={"offset": 9901}).status_code == 422
    assert http.get("/sale/offers", params={"limit": 1001}).status_code == 422
    answer = http.get("/order/checkout-forms", params={"limit": 100}).json()
    assert set(answer) == {"checkoutForms", "count", "totalCount"}
    error = http.get("/order/checkout-forms", params={"limit": 0}).json()
    assert set(error["errors"][0]) >= {"code", "message", "userMessage"}


def test_tokens_end_and_revisions_lock(
    served: tuple[AllegroSandbox, SandboxHandle, httpx.Client],
) -> None:
    sandbox, _, http = served
    form = sandbox.add_form([])
    put = {"content": orjson.dumps({"status": "SENT"}), "headers": {"Content-Type": VND}}
    stale = http.put(f"/order/checkout-forms/{form['id']}/fulfillment",
                     params={"checkoutForm.revision": "stale"}, **put)  # type: ignore[arg-type]
    assert stale.status_code == 409
    fresh = http.put(f"/order/checkout-forms/{form['id']}/fulfillment",
                     params={"checkoutForm.revision": form["revision"]}, **put)  # type: ignore[arg-type]
    assert fresh.status_code == 204
    sandbox.now[0] += 61  # type: ignore[attr-defined]
    expired = http.get("/sale/offers")
    assert expired.status_code == 401 and expired.json()["error"] == "invalid_token"


def test_commands_refuse_what_allegro_refuses(
    served: tuple[AllegroSandbox, SandboxHandle, httpx.Client],
) -> None:
    sandbox, _, http = served
    offer = sandbox.add_offer(sku="A", name="A", price=Decimal("1"), stock=1)

    def put(path: str, body: object) -> int:
        return http.put(path, content=orjson.dumps(body),
                        headers={"Content-Type": VND}).status_code
    criteria = [{"offers": [{"id": offer["id"]}], "type": "CONTAINS_OFFERS"}]
    zero = {"modification": {"changeType": "FIXED", "value": 0}, "offerCriteria": criteria}
    assert put("/sale/offer-quantity-change-commands/c-1", zero) == 422
    many = {"modification": {"changeType": "FIXED", "value": 1}, "offerCriteria": [
        {"offers": [{"id": str(n)} for n in range(1001)], "type": "CONTAINS_OFFERS"}]}
    assert put("/sale/offer-quantity-change-commands/c-2", many) == 422
    end = {"publication": {"action": "END"}, "offerCriteria": criteria}
    assert put("/sale/offer-publication-commands/c-3", end) == 201
    tasks = http.get("/sale/offer-publication-commands/c-3/tasks").json()["tasks"]
    assert [t["status"] for t in tasks] == ["SUCCESS"]


def test_the_verification_page_confirms_the_code(
    served: tuple[AllegroSandbox, SandboxHandle, httpx.Client],
) -> None:
    sandbox, handle, _ = served
    sandbox.auto_approve = False
    with httpx.Client(base_url=handle.base_url, timeout=5,
                      auth=(CLIENT_ID, CLIENT_SECRET)) as oauth:
        device = oauth.post("/auth/oauth/device", data={"client_id": CLIENT_ID}).json()
        grant = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                 "device_code": device["device_code"]}
        assert oauth.post("/auth/oauth/token", data=grant).json()["error"] == \
            "authorization_pending"
        assert httpx.get(device["verification_uri_complete"]).status_code == 200
        sandbox.now[0] += device["interval"]  # type: ignore[attr-defined]
        assert "access_token" in oauth.post("/auth/oauth/token", data=grant).json()
