"""Fixtures for the Shoper sandbox and connector tests (helpers in `support.py`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from tests.shops.shoper.support import (
    FIXTURES,
    LOGIN,
    PASSWORD,
    Api,
    FakeTime,
    connection,
)
from workers.shops.sandbox import SandboxHandle
from workers.shops.shoper.auth import TokenCache
from workers.shops.shoper.bucket import LeakyBucket
from workers.shops.shoper.client import ShoperClient
from workers.shops.shoper.sandbox import ShoperSandbox


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def shop(fake_time: FakeTime) -> ShoperSandbox:
    """A sandbox with the documented bucket (10 calls, 2/s) on the fake clock."""
    return ShoperSandbox(LOGIN, PASSWORD, clock=fake_time)


@pytest.fixture
def server(shop: ShoperSandbox) -> Iterator[SandboxHandle]:
    with shop.serve() as handle:
        yield handle


@pytest.fixture
def make_client(fake_time: FakeTime) -> Iterator[Callable[..., ShoperClient]]:
    clients: list[ShoperClient] = []

    def make(handle: SandboxHandle, **options: Any) -> ShoperClient:
        conn_options = {k: options.pop(k) for k in ("login", "password", "zone") if k in options}
        bucket = options.pop("bucket", None) or LeakyBucket(clock=fake_time, sleep=fake_time.sleep)
        options.setdefault("tokens", TokenCache())  # ports get reused: no token across tests
        client = ShoperClient(connection(handle, **conn_options), sleep=fake_time.sleep,
                              clock=fake_time, bucket=bucket, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(server: SandboxHandle, make_client: Callable[..., ShoperClient]) -> ShoperClient:
    return make_client(server)


@pytest.fixture
def api(server: SandboxHandle) -> Iterator[Api]:
    client = Api(server)
    assert client.auth().status_code == 200
    yield client
    client.http.close()


@pytest.fixture
def fixture() -> Callable[[str], Any]:
    def load(name: str) -> Any:
        return orjson.loads((FIXTURES / name).read_bytes())

    return load
