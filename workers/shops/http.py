"""The HTTP layer every shop connector shares: one `ShopHttp` per connector instance.

What it promises, whatever the platform:

- every call has a `httpx.Timeout` (connect, read, write, pool) — a blocked socket read cannot be
  interrupted by dramatiq's time limit, so the timeout is the only thing that frees the thread;
- bodies are read as a stream and refused above `max_body_bytes`, so a broken or hostile shop
  cannot make a worker allocate without bound;
- 408/429/5xx, timeouts and connection errors are retried a few times with exponential backoff and
  jitter; `Retry-After` is honoured up to `max_retry_after` — a longer wait becomes
  `ShopRetriableError` at once, because the next scheduled run is the real retry and a worker
  thread must not sleep for minutes on one shop;
- any other 4xx raises `ShopHttpError` with one line naming the platform's error code and message;
  URLs in messages carry the path only (queries can hold OAuth signatures or keys) and the
  connection's secrets are masked wherever a shop echoes them back;
- a body that is not JSON raises `ShopError("… page is not JSON …")`;
- request bodies are JSON (`json=`) or raw bytes with their own type (`content=` +
  `content_type=`, e.g. PrestaShop's XML);
- redirects are never followed: a 3xx is an error naming the target, since following one would
  send the shop's credentials to wherever the answer points (also inside our own network);
- TLS certificates are verified unless the integration explicitly opted out (`verify`);
- in the hosted mode every connection goes through the SSRF guard of `workers.shops.egress`
  (vetted addresses only, peer address re-checked on every response);
- `stats` counts calls (total, per status, 429s, retries, transport errors) for metrics and
  benchmarks;
- `transport` is the test seam, `sleep` and `jitter` make backoff testable without waiting,
  `limiter` is called before every request (a platform with a rate bucket plugs in there) and
  `observe` sees every response (to read bucket headers).
"""

from __future__ import annotations

import random
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from shared.settings import get_settings
from workers.ports import ShopError, ShopRetriableError
from workers.shops.egress import EgressPolicy, EgressRefused, guarded_transport


@cache
def _verified_tls() -> ssl.SSLContext:
    # Loading the CA bundle costs ~40 ms: once per process, not once per run (an idle run
    # makes its client and closes it unused). An SSLContext is safe to share between threads.
    return httpx.create_ssl_context(verify=True)


def tls(verify: bool) -> ssl.SSLContext | bool:
    """What httpx takes as `verify`: the process's shared verifying context, or False."""
    return _verified_tls() if verify else False


#: Connect/read/write/pool limits in seconds. Read is the generous one: a WooCommerce batch of
#: 100 products on a slow WordPress host can take tens of seconds.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=10.0)

#: The largest body we accept. A page of 100 orders is ~0.5 MiB; 20 MiB leaves room for fat
#: descriptions and still bounds memory per worker thread.
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024

#: Statuses worth another attempt: the request may succeed unchanged a moment later.
#: Deepest JSON nesting a page may have. Shop payloads nest a dozen levels at most; orjson
#: accepts 1024, and a 1000-level value reaching a parser would blow the stack of anything that
#: walks or prints it (a `repr` in an error message), so a deeper page fails at the door.
MAX_JSON_DEPTH = 64

RETRIABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

#: Transport failures that certainly happened before the shop saw the request; only these
#: (and 429) are retried for a non-idempotent call.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

_SNIPPET_CHARS = 160


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one call tries. Short on purpose: the schedule retries a failed run."""

    max_attempts: int = 4
    backoff_base: float = 0.5  # seconds before the 2nd attempt; doubles each time
    backoff_max: float = 8.0
    max_retry_after: float = 30.0  # a longer Retry-After fails the call instead of waiting

    def backoff(self, attempt: int, jitter: float) -> float:
        """Delay after failed attempt number `attempt` (1-based); `jitter` is in [0, 1).

        "Equal jitter": half the exponential step is fixed, half random, so concurrent workers
        spread out but never hammer the shop with a zero delay.
        """
        step = min(self.backoff_max, self.backoff_base * 2.0 ** (attempt - 1))
        return step / 2 + step / 2 * jitter


@dataclass(slots=True)
class CallStats:
    """What a client has spent on the wire: every attempt counts as a call."""

    calls: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    throttled: int = 0  # 429 answers
    retries: int = 0
    transport_errors: int = 0  # timeouts and connection errors (no status)
    bytes_read: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "by_status": dict(self.by_status),
            "throttled": self.throttled,
            "retries": self.retries,
            "transport_errors": self.transport_errors,
            "bytes_read": self.bytes_read,
        }


@dataclass(frozen=True, slots=True)
class ShopResponse:
    """A successful (2xx) answer with its body already decoded from JSON (None if empty)."""

    status_code: int
    headers: httpx.Headers
    data: Any


class ShopHttpError(ShopError):
    """A 4xx (or unexpected 3xx) answer; `code` is the platform's own error code when it sent one.

    Connectors catch it to react to specific statuses (WooCommerce splits a batch on 413).
    """

    def __init__(self, message: str, *, status_code: int, code: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code


#: Turns a decoded error body into (code, message); platforms override it if their shape differs.
ErrorDetail = Callable[[Any], tuple[str | None, str | None]]


def default_error_detail(body: Any) -> tuple[str | None, str | None]:
    """Understand the common error shapes: WordPress/WooCommerce `{"code","message"}`,
    `{"error": "…"|{"code","message"}}` and `{"errors": [ … ]}`."""
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, dict):
        return None, None
    if "error" in body and isinstance(body["error"], dict):
        body = body["error"]
    elif "errors" in body and isinstance(body["errors"], list) and body["errors"]:
        first = body["errors"][0]
        body = first if isinstance(first, dict) else {"message": first}
    code = body.get("code", body.get("error") if isinstance(body.get("error"), str) else None)
    message = body.get("message", body.get("error_description", body.get("detail")))
    return (str(code) if code not in (None, "") else None,
            str(message) if message not in (None, "") else None)


class ShopHttp:
    """A small wrapper around `httpx.Client` that applies the promises above to every call."""

    def __init__(
        self,
        base_url: str,
        *,
        platform: str,
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        retry: RetryPolicy = RetryPolicy(),
        transport: httpx.BaseTransport | None = None,
        verify: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        limiter: Callable[[], None] | None = None,
        observe: Callable[[httpx.Response], None] | None = None,
        error_detail: ErrorDetail = default_error_detail,
        secrets: Iterable[str | None] = (),
        egress: EgressPolicy | None = None,
    ) -> None:
        self.platform = platform
        self.retry = retry
        self.max_body_bytes = max_body_bytes
        self.stats = CallStats()
        self._sleep = sleep
        self._jitter = jitter
        self._limiter = limiter
        self._observe = observe
        self._error_detail = error_detail
        # Short strings are not worth masking (and would mangle messages).
        self._secrets = tuple(s for s in secrets if s and len(s) >= 6)
        self.egress = egress if egress is not None else current_egress_policy()
        if transport is None and self.egress.hosted:
            # Tests hand in their own transport; a real one is guarded in the hosted mode.
            transport = guarded_transport(self.egress, verify=tls(verify))
        self._client = httpx.Client(
            base_url=base_url,
            auth=auth,
            headers={"Accept": "application/json", "User-Agent": "iluo-sync", **(headers or {})},
            timeout=timeout,
            transport=transport,
            verify=tls(verify),
            follow_redirects=False,  # a redirect would drop or leak credentials; say so instead
        )

    # -- public API ---------------------------------------------------------------------------

    def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> ShopResponse:
        return self.request("GET", path, params=params)

    def post(
        self,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool = True,
    ) -> ShopResponse:
        return self.request("POST", path, params=params, json=json, content=content,
                            content_type=content_type, idempotent=idempotent)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        idempotent: bool = True,
    ) -> ShopResponse:
        """Send one logical call, retrying as the policy allows; answer the decoded 2xx body.

        The body is `json` (serialised here) or `content` as is, sent with `content_type`
        (which `content` requires). `idempotent=False` limits retries to failures where the
        shop surely did not act on the request (429, connection refused/timed out before
        sending).
        """
        if json is not None and content is not None:
            raise ValueError("pass either json or content, not both")
        if json is not None:
            content, content_type = orjson.dumps(json), "application/json"
        elif content is not None and not content_type:
            raise ValueError("content needs a content_type")
        where = f"{method} {path.split('?', 1)[0]}"
        attempt = 0
        while True:
            attempt += 1
            try:
                response, body = self._send_once(method, path, params, content, content_type,
                                                  where)
            except httpx.TransportError as exc:
                self.stats.transport_errors += 1
                retriable = idempotent or isinstance(exc, _NOT_SENT_ERRORS)
                problem = f"{type(exc).__name__}: {self._mask(str(exc)) or 'no detail'}"
                self._wait_or_give_up(attempt, retriable, where, problem, retry_after=None)
                continue
            status = response.status_code
            if 200 <= status < 300:
                return ShopResponse(status, response.headers, self._decode(body, response, where))
            if status in RETRIABLE_STATUSES:
                retriable = idempotent or status == 429
                problem = f"HTTP {status}{self._detail_suffix(body)}"
                self._wait_or_give_up(
                    attempt, retriable, where, problem, retry_after=self._retry_after(response)
                )
                continue
            raise self._client_error(status, body, response, where)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ShopHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one attempt --------------------------------------------------------------------------

    def _send_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        content: bytes | None,
        content_type: str | None,
        where: str,
    ) -> tuple[httpx.Response, bytes]:
        if self._limiter is not None:
            self._limiter()
        headers = {"Content-Type": content_type} if content is not None and content_type else None
        # Built per attempt so an auth flow (OAuth 1.0a) signs every attempt with a fresh nonce.
        try:
            request = self._client.build_request(
                method, path, params=_wire_params(params), content=content, headers=headers
            )
            self.stats.calls += 1
            response = self._client.send(request, stream=True)
        except UnicodeEncodeError:
            # Something the shop sent us earlier (a token, an id) cannot go into a header or URL.
            raise ShopError(f"{where}: the request cannot be sent (text the shop gave us does "
                            "not fit an HTTP header or URL)") from None
        try:
            # Before a byte of the body is read: did the answer come from where we may go?
            self._check_peer(request, response)
            self.stats.by_status[response.status_code] += 1
            if response.status_code == 429:
                self.stats.throttled += 1
            if self._observe is not None:
                self._observe(response)
            body = self._read_capped(response, where)
        finally:
            response.close()
        return response, body

    def _check_peer(self, request: httpx.Request, response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        if stream is None or not self.egress.hosted:
            return  # a test transport has no socket
        self.egress.check_peer(request.url.host, stream.get_extra_info("server_addr"))

    def _read_capped(self, response: httpx.Response, where: str) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise ShopError(f"{self.platform} {where}: response of {int(declared)} bytes is "
                            f"larger than the {self.max_body_bytes} byte limit")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise ShopError(f"{self.platform} {where}: response is larger than the "
                                f"{self.max_body_bytes} byte limit")
            chunks.append(chunk)
        self.stats.bytes_read += size
        return b"".join(chunks)

    # -- retry decisions ----------------------------------------------------------------------

    def _wait_or_give_up(
        self, attempt: int, retriable: bool, where: str, problem: str, *, retry_after: float | None
    ) -> None:
        """Sleep before the next attempt, or raise ShopRetriableError if we should not wait."""
        if not retriable:
            raise ShopRetriableError(f"{self.platform} {where} failed ({problem}); not retried "
                                     "because the request may already have been applied")
        if attempt >= self.retry.max_attempts:
            raise ShopRetriableError(
                f"{self.platform} {where} failed after {attempt} attempts ({problem})"
            )
        if retry_after is not None and retry_after > self.retry.max_retry_after:
            raise ShopRetriableError(
                f"{self.platform} {where}: shop asks to retry after {retry_after:.0f} s "
                f"({problem}); leaving it to the next run"
            )
        delay = (retry_after if retry_after is not None
                 else self.retry.backoff(attempt, self._jitter()))
        self.stats.retries += 1
        self._sleep(delay)

    @staticmethod
    def _retry_after(response: httpx.Response) -> float | None:
        """Retry-After in seconds (delta-seconds or an HTTP date), None when absent or garbled."""
        value = response.headers.get("Retry-After", "").strip()
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())

    # -- turning answers into values or errors ------------------------------------------------

    def _decode(self, body: bytes, response: httpx.Response, where: str) -> Any:
        if not body.strip():
            return None
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            kind = response.headers.get("Content-Type", "no content type")
            raise ShopError(
                f"{self.platform} {where}: page is not JSON (HTTP {response.status_code}, "
                f"{kind}, starts with {self._snippet(body)!r})"
            ) from None
        if _nesting_exceeds(data, MAX_JSON_DEPTH):
            raise ShopError(f"{self.platform} {where}: page nests deeper than {MAX_JSON_DEPTH} "
                            "levels; refused")
        return data

    def _client_error(
        self, status: int, body: bytes, response: httpx.Response, where: str
    ) -> ShopHttpError:
        if 300 <= status < 400:
            target = response.headers.get("Location", "").split("?", 1)[0]
            return ShopHttpError(
                f"{self.platform} {where}: redirected (HTTP {status}) to {self._mask(target)!r}"
                f"{self._redirect_note(target)}; redirects are never followed — check the shop "
                "address (http/https, www) in the integration",
                status_code=status,
            )
        code, message = self._detail(body)
        detail = ": ".join(part for part in (code, message) if part) or self._snippet(body)
        return ShopHttpError(
            f"{self.platform} {where}: HTTP {status} {detail}".rstrip(),
            status_code=status,
            code=code,
        )

    def _redirect_note(self, target: str) -> str:
        """In the hosted mode, say so when a redirect points somewhere we would never go."""
        if not self.egress.hosted:
            return ""
        host = urlsplit(target).hostname if "://" in target else None
        if not host:
            return ""
        try:
            self.egress.vetted_addresses(host, 443)
        except EgressRefused:
            return " (a private or metadata address: refused)"
        except Exception:  # unresolvable: nothing to add, the redirect is not followed anyway
            return ""
        return ""

    def _detail(self, body: bytes) -> tuple[str | None, str | None]:
        try:
            decoded = orjson.loads(body) if body.strip() else None
        except orjson.JSONDecodeError:
            return None, None
        code, message = self._error_detail(decoded)
        return (self._mask(_one_line(code)) if code else None,
                self._mask(_one_line(message)) if message else None)

    def _detail_suffix(self, body: bytes) -> str:
        code, message = self._detail(body)
        detail = ": ".join(part for part in (code, message) if part)
        return f" {detail}" if detail else ""

    def _snippet(self, body: bytes) -> str:
        text = body[: _SNIPPET_CHARS * 4].decode("utf-8", "replace")
        return self._mask(_one_line(text)[:_SNIPPET_CHARS])

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def current_egress_policy() -> EgressPolicy:
    """The process's policy from its settings (`ILUO_SYNC_HOSTED`, `ILUO_SYNC_SHOP_ALLOWLIST`)."""
    try:
        return EgressPolicy.from_settings(get_settings())
    except ValueError as exc:  # a bad allowlist entry: no shop call goes out until it is fixed
        raise ShopError(str(exc)) from None


def _nesting_exceeds(data: Any, limit: int) -> bool:
    """Does `data` hold containers more than `limit` levels deep? (Iterative: a recursive
    walk would itself hit the recursion limit on the very input it guards against.)"""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
    return False


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _wire_params(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Query values as the shops expect them: booleans as `true`/`false`, None dropped."""
    if not params:
        return None
    wire: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        wire[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return wire
