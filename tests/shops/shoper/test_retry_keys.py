"""Issue 11 "never neither" on Shoper's mapper (hypothesis): a hostile order or product either
maps, or fails with the key the retry set re-reads it by — the same shop id a success carries
(`order_id`; a product's `"{product_id}:{stock_id}"`), never something else."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from hypothesis import given

from tests.security.support import hostile, mutated
from tests.shops.shoper.support import FIXTURES
from workers.shops.shoper import mapping

WARSAW = ZoneInfo("Europe/Warsaw")
REFS = mapping.References(currencies={"1": "PLN"})
ORDER = orjson.loads((FIXTURES / "order.json").read_bytes())
LINES = orjson.loads((FIXTURES / "order_products_list.json").read_bytes())["list"]
PRODUCT = orjson.loads((FIXTURES / "product.json").read_bytes())


@hostile(max_examples=150)
@given(order=mutated({k: v for k, v in ORDER.items() if k != "order_id"}),
       lines=mutated(LINES))
def test_a_hostile_order_maps_or_fails_under_its_order_id(order: Any, lines: Any) -> None:
    # A readable id (what the retry set needs a key from); the rest may be anything.
    row = {**(order if isinstance(order, dict) else {}), "order_id": ORDER["order_id"]}
    key = mapping.item_key(row, "order_id")
    try:
        parsed = mapping.parse_order(row, lines if isinstance(lines, list) else [lines], REFS,
                                     WARSAW)
    except mapping.MappingError:
        assert key == str(ORDER["order_id"])
        return
    assert parsed.external_id == key


@hostile(max_examples=150)
@given(product=mutated(PRODUCT))
def test_a_hostile_product_fails_under_the_shop_id_a_success_would_carry(product: Any) -> None:
    key = mapping.product_key(product)
    try:
        parsed = mapping.parse_product(copy.deepcopy(product), WARSAW, {1: Decimal("23.00")})
    except mapping.MappingError:
        assert isinstance(key, str) and key
        return
    assert parsed.shop_id == key
