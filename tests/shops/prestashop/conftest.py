"""Fixtures for the PrestaShop tests: a sandbox on the shared clock, served on 127.0.0.1, and
clients for it (retry back-off sleeps recorded, not slept)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from workers.ports import ShopConnection
from workers.shops.prestashop.client import PrestaShopClient
from workers.shops.prestashop.sandbox import DEFAULT_KEY, PrestaShopSandbox
from workers.shops.sandbox import SandboxHandle

ZONE = "Europe/Warsaw"


def connection(handle: SandboxHandle, *, key: str = DEFAULT_KEY,
               zone: str = ZONE) -> ShopConnection:
    return ShopConnection(integration_id=1, platform="prestashop", base_url=handle.base_url,
                          api_key=key, api_secret=None, shop_timezone=zone)


@pytest.fixture
def ps(clock: Any) -> PrestaShopSandbox:
    sandbox = PrestaShopSandbox(DEFAULT_KEY, shop_timezone=ZONE)
    sandbox.now = clock
    return sandbox


@pytest.fixture
def ps_server(ps: PrestaShopSandbox) -> Iterator[SandboxHandle]:
    with ps.serve() as handle:
        yield handle


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(sleeps: list[float]) -> Iterator[Callable[..., PrestaShopClient]]:
    clients: list[PrestaShopClient] = []

    def make(handle: SandboxHandle, **options: str) -> PrestaShopClient:
        client = PrestaShopClient(connection(handle, **options), sleep=sleeps.append)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(ps_server: SandboxHandle,
           make_client: Callable[..., PrestaShopClient]) -> PrestaShopClient:
    return make_client(ps_server)
