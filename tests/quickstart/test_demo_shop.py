"""The demo shop's order endpoint and the hint that uses it on a machine without curl.

tests/quickstart types the hints of a running demo where curl is installed; here the other
branch: with no curl on PATH the hint is a python -c through the venv's httpx, and it too
places an order when typed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from app.demo.run import CONSUMER_KEY, CONSUMER_SECRET, ORDER_PATH, DemoShop, hints
from workers.shops.sandbox import SandboxHandle


@pytest.fixture
def shop() -> Iterator[tuple[DemoShop, SandboxHandle]]:
    sandbox = DemoShop(CONSUMER_KEY, CONSUMER_SECRET, site_timezone="Europe/Warsaw")
    handle = sandbox.serve("127.0.0.1", 0)
    try:
        yield sandbox, handle
    finally:
        handle.stop()


def test_without_curl_the_order_hint_is_python_and_works_as_printed(
    shop: tuple[DemoShop, SandboxHandle], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, handle = shop
    sandbox.add_product(name="Kubek biały 3", sku="DEMO-0003", regular_price="12.30")
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH: no curl, no iluo-sync
    commands = dict(hints(tmp_path / "demo", handle.base_url, cwd=tmp_path))
    [place] = [cmd for what, cmd in commands.items() if what.startswith("place an order")]
    assert "curl" not in place and "httpx" in place

    typed = subprocess.run(["/bin/bash", "-c", place], cwd=tmp_path, capture_output=True,
                           text=True, timeout=60, check=False)
    assert typed.returncode == 0, typed.stderr
    answer = orjson.loads(typed.stdout)
    assert answer["status"] == "processing"
    order = sandbox.orders[answer["id"]]
    [line] = order["line_items"]
    # At the shop's own price: 12.30 gross is 10.00 net of 23 % VAT, what a line's price shows.
    assert (line["sku"], line["quantity"], line["price"]) == ("DEMO-0003", 2, 10.0)


def test_the_order_endpoint_refuses_what_it_cannot_read(
    shop: tuple[DemoShop, SandboxHandle],
) -> None:
    sandbox, handle = shop
    url = handle.base_url + ORDER_PATH
    for body in (b"not json", b'{"quantity": 2}', b'{"sku": "DEMO-0003", "quantity": 0}'):
        assert httpx.post(url, content=body).status_code == 400
    assert not sandbox.orders  # nothing was placed
