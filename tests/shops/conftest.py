"""Fixtures for shop sandboxes: a controllable clock and a signing WooCommerce HTTP client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from workers.shops.sandbox import SandboxHandle
from workers.shops.woocommerce import oauth
from workers.shops.woocommerce.sandbox import WooCommerceSandbox

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
WOO_KEY = "ck_test_0123456789abcdef"
WOO_SECRET = "cs_test_fedcba9876543210"


class Clock:
    """A settable aware-UTC clock for sandboxes (`sandbox.now = clock`)."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> datetime:
        self.moment += timedelta(**delta)
        return self.moment


class WooClient:
    """Signs every request with OAuth 1.0a (as over plain HTTP) unless `sign=False`."""

    def __init__(
        self,
        sandbox: WooCommerceSandbox,
        handle: SandboxHandle,
        key: str = WOO_KEY,
        secret: str = WOO_SECRET,
    ) -> None:
        self.api = sandbox.api_url(handle)
        self.key, self.secret = key, secret
        self.http = httpx.Client(timeout=5)

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        *,
        sign: bool = True,
        algorithm: str = "HMAC-SHA256",
        **kwargs: Any,
    ) -> httpx.Response:
        url = path if path.startswith("http") else self.api + path
        query = (
            oauth.sign(method, url, params or {}, self.key, self.secret, algorithm=algorithm)
            if sign
            else params
        )
        return self.http.request(method, url.split("?")[0], params=query, json=json, **kwargs)

    def get(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, params, **kwargs)

    def post(self, path: str, json: Any, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, json: Any, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, json=json, **kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2024, 6, 1, 10, 0, 0, tzinfo=UTC))


@pytest.fixture
def woo(clock: Clock) -> WooCommerceSandbox:
    sandbox = WooCommerceSandbox(WOO_KEY, WOO_SECRET, site_timezone="Europe/Warsaw")
    sandbox.now = clock
    return sandbox


@pytest.fixture
def woo_server(woo: WooCommerceSandbox) -> Iterator[SandboxHandle]:
    with woo.serve() as handle:
        yield handle


@pytest.fixture
def woo_client(woo: WooCommerceSandbox, woo_server: SandboxHandle) -> Iterator[WooClient]:
    client = WooClient(woo, woo_server)
    yield client
    client.http.close()


@pytest.fixture
def woo_fixture() -> Any:
    def load(name: str) -> Any:
        return orjson.loads((FIXTURES / "woocommerce" / name).read_bytes())

    return load
