"""Checkout forms as orders: which forms, what they carry, keyset paging past ties and the
offset limit, a server that ignores the sort, reads by id, the reconciliation's id list, and
fulfilment writes with the form's revision."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.shops.allegro.support import CLIENT_ID, CLIENT_SECRET, authorised, tenant
from workers.domain import StatusChange
from workers.ports import ShopError
from workers.shops.allegro.client import AllegroClient
from workers.shops.allegro.sandbox import AllegroSandbox
from workers.shops.sandbox import SandboxHandle

NOW = datetime.now(UTC).replace(microsecond=0)
#: Taken when the module is collected: the upper bound leaves room for a long suite, in which
#: this module's tests (and the forms they add "now") may run many minutes later.
WINDOW = (NOW - timedelta(days=1), NOW + timedelta(days=1))


@pytest.fixture
def sandbox() -> AllegroSandbox:
    return AllegroSandbox(CLIENT_ID, CLIENT_SECRET)


@pytest.fixture
def handle(sandbox: AllegroSandbox) -> Iterator[SandboxHandle]:
    with sandbox.serve() as served:
        yield served


@pytest.fixture
def client(handle: SandboxHandle, tmp_path: Path) -> AllegroClient:
    return authorised(handle, tenant(tmp_path))


@pytest.fixture
def db(tmp_path: Path) -> Engine:
    return tenant(tmp_path)


def _orders(client: AllegroClient) -> list:  # type: ignore[type-arg]
    return [o for page in client.iter_orders(*WINDOW) for o in page.items]


def test_only_forms_ready_for_processing_become_orders(sandbox: AllegroSandbox,
                                                       client: AllegroClient) -> None:
    sandbox.add_offer(sku="KUB-1", name="Kubek", price=Decimal("10.00"), stock=5)
    ready = sandbox.add_form([("KUB-1", 2, Decimal("10.00"))], updated=NOW - timedelta(hours=1))
    sandbox.add_form([("KUB-1", 1, Decimal("10.00"))], status="BOUGHT", paid=False)
    sandbox.add_form([("KUB-1", 1, Decimal("10.00"))], status="FILLED_IN", paid=False)
    sandbox.add_form([("KUB-1", 1, Decimal("10.00"))], status="CANCELLED", paid=False)
    paid_then_cancelled = sandbox.add_form([("KUB-1", 1, Decimal("10.00"))], status="CANCELLED")
    orders = {o.external_id: o for o in _orders(client)}
    assert set(orders) == {ready["id"], paid_then_cancelled["id"]}
    assert orders[paid_then_cancelled["id"]].status == "CANCELLED"
    order = orders[ready["id"]]
    assert order.status == "NEW" and order.is_paid
    assert order.total_gross == Decimal("32.99") and order.shipping_gross == Decimal("12.99")
    assert [(line.sku, line.quantity, line.unit_price_gross) for line in order.lines] == [
        ("KUB-1", Decimal(2), Decimal("10.00"))]
    assert order.modified_at == NOW - timedelta(hours=1)
    assert order.shipping_method == "Allegro Paczkomaty InPost"


def test_buyer_invoice_nip_and_a_line_without_signature(sandbox: AllegroSandbox,
                                                        client: AllegroClient) -> None:
    form = sandbox.add_form([("KUB-1", 1, Decimal("10.00")), (None, 3, Decimal("2.50"))],
                            email="a1b2+kupujacy@allegromail.pl", invoice_nip="5260250274")
    [order] = _orders(client)
    assert order.external_id == form["id"]
    customer = order.customer
    assert customer.email == "a1b2+kupujacy@allegromail.pl"
    assert (customer.company, customer.tax_id) == ("Firma Sp. z o.o.", "5260250274")
    assert (customer.street, customer.city, customer.postcode) == ("Przemysłowa 5", "Poznań",
                                                                  "60-001")
    unsigned = order.lines[1]
    assert unsigned.sku == "" and unsigned.name.startswith("Przedmiot")  # kept, unmatched


def test_a_malformed_form_is_an_item_error_keyed_by_its_id(sandbox: AllegroSandbox,
                                                           client: AllegroClient) -> None:
    good = sandbox.add_form([("A", 1, Decimal("1.00"))], updated=NOW - timedelta(minutes=2))
    bad = sandbox.add_form([("B", 1, Decimal("1.00"))], updated=NOW - timedelta(minutes=1))
    bad["lineItems"][0]["quantity"] = "lots"
    bad["summary"]["totalToPay"]["amount"] = "1e999"
    pages = list(client.iter_orders(*WINDOW))
    assert [o.external_id for p in pages for o in p.items] == [good["id"]]
    [error] = [e for p in pages for e in p.errors]
    assert error.key == bad["id"] and "line 1" in error.message


def test_keyset_paging_reads_every_form_once_past_ties_and_within_the_offset_limit(
    sandbox: AllegroSandbox, handle: SandboxHandle, db: Engine,
) -> None:
    client = authorised(handle, db, max_offset=300)
    sandbox.max_offset = 300
    tie = NOW - timedelta(hours=2)
    ids = [sandbox.add_form([("A", 1, Decimal("1.00"))], updated=tie)["id"] for _ in range(150)]
    ids += [sandbox.add_form([("A", 1, Decimal("1.00"))],
                             updated=NOW - timedelta(minutes=n))["id"] for n in range(1, 500)]
    read = [o.external_id for o in _orders(client)]
    assert sorted(read) == sorted(ids) and len(read) == len(set(read))
    # The offset never went past the (lowered) limit although the window holds 649 forms.
    offsets = [int(e.query.get("offset", 0)) for e in sandbox.log.entries()
               if e.path == "/order/checkout-forms"]
    assert max(offsets) + 100 <= 300
    assert len(offsets) <= 9  # 649 forms, 100 a page, plus the pages that re-read ties


def test_a_server_that_ignores_the_sort_fails_the_run_instead_of_skipping(
    sandbox: AllegroSandbox, client: AllegroClient,
) -> None:
    for n in range(3):
        sandbox.add_form([("A", 1, Decimal("1.00"))], updated=NOW - timedelta(minutes=10 - n))
    sandbox.ignore_sort = True
    with pytest.raises(ShopError, match="not sorted by updatedAt"):
        _orders(client)


def test_a_form_that_becomes_ready_later_is_imported_then(sandbox: AllegroSandbox,
                                                          client: AllegroClient) -> None:
    form = sandbox.add_form([("A", 1, Decimal("1.00"))], status="FILLED_IN", paid=False)
    assert _orders(client) == []
    sandbox.change_form(form["id"], status="READY_FOR_PROCESSING", paid=True)
    [order] = [o for p in client.iter_orders(WINDOW[0], datetime.now(UTC)) for o in p.items]
    assert order.external_id == form["id"] and order.is_paid


def test_fetch_by_id_and_the_reconciliation_list(sandbox: AllegroSandbox, handle: SandboxHandle,
                                                 db: Engine) -> None:
    client = authorised(handle, db, max_offset=200)
    sandbox.max_offset = 200
    ready = [sandbox.add_form([("A", 1, Decimal("1.00"))],
                              bought=NOW - timedelta(minutes=n))["id"] for n in range(1, 251)]
    waiting = sandbox.add_form([("A", 1, Decimal("1.00"))], status="BOUGHT", paid=False)["id"]
    page = client.fetch_orders([ready[0], waiting, "no-such-form", "../../etc", ready[0]])
    assert [o.external_id for o in page.items] == [ready[0]] and page.errors == []
    listed = [i for ids in client.iter_order_ids(*WINDOW) for i in ids]
    # 250 forms in a window whose list could only page to 200: the window was halved.
    assert sorted(listed) == sorted(ready)


def test_fulfilment_is_written_with_the_forms_revision(sandbox: AllegroSandbox,
                                                       client: AllegroClient) -> None:
    form = sandbox.add_form([("A", 1, Decimal("1.00"))])
    old_revision = form["revision"]
    calls: list[str] = []

    def buyer_changes_it_once(request: object) -> None:  # between our read and our write
        if getattr(request, "method", "") == "PUT" and not calls:
            calls.append("changed")
            sandbox.change_form(form["id"])

    sandbox.on_request.append(buyer_changes_it_once)
    [result] = client.set_order_statuses([StatusChange(1, form["id"], "SENT", 4)])
    assert result.ok, result.error
    assert sandbox.forms[form["id"]]["fulfillment"]["status"] == "SENT"
    assert sandbox.forms[form["id"]]["revision"] != old_revision
    assert sandbox.log.count("PUT", status=409) == 1  # the stale write, then the re-read one

    bad, missing = client.set_order_statuses([
        StatusChange(1, form["id"], "SHIPPED", 4), StatusChange(2, "0000-missing", "SENT", 4)])
    assert not bad.ok and "not an Allegro fulfilment status" in (bad.error or "")
    assert not missing.ok and "no such order" in (missing.error or "")
