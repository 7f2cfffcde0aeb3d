"""A seller's OAuth 2 tokens for Allegro: the device flow once, refreshes every run after.

Where OAuth lives (CONTRACT §5): on `base_url` with a leading `api.` dropped from the host
(`https://api.allegro.pl` → `https://allegro.pl`), or on `base_url` itself when the host has no
`api.` (a local sandbox). The application authenticates with HTTP Basic client_id:client_secret
(`api_key`:`api_secret`). See docs/fidelity/allegro.md §1 for every cited behaviour.

- Device flow: `POST /auth/oauth/device` (form `client_id`) answers `device_code`, `user_code`,
  `verification_uri(_complete)`, `expires_in`, `interval`; the seller confirms in a browser while
  we poll `POST /auth/oauth/token` (grant `urn:ietf:params:oauth:grant-type:device_code`), which
  answers 400 `authorization_pending` until then, `slow_down` when we poll too fast (RFC 8628
  §3.5: +5 s), `access_denied` when the seller refused.
- Refresh: grant `refresh_token`. The answer carries a new refresh token; whether the old one
  stays valid is unverified, so the newest pair is stored at once, under compare-and-swap on the
  row's version: a run that loses the race (another run refreshed meanwhile) takes the winner's
  pair instead of refreshing again, and a refusal of a refresh token another run has already
  replaced is not mistaken for the seller's authorisation having ended.
- A refresh token the provider refuses (400 `invalid_grant`) is dead: `AuthorisationEnded`, a
  configuration error naming the command that fixes it.

Tokens never reach a log or a message: they are registered with shared.redact and travel only
in form bodies and the Authorization header.
"""

from __future__ import annotations

import re
import time
from base64 import b64encode
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from shared.redact import register_secret
from workers.ports import ConnectorState, OAuthTokens, ShopConfigError, ShopConnection, ShopError
from workers.shops.http import ShopHttp, ShopHttpError, ShopResponse

DEVICE_PATH = "/auth/oauth/device"
TOKEN_PATH = "/auth/oauth/token"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
FORM = "application/x-www-form-urlencoded"

#: Refresh this long before the access token's end, so it never dies in the middle of a run.
RENEW_MARGIN = timedelta(minutes=5)
#: RFC 8628 §3.5: on `slow_down` the polling interval grows by 5 seconds.
SLOW_DOWN_STEP = 5.0

#: RFC 6750 `b64token` (Allegro's are JWTs, which fit): what may follow "Bearer ".
_BEARER = re.compile(r"[A-Za-z0-9\-._~+/]{1,8192}=*")


class AuthorisationEnded(ShopConfigError):
    """The seller's authorisation is gone (no tokens, or a refresh token Allegro refuses):
    a configuration error only the seller can fix, by authorising again."""


def oauth_base(base_url: str) -> str:
    """The OAuth root for an API root: `https://api.allegro.pl` → `https://allegro.pl`,
    `https://api.allegro.pl.allegrosandbox.pl` → `https://allegro.pl.allegrosandbox.pl`,
    `http://127.0.0.1:8099` (no `api.`) → itself."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ShopError(f"allegro base_url must be an http(s) address, got {base_url!r}")
    netloc = parts.netloc
    if parts.hostname.startswith("api."):
        netloc = netloc.replace("api.", "", 1)
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def basic(client_id: str, client_secret: str) -> str:
    return "Basic " + b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")


def config_hint(integration_id: int) -> str:
    return (f"authorise the seller again: iluo-sync integration-auth TENANT {integration_id}")


@dataclass(frozen=True, slots=True)
class DeviceAuthorisation:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float

    def __repr__(self) -> str:  # the device code is a credential until it expires
        return f"DeviceAuthorisation(user_code={self.user_code!r})"


class OAuthEndpoint:
    """The OAuth calls, through a ShopHttp of their own (retries, timeouts, masking)."""

    def __init__(self, http: ShopHttp, client_id: str, client_secret: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.http = http
        self.client_id = client_id
        self._clock = clock

    def _post(self, path: str, form: dict[str, str]) -> ShopResponse:
        # Basic client credentials go in through a per-request auth so they never sit in the
        # client's default headers (where an API call could carry them).
        return self.http.request("POST", path, content=urlencode(form).encode(),
                                 content_type=FORM, idempotent=False)

    def start_device_flow(self) -> DeviceAuthorisation:
        try:
            data = self._post(DEVICE_PATH, {"client_id": self.client_id}).data
        except ShopHttpError as exc:
            raise ShopError(f"allegro refused to start the device flow (check api_key = client "
                            f"id and api_secret = client secret): {exc}") from None
        if not isinstance(data, dict):
            raise ShopError("allegro POST /auth/oauth/device: the answer is not an object")
        try:
            device = DeviceAuthorisation(
                device_code=_text(data, "device_code"),
                user_code=_text(data, "user_code"),
                verification_uri=_text(data, "verification_uri"),
                verification_uri_complete=(str(data["verification_uri_complete"])
                                           if data.get("verification_uri_complete") else None),
                expires_in=float(data.get("expires_in") or 3600),
                interval=max(1.0, float(data.get("interval") or 5)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ShopError(f"allegro POST /auth/oauth/device: malformed answer ({exc})") from None
        register_secret(device.device_code)
        return device

    def poll(self, device: DeviceAuthorisation, *, sleep: Callable[[float], None] = time.sleep,
             monotonic: Callable[[], float] = time.monotonic) -> OAuthTokens:
        """Wait for the seller's confirmation at the pace Allegro asks; the tokens, or ShopError
        (refused, expired)."""
        interval = device.interval
        deadline = monotonic() + device.expires_in
        while True:
            sleep(interval)
            try:
                return self._tokens(self._post(TOKEN_PATH, {
                    "grant_type": DEVICE_GRANT, "device_code": device.device_code}).data)
            except ShopHttpError as exc:
                if exc.code == "authorization_pending" and monotonic() < deadline:
                    continue
                if exc.code == "slow_down" and monotonic() < deadline:
                    interval += SLOW_DOWN_STEP
                    continue
                if exc.code == "access_denied":
                    raise ShopError("allegro: the seller refused the authorisation") from None
                if exc.code in ("authorization_pending", "slow_down", "expired_token"):
                    raise ShopError("allegro: the code expired before the seller confirmed it; "
                                    "run the command again") from None
                raise ShopError(f"allegro: the authorisation failed: {exc}") from None

    def refresh(self, refresh_token: str) -> OAuthTokens:
        """A new pair for a refresh token; AuthorisationEnded when Allegro refuses it."""
        try:
            response = self._post(TOKEN_PATH, {"grant_type": "refresh_token",
                                               "refresh_token": refresh_token})
        except ShopHttpError as exc:
            if exc.status_code in (400, 401) and exc.code in ("invalid_grant", "invalid_token",
                                                              "unauthorized"):
                raise AuthorisationEnded(
                    f"allegro refused the refresh token ({exc.code})") from None
            if exc.status_code == 401:
                raise ShopError(f"allegro refused the application's credentials (check api_key "
                                f"= client id, api_secret = client secret): {exc}") from None
            raise
        return self._tokens(response.data)

    def _tokens(self, data: Any) -> OAuthTokens:
        if not isinstance(data, dict):
            raise ShopError("allegro POST /auth/oauth/token: the answer is not an object")
        access, refresh = data.get("access_token"), data.get("refresh_token")
        for name, value in (("access_token", access), ("refresh_token", refresh)):
            if not isinstance(value, str) or not _BEARER.fullmatch(value):
                raise ShopError(f"allegro POST /auth/oauth/token: no valid {name} in the answer")
        assert isinstance(access, str) and isinstance(refresh, str)
        register_secret(access)
        register_secret(refresh)
        try:
            lifetime = float(data.get("expires_in", 43199))
        except (TypeError, ValueError):
            lifetime = 3600.0
        lifetime = min(max(lifetime, 0.0), 366 * 86400.0)  # a garbled lifetime: refresh early
        return OAuthTokens(access, refresh, self._clock() + timedelta(seconds=lifetime))


class BearerAuth(httpx.Auth):
    """`Authorization: Bearer <current access token>` on every API call."""

    def __init__(self) -> None:
        self.token: str | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.token:
            request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


class BasicAuth(httpx.Auth):
    """The application's Basic credentials, for the OAuth endpoints only."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self._header = basic(client_id, client_secret)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


class TokenKeeper:
    """The current access token of one integration, refreshed before it ends."""

    def __init__(self, state: ConnectorState, endpoint: OAuthEndpoint, integration_id: int,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.state = state
        self.endpoint = endpoint
        self.integration_id = integration_id
        self._clock = clock
        self._tokens: OAuthTokens | None = None
        #: Refreshes done by this keeper (for tests and the benchmark).
        self.refreshes = 0

    def access_token(self) -> str:
        tokens = self._tokens or self._load()
        if self._clock() >= tokens.expires_at - RENEW_MARGIN:
            tokens = self._refresh(tokens)
        self._tokens = tokens
        return tokens.access_token

    def expired(self) -> None:
        """The API refused the access token before its announced end: refresh on next use."""
        if self._tokens is not None:
            self._tokens = OAuthTokens(self._tokens.access_token, self._tokens.refresh_token,
                                       self._clock() - RENEW_MARGIN, self._tokens.version)

    def _load(self) -> OAuthTokens:
        tokens = self.state.load_tokens()
        if tokens is None:
            raise AuthorisationEnded(
                f"configuration error: allegro integration {self.integration_id} has no "
                f"seller authorisation yet; {config_hint(self.integration_id)}")
        return tokens

    def _refresh(self, tokens: OAuthTokens) -> OAuthTokens:
        stored = self.state.load_tokens()
        if stored is not None and stored.version != tokens.version:
            if self._clock() < stored.expires_at - RENEW_MARGIN:
                return stored  # another run refreshed meanwhile
            tokens = stored
        try:
            fresh = self.endpoint.refresh(tokens.refresh_token)
        except AuthorisationEnded:
            latest = self.state.load_tokens()
            if latest is not None and latest.version != tokens.version:
                return latest  # ours was replaced while we asked: not the seller's doing
            raise AuthorisationEnded(
                f"configuration error: allegro refused the seller's refresh token for "
                f"integration {self.integration_id} (the authorisation was revoked or is "
                f"older than its lifetime); {config_hint(self.integration_id)}") from None
        self.refreshes += 1
        if self.state.save_tokens(fresh, replaces=tokens.version):
            return OAuthTokens(fresh.access_token, fresh.refresh_token, fresh.expires_at,
                               tokens.version + 1)
        latest = self.state.load_tokens()  # lost the race: the winner's pair is the valid one
        return latest if latest is not None else fresh


def _text(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key} missing")
    return value


def authorise(
    conn: ShopConnection,
    state: ConnectorState,
    announce: Callable[[DeviceAuthorisation], None],
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> OAuthTokens:
    """The device flow for one integration, start to finish: ask for a code, `announce` it
    (the seller opens the URL and confirms), wait, store the tokens (encrypted by `state`).
    What `iluo-sync integration-auth` runs."""
    if not conn.api_key or not conn.api_secret:
        raise ShopError(f"allegro integration {conn.integration_id} needs api_key (client id) "
                        "and api_secret (client secret) before it can be authorised")
    http = ShopHttp(oauth_base(conn.base_url), platform="allegro",
                    auth=BasicAuth(conn.api_key, conn.api_secret), transport=transport,
                    verify=conn.verify_tls, sleep=sleep, secrets=(conn.api_key, conn.api_secret))
    with http:
        endpoint = OAuthEndpoint(http, conn.api_key, conn.api_secret)
        device = endpoint.start_device_flow()
        announce(device)
        tokens = endpoint.poll(device, sleep=sleep)
    state.save_tokens(tokens, replaces=None)
    return tokens
