"""Round trips: what the ERP exported comes home byte-identical, and a shop's normal form of a
value never makes export send it again (issue "shop fidelity", item 3).

Shops store what we send in their own form (WooCommerce runs names and descriptions through
`wp_filter_post_kses()` and answers reads in the `view` context through `wpautop()`; PrestaShop
keeps language fields per language; …). The connector must read back the stored form and map it
to exactly what the ERP wrote, or every export/import pair would rewrite the catalogue.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select, update

from shared.erp import schema as erp
from shared.erp.demo import naive_utc_now
from tests.platforms.support import exported, list_in_shop, run
from workers.domain import Operation

#: Values a shop is likely to store in another form: entities, markup, quotes, line breaks,
#: Polish letters, an EAN with a leading zero, a weight in grams, a reduced VAT rate.
AWKWARD: list[dict[str, Any]] = [
    {
        "name": "Kubek & spodek „Żółty” 'mały' \"duży\"",
        "description": "Linia pierwsza\nLinia druga & <b>pogrubiona</b>\n\nDrugi akapit: 5 < 7 > 3",
        "ean": "0012345678905",
        "weight_kg": Decimal("0.125"),
        "price_gross": Decimal("1234.56"),
    },
    {
        "name": "Książka — wydanie 2 (oprawa twarda)",
        "description": "<p>Opis w HTML</p>\n<ul><li>punkt</li></ul>",
        "ean": "5901234123457",
        "weight_kg": Decimal("1.000"),
        "price_gross": Decimal("54.00"),
        "vat_rate": Decimal("5.00"),
    },
    {
        "name": "Śruba M8×40 ½\" — 100 szt.",
        "description": None,
        "ean": None,
        "weight_kg": Decimal("12.5"),
        "price_gross": Decimal("0.99"),
        "vat_rate": Decimal("8.00"),
    },
]


def _rows(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {row.sku: dict(row._mapping) for row in conn.execute(select(erp.products))}


def test_export_then_import_leaves_every_erp_row_byte_identical(shop: Any, erp_db: Engine) -> None:
    targets = exported(erp_db)[:len(AWKWARD)]
    with erp_db.begin() as conn:
        for row, values in zip(targets, AWKWARD, strict=True):
            vat = values.get("vat_rate", row["vat_rate"])
            net = (values["price_gross"] / (1 + vat / 100)).quantize(Decimal("0.01"))
            conn.execute(update(erp.products).where(erp.products.c.id == row["id"])
                         .values(**values, price_net=net, updated_at=naive_utc_now()))
    list_in_shop(shop, erp_db)
    first = run(erp_db, Operation.EXPORT_PRODUCTS)
    assert first.outcome == "ok", first.error
    before = _rows(erp_db)

    back = run(erp_db, Operation.IMPORT_PRODUCTS, full=True)
    assert back.outcome == "ok", back.error
    assert back.counts["created"] == back.counts["updated"] == 0, back.counts
    after = _rows(erp_db)
    for sku, row in before.items():
        assert after[sku] == row, sku

    # The shop's own form of a value is not a change: a second export writes nothing.
    writes = shop.write_calls()
    again = run(erp_db, Operation.EXPORT_PRODUCTS)
    assert again.outcome == "ok", again.error
    assert again.counts["updated"] == again.counts["created"] == 0, again.counts
    assert shop.write_calls() == writes
