"""Fixtures for the IdoSell tests: a sandbox on the shared clock, served on 127.0.0.1, and
clients for it (retry back-off sleeps recorded, not slept)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from workers.ports import ShopConnection
from workers.shops.idosell.client import IdoSellClient
from workers.shops.idosell.sandbox import DEFAULT_KEY, IdoSellSandbox
from workers.shops.sandbox import SandboxHandle

ZONE = "Europe/Warsaw"


def connection(handle: SandboxHandle, *, key: str = DEFAULT_KEY,
               zone: str = ZONE) -> ShopConnection:
    return ShopConnection(integration_id=1, platform="idosell", base_url=handle.base_url,
                          api_key=key, api_secret=None, shop_timezone=zone)


@pytest.fixture
def ido(clock: Any) -> IdoSellSandbox:
    sandbox = IdoSellSandbox(DEFAULT_KEY, shop_timezone=ZONE)
    sandbox.now = clock
    return sandbox


@pytest.fixture
def ido_server(ido: IdoSellSandbox) -> Iterator[SandboxHandle]:
    with ido.serve() as handle:
        yield handle


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(sleeps: list[float]) -> Iterator[Callable[..., IdoSellClient]]:
    clients: list[IdoSellClient] = []

    def make(handle: SandboxHandle, **options: str) -> IdoSellClient:
        client = IdoSellClient(connection(handle, **options), sleep=sleeps.append)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(ido_server: SandboxHandle, make_client: Callable[..., IdoSellClient]) -> IdoSellClient:
    return make_client(ido_server)
