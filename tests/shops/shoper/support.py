"""Helpers for the Shoper tests: one fake clock for shop and client, a bare API client.

`FakeTime` is one clock for the sandbox (token expiry, object dates, its leaky bucket) and the
client (token renewal, its bucket estimate, every sleep): a client that waits for the bucket
advances the very clock the shop's bucket leaks on. Bucket behaviour at the documented rate
(10 calls, 2/s) can so be tested exactly and in milliseconds.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from workers.ports import ShopConnection
from workers.shops.sandbox import SandboxHandle

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "shoper"
LOGIN, PASSWORD = "webapi-iluo", "tajne-haslo-123"
API = "/webapi/rest/"
#: 2024-06-01 10:00:00 UTC (12:00 in Warsaw, summer time).
START = datetime(2024, 6, 1, 10, 0, 0, tzinfo=UTC).timestamp()


class FakeTime:
    """Epoch seconds that move only when someone sleeps (or a test advances them)."""

    def __init__(self, start: float = START) -> None:
        self.now = start
        self.slept = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
            self.slept += seconds
            self.sleeps.append(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def moment(self) -> datetime:
        return datetime.fromtimestamp(self(), UTC)


def connection(handle: SandboxHandle, *, login: str = LOGIN, password: str = PASSWORD,
               zone: str = "Europe/Warsaw") -> ShopConnection:
    return ShopConnection(integration_id=7, platform="shoper", base_url=handle.base_url,
                          api_key=login, api_secret=password, shop_timezone=zone)


class Api:
    """A bare HTTP client for the sandbox: logs in once, then speaks JSON."""

    def __init__(self, handle: SandboxHandle, login: str = LOGIN, password: str = PASSWORD):
        self.base = handle.base_url + API
        self.http = httpx.Client(timeout=5)
        self.token = ""
        self.login, self.password = login, password

    def auth(self) -> httpx.Response:
        response = self.http.post(self.base + "auth", auth=(self.login, self.password))
        if response.status_code == 200:
            self.token = response.json()["access_token"]
        return response

    def request(self, method: str, path: str, *, params: Any = None, json: Any = None,
                token: str | None = None) -> httpx.Response:
        token = self.token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.request(method, self.base + path, params=params, json=json,
                                 headers=headers)

    def get(self, path: str, **params: Any) -> httpx.Response:
        if isinstance(params.get("filters"), dict):
            params["filters"] = orjson.dumps(params["filters"]).decode()
        return self.request("GET", path, params=params)
