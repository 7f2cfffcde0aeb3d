"""WebAPI user authentication: a bearer token from `POST /webapi/rest/auth`.

A WebAPI user (panel: Konfiguracja → Administracja, system → Administratorzy, type "WebAPI")
logs in with HTTP Basic `login:password` and receives
`{"access_token","expires_in","token_type":"bearer"}`; every other call carries
`Authorization: Bearer <token>`. An expired or revoked token is answered
401 `{"error":"unauthorized_client",…}` and the client logs in again.
(src: dreamcommerce/shop-appstore-lib `Client/BasicAuth.php`, `Client/Bearer.php`; 3rd:
openlinker-project/openlinker "Spike #3638" C4; live lifetime 2 592 000 s = 30 days reported
by a third-party shop audit.)

`ShoperAuth` only decorates requests; fetching a token is the client's job because that call
must go through the same limiter, retries and statistics as any other.
"""

from __future__ import annotations

import hashlib
import threading
from base64 import b64encode
from collections.abc import Generator

import httpx

AUTH_PATH = "auth"

#: Renew this long before the announced expiry, so a token never dies in the middle of a page.
RENEW_MARGIN = 60.0

#: 401 codes meaning "log in again"; anything else (IP not allowed, WebAPI access denied) is a
#: configuration problem that a new token would not fix.
TOKEN_EXPIRED_CODES = frozenset({"unauthorized_client", "invalid_token"})


class ShoperAuth(httpx.Auth):
    """Basic credentials for `POST auth`, the current bearer token for everything else."""

    def __init__(self, login: str, password: str) -> None:
        raw = f"{login}:{password}".encode()
        self._basic = "Basic " + b64encode(raw).decode("ascii")
        self.token: str | None = None
        self.expires_at = 0.0  # on the client's monotonic clock

    def auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        if request.url.path.rstrip("/").endswith("/" + AUTH_PATH):
            request.headers["Authorization"] = self._basic
        elif self.token:
            request.headers["Authorization"] = f"Bearer {self.token}"
        yield request

    def forget(self) -> None:
        self.token, self.expires_at = None, 0.0


class TokenCache:
    """Tokens of this process by (shop, login, password): they live 30 days on a live shop, so
    a worker that runs an operation every few minutes need not log in every time. A token the
    shop refuses is dropped; the key holds a hash of the password, never the password."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}

    @staticmethod
    def key(api_base: str, login: str, password: str) -> tuple[str, str, str]:
        return api_base, login, hashlib.sha256(password.encode()).hexdigest()

    def get(self, key: tuple[str, str, str]) -> tuple[str, float] | None:
        with self._lock:
            return self._tokens.get(key)

    def put(self, key: tuple[str, str, str], token: str, expires_at: float) -> None:
        with self._lock:
            self._tokens[key] = (token, expires_at)

    def drop(self, key: tuple[str, str, str], token: str | None) -> None:
        with self._lock:
            if token is not None and self._tokens.get(key, ("",))[0] == token:
                del self._tokens[key]


#: The process-wide cache every client uses unless it is given its own.
TOKENS = TokenCache()
