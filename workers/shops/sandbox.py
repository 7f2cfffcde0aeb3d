"""Generic shop-API sandbox: a threaded HTTP server on 127.0.0.1 that platform emulators build on.

A platform sandbox subclasses `Sandbox` and implements `handle(request) -> SandboxResponse`
(and, optionally, `state()`, `reset_data()`, `fault_response()`). The base adds what every
emulator needs for tests and benchmarks:

- `serve(host="127.0.0.1", port=0) -> SandboxHandle` (`.base_url`, `.stop()`, context manager);
- `faults: Faults`: random 5xx / 429 (+ `Retry-After`), latency, `fail_next(n, status)`,
  a `predicate` that can fail (or act on) one specific request; all draws come from a seeded
  `random.Random`, so a run is reproducible;
- `log: RequestLog`: method, path, query, status of every API call, `count(method, path_prefix)`;
- `on_request`: callables run before a request is handled (e.g. edit an order mid-run);
- control endpoints for a sandbox in another process: GET `/__sandbox/state`,
  GET `/__sandbox/log`, POST `/__sandbox/faults` (JSON), POST `/__sandbox/reset`
  (JSON `{"data": true}` also resets the platform's data). They bypass faults, hooks and the log.

One re-entrant lock (`Sandbox.lock`) guards all state: fault draws, the log and the platform's
data; platform handlers run while holding it, hooks and predicates run outside it (they may call
back into the sandbox). Bodies are JSON via orjson and always sent with an exact Content-Length.
"""

from __future__ import annotations

import random
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

CONTROL_PREFIX = "/__sandbox/"
DEFAULT_ERROR_STATUSES: tuple[int, ...] = (500, 502, 503)
_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass(frozen=True, slots=True)
class SandboxRequest:
    """One incoming HTTP request as the platform handler sees it."""

    method: str
    path: str  # raw (still percent-encoded) path, no query
    query_string: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    base_url: str = "http://127.0.0.1"

    @property
    def query_items(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query_string, keep_blank_values=True)

    @property
    def query(self) -> dict[str, str]:
        """Decoded query; a repeated name keeps its last value (as PHP's $_GET does)."""
        return dict(self.query_items)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(slots=True)
class SandboxResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def json_response(
    status: int, data: Any, headers: Iterable[tuple[str, str]] = ()
) -> SandboxResponse:
    body = orjson.dumps(data)
    return SandboxResponse(
        status, body, [("Content-Type", "application/json; charset=UTF-8"), *headers]
    )


# ---------------------------------------------------------------------------------------------
# Faults


FaultPredicate = Callable[[SandboxRequest], int | None]


@dataclass
class Faults:
    """What goes wrong, and how often. Rates are probabilities per API request (0..1).

    Decision order per request: a pending `fail_next` status, then `predicate` (returns a status
    to fail with, or None), then one seeded draw: < rate_limit_rate → 429 with `Retry-After:
    retry_after`, else < rate_limit_rate + error_rate → one of `error_statuses`.
    `latency_ms` is added to every API request (faulted or not).
    """

    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: int = 1
    latency_ms: int = 0
    seed: int | None = 0
    error_statuses: tuple[int, ...] = DEFAULT_ERROR_STATUSES
    predicate: FaultPredicate | None = None
    rng: random.Random = field(init=False, repr=False)
    _pending: list[int] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._validate()

    def _validate(self) -> None:
        for name in ("error_rate", "rate_limit_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {rate}")
        if self.error_rate + self.rate_limit_rate > 1.0:
            raise ValueError("error_rate + rate_limit_rate must not exceed 1")
        if self.retry_after < 0 or self.latency_ms < 0:
            raise ValueError("retry_after and latency_ms must be >= 0")
        if not self.error_statuses:
            raise ValueError("error_statuses must not be empty")

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        """Fail the next `n` API requests with `status` (queued after earlier fail_next calls)."""
        self._pending.extend([status] * n)

    def reseed(self, seed: int | None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)

    def configure(self, changes: Mapping[str, Any]) -> None:
        """Apply a JSON-style change set (the `/__sandbox/faults` body); unknown keys are errors."""
        simple = {
            "error_rate": float,
            "rate_limit_rate": float,
            "retry_after": int,
            "latency_ms": int,
        }
        for name, value in changes.items():
            if name in simple:
                setattr(self, name, simple[name](value))
            elif name == "error_statuses":
                self.error_statuses = tuple(int(status) for status in value)
            elif name == "seed":
                self.reseed(None if value is None else int(value))
            elif name == "fail_next":
                spec = value if isinstance(value, Mapping) else {"n": value}
                self.fail_next(int(spec.get("n", 1)), int(spec.get("status", 503)))
            else:
                raise ValueError(f"unknown fault setting {name!r}")
        self._validate()

    def clear(self) -> None:
        """Back to no faults (same seed, fresh generator)."""
        self.error_rate = self.rate_limit_rate = 0.0
        self.latency_ms = 0
        self.retry_after = 1
        self.error_statuses = DEFAULT_ERROR_STATUSES
        self.predicate = None
        self._pending.clear()
        self.reseed(self.seed)

    def decide(self, predicate_status: int | None) -> int | None:
        """The fault status for this request, or None. Caller holds the sandbox lock."""
        if self._pending:
            return self._pending.pop(0)
        if predicate_status is not None:
            return predicate_status
        if self.error_rate <= 0 and self.rate_limit_rate <= 0:
            return None
        draw = self.rng.random()
        if draw < self.rate_limit_rate:
            return 429
        if draw < self.rate_limit_rate + self.error_rate:
            return self.rng.choice(self.error_statuses)
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "rate_limit_rate": self.rate_limit_rate,
            "retry_after": self.retry_after,
            "latency_ms": self.latency_ms,
            "seed": self.seed,
            "error_statuses": list(self.error_statuses),
            "pending": list(self._pending),
            "predicate": self.predicate is not None,
        }


# ---------------------------------------------------------------------------------------------
# Request log


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    status: int
    at: float  # time.time()


class RequestLog:
    """Every API request with its final status; shares the sandbox lock."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._entries: list[LoggedRequest] = []

    def append(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def count(
        self, method: str | None = None, path_prefix: str | None = None, status: int | None = None
    ) -> int:
        """How many requests match; `path_prefix` is compared with the request path."""
        with self._lock:
            return sum(
                1
                for entry in self._entries
                if (method is None or entry.method == method.upper())
                and (path_prefix is None or entry.path.startswith(path_prefix))
                and (status is None or entry.status == status)
            )

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


# ---------------------------------------------------------------------------------------------
# The sandbox


class Sandbox:
    """Base of every platform emulator; see the module docstring."""

    platform: str = "generic"

    def __init__(self, *, faults: Faults | None = None) -> None:
        self.lock = threading.RLock()
        self.faults = faults if faults is not None else Faults()
        self.log = RequestLog(self.lock)
        self.on_request: list[Callable[[SandboxRequest], None]] = []

    # -- to override --------------------------------------------------------------------------

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one API request; called with `self.lock` held."""
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """Platform counts for `/__sandbox/state`; called with the lock held."""
        return {}

    def reset_data(self) -> None:
        """Restore the platform's initial data (POST /__sandbox/reset with {"data": true})."""

    def fault_response(self, status: int, request: SandboxRequest) -> SandboxResponse:
        """What an injected fault looks like: a proxy/WAF page, not the platform's JSON."""
        reason = _REASONS.get(status, "Error")
        headers: list[tuple[str, str]] = [("Content-Type", "text/html; charset=UTF-8")]
        if status == 429:
            headers.append(("Retry-After", str(self.faults.retry_after)))
        title = f"{status} {reason}"
        body = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        return SandboxResponse(status, body.encode(), headers)

    # -- pipeline -----------------------------------------------------------------------------

    def process(self, request: SandboxRequest) -> SandboxResponse:
        """Full handling of one request: control endpoints, hooks, faults, latency, log."""
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)
        for hook in list(self.on_request):
            hook(request)
        predicate = self.faults.predicate
        predicate_status = predicate(request) if predicate is not None else None
        with self.lock:
            fault = self.faults.decide(predicate_status)
            latency = self.faults.latency_ms
        if latency:
            time.sleep(latency / 1000)
        if fault is not None:
            response = self.fault_response(fault, request)
        else:
            response = self._handle_safely(request)
        self.log.append(
            LoggedRequest(request.method, request.path, request.query, response.status, time.time())
        )
        return response

    def _handle_safely(self, request: SandboxRequest) -> SandboxResponse:
        try:
            with self.lock:
                return self.handle(request)
        except Exception as error:  # a sandbox bug must surface in the test, not hang the client
            traceback.print_exc()
            return json_response(500, {"code": "sandbox_internal_error", "message": repr(error)})

    def _control(self, request: SandboxRequest) -> SandboxResponse:
        action = request.path[len(CONTROL_PREFIX) :].strip("/")
        try:
            payload = orjson.loads(request.body) if request.body.strip() else {}
            with self.lock:
                if (request.method, action) == ("GET", "state"):
                    return json_response(200, self._state_document())
                if (request.method, action) == ("GET", "log"):
                    return json_response(
                        200, [_entry_document(entry) for entry in self.log.entries()]
                    )
                if (request.method, action) == ("POST", "faults"):
                    self.faults.configure(payload)
                    return json_response(200, self.faults.to_dict())
                if (request.method, action) == ("POST", "reset"):
                    self.reset(data=bool(payload.get("data", False)))
                    return json_response(200, self._state_document())
        except (ValueError, TypeError, AttributeError, orjson.JSONDecodeError) as error:
            return json_response(400, {"error": str(error)})
        return json_response(
            404, {"error": f"unknown control endpoint {request.method} {request.path}"}
        )

    def _state_document(self) -> dict[str, Any]:
        by_status: dict[str, int] = {}
        for entry in self.log.entries():
            by_status[str(entry.status)] = by_status.get(str(entry.status), 0) + 1
        return {
            "platform": self.platform,
            "requests": len(self.log),
            "by_status": by_status,
            "faults": self.faults.to_dict(),
            **self.state(),
        }

    def reset(self, *, data: bool = False) -> None:
        """Clear faults and the request log; with `data`, also the platform's data."""
        with self.lock:
            self.faults.clear()
            self.log.clear()
            if data:
                self.reset_data()

    # -- serving ------------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> SandboxHandle:
        """Start serving in a background thread; port 0 picks a free port."""
        server = _Server((host, port), _Handler, self)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.name = f"{self.platform}-sandbox-{server.server_address[1]}"
        thread.start()
        return SandboxHandle(self, server, thread)


def _entry_document(entry: LoggedRequest) -> dict[str, Any]:
    return {
        "method": entry.method,
        "path": entry.path,
        "query": entry.query,
        "status": entry.status,
        "at": entry.at,
    }


def _host(address: str | bytes | bytearray) -> str:
    """A server address's host as text (the socket layer types it as bytes too)."""
    return address if isinstance(address, str) else bytes(address).decode()


class SandboxHandle:
    """A running sandbox server. `with sandbox.serve() as handle:` stops it on exit."""

    def __init__(self, sandbox: Sandbox, server: _Server, thread: threading.Thread) -> None:
        self.sandbox = sandbox
        self._server = server
        self._thread = thread
        self.host, self.port = _host(server.server_address[0]), server.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not block stop()
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], sandbox: Sandbox
    ) -> None:
        self.sandbox = sandbox
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real shops; every response has Content-Length
    timeout = 30  # close idle keep-alive connections
    disable_nagle_algorithm = (
        True  # headers and body are two writes: avoid 40 ms delayed-ACK stalls
    )
    server: _Server

    def _serve(self) -> None:
        body = self._read_body()
        target = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        host = (
            headers.get("host")
            or f"{_host(self.server.server_address[0])}:{self.server.server_address[1]}"
        )
        request = SandboxRequest(
            method=self.command.upper(),
            path=target.path or "/",
            query_string=target.query,
            headers=headers,
            body=body,
            base_url=f"http://{host}",
        )
        response = self.server.sandbox.process(request)
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command.upper() != "HEAD":
            self.wfile.write(response.body)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
        pass  # the request log replaces stderr noise


def serve_until_stopped(
    sandbox: Sandbox, host: str, port: int, banner: Callable[[SandboxHandle], str]
) -> None:
    """Serve `sandbox`, print `banner(handle)` once, block until Ctrl-C or SIGTERM (the
    `iluo-sync sandbox PLATFORM` command of every platform)."""
    stop = threading.Event()
    with sandbox.serve(host, port) as handle:
        print(banner(handle), flush=True)
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if in_main_thread else None
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            if in_main_thread:
                signal.signal(signal.SIGTERM, previous)
