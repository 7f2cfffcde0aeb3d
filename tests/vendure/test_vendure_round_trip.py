"""Round trips against the real Vendure (issue "shop fidelity", item 3): what the ERP exported
comes home byte-identical, a second export writes nothing, and an ERP order status sent to
Vendure reads back as the state that maps to that same ERP status.

The awkward values are the platform suite's own (tests/platforms/test_round_trip.AWKWARD):
entities, markup, quotes, line breaks, Polish letters, an EAN with a leading zero, a weight,
VAT 5 % and 8 %. Vendure keeps translations verbatim and has no EAN or weight field (the ERP
keeps its own values when the shop leaves them empty); with the channel's prices entered
gross, `priceWithTax` is exactly the integer sent (docs/fidelity/vendure.md).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from shared.erp import schema as erp
from shared.erp.demo import naive_utc_now
from tests.platforms.test_round_trip import AWKWARD
from tests.vendure.conftest import VendureErp, VendureShop
from tests.vendure.harness import STATUS_MAP, create_product, order_state, place_order
from tests.vendure.test_vendure_client import client_for
from tests.vendure.test_vendure_e2e import exported_products, run, variants_by_sku
from workers.domain import StatusChange

pytestmark = pytest.mark.slow

#: Vendure stores texts without trimming them, so blanks around a text must come home too (a
#: mapping that strips them would rewrite this ERP row on every import).
VALUES = [*AWKWARD, {**AWKWARD[0], "name": f" {AWKWARD[0]['name']}  ",
                     "description": f"\n {AWKWARD[0]['description']}\r\n"}]


def _rows(engine: Engine, skus: list[str]) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {row.sku: dict(row._mapping)
                for row in conn.execute(select(erp.products).where(erp.products.c.sku.in_(skus)))}


def _stamps(shop: VendureShop, skus: list[str]) -> dict[str, tuple[str, str]]:
    """(variant updatedAt, product updatedAt) per SKU: any write would move one of them."""
    data = shop.api("query($s:[String!]!){productVariants(options:{filter:{sku:{in:$s}}}){"
                    "items{sku updatedAt product{updatedAt}}}}", {"s": skus})
    return {row["sku"]: (row["updatedAt"], row["product"]["updatedAt"])
            for row in data["productVariants"]["items"]}


def test_export_then_import_leaves_every_erp_row_byte_identical(
        vendure: VendureShop, vendure_erp: VendureErp) -> None:
    targets = exported_products(vendure_erp)[:len(VALUES)]
    with vendure_erp.engine.begin() as conn:
        for row, values in zip(targets, VALUES, strict=True):
            vat = values.get("vat_rate", row.vat_rate)
            net = (values["price_gross"] / (1 + vat / 100)).quantize(Decimal("0.01"))
            conn.execute(update(erp.products).where(erp.products.c.id == row.id)
                         .values(**values, price_net=net, updated_at=naive_utc_now()))
    skus = [p.sku for p in exported_products(vendure_erp)]
    first = run(vendure_erp, "export_products")
    assert first.counts["created"] == len(skus), first.counts
    before = _rows(vendure_erp.engine, skus)
    # What Vendure holds is what was sent, byte for byte.
    in_shop = variants_by_sku(vendure, [t.sku for t in targets])
    for target, values in zip(targets, VALUES, strict=True):
        [variant] = in_shop[target.sku]
        assert variant["product"]["name"] == variant["name"] == values["name"]
        assert variant["product"]["description"] == (values["description"] or "")
        assert variant["priceWithTax"] == int(values["price_gross"] * 100)

    back = run(vendure_erp, "import_products", full=True)
    # The server is shared by the session: other tests' products are new to this ERP; ours,
    # and only ours, were here already and must come home unchanged.
    assert back.counts.get("updated", 0) == 0, back.counts
    assert back.counts["unchanged"] == len(skus), back.counts
    assert _rows(vendure_erp.engine, skus) == before

    # The shop's own form of a value is not a change: a second export writes nothing.
    stamps = _stamps(vendure, skus)
    again = run(vendure_erp, "export_products")
    assert again.counts.get("updated", 0) == again.counts.get("created", 0) == 0, again.counts
    assert _stamps(vendure, skus) == stamps


def test_an_erp_status_sent_to_vendure_reads_back_as_the_same_erp_status(
        vendure: VendureShop, vendure_erp: VendureErp) -> None:
    """Every mapped ERP status → its Vendure state (a transition, fulfilments or a
    cancellation) → read back by id → the state that maps to that ERP status again."""
    _, [variant] = create_product(vendure.api, "Status", [{"sku": f"{vendure_erp.prefix}ST",
                                                           "price": 1000}])
    by_state = {state: code for code, state in STATUS_MAP.items()}
    orders = {code: place_order(vendure.api, vendure.setup, [(variant, 1)],
                                email=f"{vendure_erp.prefix.lower()}{code}@example.pl").id
              for code in STATUS_MAP}
    with client_for(vendure) as client:
        results = client.set_order_statuses([
            StatusChange(n, orders[code], state, n)
            for n, (code, state) in enumerate(STATUS_MAP.items(), start=1)])
        assert all(r.ok for r in results), results
        page = client.fetch_orders(list(orders.values()))
    read = {o.external_id: o.status for o in page.items}
    for code, order_id in orders.items():
        assert by_state[read[order_id]] == code, (code, read[order_id])
        assert order_state(vendure.api, order_id)["state"] == STATUS_MAP[code]
