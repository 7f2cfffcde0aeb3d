"""The generic sandbox base over real HTTP: serving, log, faults, hooks, control endpoints."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from workers.shops.sandbox import (
    Faults,
    Sandbox,
    SandboxHandle,
    SandboxRequest,
    SandboxResponse,
    json_response,
)


class EchoSandbox(Sandbox):
    """Answers every request with its method, path and query; counts handled requests."""

    platform = "echo"

    def __init__(self, faults: Faults | None = None) -> None:
        super().__init__(faults=faults)
        self.handled = 0
        self.data_resets = 0

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.path == "/boom":
            raise RuntimeError("handler bug")
        self.handled += 1
        return json_response(
            200,
            {
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "n": self.handled,
            },
        )

    def state(self) -> dict[str, int]:
        return {"handled": self.handled}

    def reset_data(self) -> None:
        self.handled = 0
        self.data_resets += 1


@pytest.fixture
def echo() -> EchoSandbox:
    return EchoSandbox()


@pytest.fixture
def server(echo: EchoSandbox) -> Iterator[SandboxHandle]:
    with echo.serve() as handle:
        yield handle


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def test_serves_on_a_free_port_and_stops(echo: EchoSandbox) -> None:
    with echo.serve("127.0.0.1", 0) as handle:
        assert handle.port > 0
        assert handle.base_url == f"http://127.0.0.1:{handle.port}"
        response = httpx.get(handle.url("/hello"), params={"a": "1"})
        assert response.json() == {"method": "GET", "path": "/hello", "query": {"a": "1"}, "n": 1}
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", handle.port), timeout=1):
        pass


def test_content_length_is_exact_with_keep_alive(server: SandboxHandle, http: httpx.Client) -> None:
    for path in ("/a", "/zażółć", "/" + "x" * 3000):
        response = http.get(server.url(path))
        assert int(response.headers["content-length"]) == len(response.content)
    head = http.head(server.url("/a"))
    assert head.content == b"" and int(head.headers["content-length"]) > 0


def test_log_counts_by_method_and_path_prefix(
    echo: EchoSandbox, server: SandboxHandle, http: httpx.Client
) -> None:
    http.get(server.url("/orders"), params={"page": "2"})
    http.get(server.url("/orders/5"))
    http.post(server.url("/products"), json={})
    assert echo.log.count() == 3
    assert echo.log.count(method="GET") == 2
    assert echo.log.count(path_prefix="/orders") == 2
    assert echo.log.count("post", "/products") == 1
    assert echo.log.entries()[0].query == {"page": "2"}
    assert echo.log.entries()[0].status == 200


def test_seeded_fault_rates_mix_errors_rate_limits_and_successes(http: httpx.Client) -> None:
    def statuses(seed: int) -> list[int]:
        sandbox = EchoSandbox(
            Faults(error_rate=0.25, rate_limit_rate=0.1, retry_after=7, seed=seed)
        )
        with sandbox.serve() as handle:
            responses = [http.get(handle.url(f"/r/{index}")) for index in range(60)]
        for response in responses:
            if response.status_code == 429:
                assert response.headers["retry-after"] == "7"
        return [response.status_code for response in responses]

    first = statuses(42)
    assert 200 in first and 429 in first
    assert {500, 502, 503} & set(first)
    assert first == statuses(42)  # same seed, same sequence


def test_fail_next_then_recovers(
    echo: EchoSandbox, server: SandboxHandle, http: httpx.Client
) -> None:
    echo.faults.fail_next(2, 503)
    echo.faults.fail_next(1, 429)
    codes = [http.get(server.url("/x")).status_code for _ in range(4)]
    assert codes == [503, 503, 429, 200]
    assert echo.handled == 1  # faulted requests never reach the platform
    assert echo.log.count(status=503) == 2


def test_predicate_fails_one_specific_request(
    echo: EchoSandbox, server: SandboxHandle, http: httpx.Client
) -> None:
    seen: list[str] = []

    def second_page_of_orders(request: SandboxRequest) -> int | None:
        seen.append(request.path)
        return 502 if request.path == "/orders" and request.query.get("page") == "2" else None

    echo.faults.predicate = second_page_of_orders
    assert http.get(server.url("/orders"), params={"page": "1"}).status_code == 200
    assert http.get(server.url("/orders"), params={"page": "2"}).status_code == 502
    assert http.get(server.url("/products"), params={"page": "2"}).status_code == 200
    assert seen == ["/orders", "/orders", "/products"]


def test_on_request_hooks_run_before_handling(
    echo: EchoSandbox, server: SandboxHandle, http: httpx.Client
) -> None:
    def bump(request: SandboxRequest) -> None:
        with echo.lock:
            echo.handled += 10

    echo.on_request.append(bump)
    assert http.get(server.url("/x")).json()["n"] == 11


def test_latency_is_added(echo: EchoSandbox, server: SandboxHandle, http: httpx.Client) -> None:
    echo.faults.latency_ms = 80
    started = time.perf_counter()
    http.get(server.url("/slow"))
    assert time.perf_counter() - started >= 0.08


def test_handler_bug_is_a_500_not_a_hang(server: SandboxHandle, http: httpx.Client) -> None:
    response = http.get(server.url("/boom"))
    assert response.status_code == 500
    assert response.json()["code"] == "sandbox_internal_error"


def test_control_endpoints_steer_a_running_sandbox(
    echo: EchoSandbox, server: SandboxHandle, http: httpx.Client
) -> None:
    http.get(server.url("/a"))
    state = http.get(server.url("/__sandbox/state")).json()
    assert state["platform"] == "echo" and state["requests"] == 1 and state["handled"] == 1
    assert state["by_status"] == {"200": 1}

    changed = http.post(
        server.url("/__sandbox/faults"),
        json={"fail_next": {"n": 1, "status": 500}, "retry_after": 3},
    )
    assert changed.status_code == 200 and changed.json()["pending"] == [500]
    assert http.get(server.url("/b")).status_code == 500
    assert http.post(server.url("/__sandbox/faults"), json={"error_rate": 2}).status_code == 400
    assert http.post(server.url("/__sandbox/faults"), json={"bogus": 1}).status_code == 400

    log = http.get(server.url("/__sandbox/log")).json()
    assert [(entry["path"], entry["status"]) for entry in log] == [("/a", 200), ("/b", 500)]

    reset = http.post(server.url("/__sandbox/reset"), json={"data": True}).json()
    assert reset["requests"] == 0 and reset["handled"] == 0 and echo.data_resets == 1
    assert reset["faults"]["retry_after"] == 1
    assert echo.log.count() == 0  # control calls are never logged


def test_concurrent_requests_are_all_logged(echo: EchoSandbox, server: SandboxHandle) -> None:
    with httpx.Client(timeout=5) as client, ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(
            pool.map(lambda index: client.get(server.url(f"/c/{index}")).status_code, range(40))
        )
    assert codes == [200] * 40
    assert echo.log.count(path_prefix="/c/") == 40 and echo.handled == 40


def test_faults_validate_settings() -> None:
    with pytest.raises(ValueError):
        Faults(error_rate=0.8, rate_limit_rate=0.5)
    faults = Faults()
    faults.configure({"seed": 5, "error_statuses": [502], "fail_next": 2})
    assert faults.to_dict()["pending"] == [503, 503] and faults.seed == 5
