"""Issue 11 "never neither" on IdoSell's mapper (hypothesis): a hostile order or product either
maps, or fails with the key the retry set re-reads it by — the same id a success carries
(`orderSerialNumber`, `productId`)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from hypothesis import given

from tests.security.support import hostile, mutated
from workers.shops.idosell import mapping

WARSAW = ZoneInfo("Europe/Warsaw")
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "idosell"
ORDER = orjson.loads((FIXTURES / "orders_search_response.json").read_bytes())["Results"][0]
PRODUCT = orjson.loads((FIXTURES / "products_search_response.json").read_bytes())["results"][0]


@hostile(max_examples=150)
@given(order=mutated({k: v for k, v in ORDER.items() if k != "orderSerialNumber"}))
def test_a_hostile_order_maps_or_fails_under_its_serial(order: Any) -> None:
    row = {**(order if isinstance(order, dict) else {}),
           "orderSerialNumber": ORDER["orderSerialNumber"]}
    key = mapping.order_key(row)
    try:
        parsed = mapping.parse_order(row, WARSAW)
    except mapping.MappingError:
        assert key == str(ORDER["orderSerialNumber"])
        return
    assert parsed.external_id == key


@hostile(max_examples=150)
@given(product=mutated({k: v for k, v in PRODUCT.items() if k != "productId"}))
def test_a_hostile_product_maps_or_fails_under_its_id(product: Any) -> None:
    row = {**(product if isinstance(product, dict) else {}), "productId": PRODUCT["productId"]}
    key = mapping.product_key(row)
    try:
        parsed = mapping.parse_product(copy.deepcopy(row), WARSAW)
    except mapping.MappingError:
        assert key == str(PRODUCT["productId"])
        return
    assert parsed.shop_id == key
