"""ShopHttp: retries, Retry-After, backoff, size limit, JSON errors and 4xx messages.

A `httpx.MockTransport` stands in for the shop here: these are unit tests of the HTTP layer
itself; the connectors are tested over real HTTP against the sandboxes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import orjson
import pytest

from workers.ports import ShopError, ShopRetriableError
from workers.shops.http import RetryPolicy, ShopHttp, ShopHttpError

Handler = Callable[[httpx.Request], httpx.Response]


class Script:
    """A transport answering from a list of responses (or exceptions), recording requests."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer


def json_response(
    status: int, body: object, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(body),
                          headers={"Content-Type": "application/json", **(headers or {})})


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_http(sleeps: list[float]) -> Iterator[Callable[..., ShopHttp]]:
    made: list[ShopHttp] = []

    def make(script: Script, **options: object) -> ShopHttp:
        options.setdefault("jitter", lambda: 0.5)
        http = ShopHttp("https://shop.example.pl/api/", platform="testshop",
                        transport=httpx.MockTransport(script), sleep=sleeps.append,
                        **options)  # type: ignore[arg-type]
        made.append(http)
        return http

    yield make
    for http in made:
        http.close()


def test_success_decodes_json_and_counts(make_http: Callable[..., ShopHttp]) -> None:
    script = Script(json_response(200, [{"id": 1}], {"X-WP-Total": "1"}))
    http = make_http(script)

    answer = http.get("orders", params={"page": 1, "dates_are_gmt": True, "skip": None})

    assert answer.data == [{"id": 1}]
    assert answer.headers["X-WP-Total"] == "1"
    assert script.requests[0].url == "https://shop.example.pl/api/orders?page=1&dates_are_gmt=true"
    assert http.stats.calls == 1 and http.stats.by_status == {200: 1}


def test_post_sends_json_body(make_http: Callable[..., ShopHttp]) -> None:
    script = Script(lambda r: json_response(200, orjson.loads(r.content)))
    http = make_http(script)

    assert http.post("batch", json={"update": [{"id": 1}]}).data == {"update": [{"id": 1}]}
    assert script.requests[0].headers["Content-Type"] == "application/json"


def test_5xx_then_success_retries_with_exponential_backoff(
    make_http: Callable[..., ShopHttp], sleeps: list[float]
) -> None:
    script = Script(httpx.Response(502), httpx.Response(503), json_response(200, {"ok": True}))
    http = make_http(script, retry=RetryPolicy(backoff_base=1.0))

    assert http.get("x").data == {"ok": True}
    # Equal jitter with jitter()=0.5: 3/4 of 1 s, then of 2 s.
    assert sleeps == [0.75, 1.5]
    assert http.stats.calls == 3 and http.stats.retries == 2
    assert http.stats.by_status == {502: 1, 503: 1, 200: 1}


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=4.0)
    assert policy.backoff(10, 0.0) == 2.0
    assert policy.backoff(10, 0.999) < 4.0
    assert policy.backoff(1, 0.0) < policy.backoff(1, 0.9)


def test_attempts_are_bounded(make_http: Callable[..., ShopHttp], sleeps: list[float]) -> None:
    script = Script(httpx.Response(500))
    http = make_http(script, retry=RetryPolicy(max_attempts=4))

    with pytest.raises(ShopRetriableError, match=r"after 4 attempts.*HTTP 500"):
        http.get("x")
    assert len(script.requests) == 4 and len(sleeps) == 3


def test_429_honours_retry_after_seconds(
    make_http: Callable[..., ShopHttp], sleeps: list[float]
) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "7"}), json_response(200, []))
    http = make_http(script)

    http.get("x")
    assert sleeps == [7.0]
    assert http.stats.throttled == 1


def test_retry_after_http_date(make_http: Callable[..., ShopHttp], sleeps: list[float]) -> None:
    past = "Wed, 21 Oct 2015 07:28:00 GMT"
    script = Script(httpx.Response(503, headers={"Retry-After": past}), json_response(200, []))
    make_http(script).get("x")
    assert sleeps == [0.0]


def test_long_retry_after_fails_fast_instead_of_holding_the_thread(
    make_http: Callable[..., ShopHttp], sleeps: list[float]
) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "600"}))
    http = make_http(script, retry=RetryPolicy(max_retry_after=30))

    with pytest.raises(ShopRetriableError, match="retry after 600 s"):
        http.get("x")
    assert sleeps == [] and len(script.requests) == 1


def test_timeouts_and_connection_errors_are_retried(
    make_http: Callable[..., ShopHttp], sleeps: list[float]
) -> None:
    script = Script(httpx.ReadTimeout("timed out"), httpx.ConnectError("refused"),
                    json_response(200, {"ok": 1}))
    http = make_http(script)

    assert http.get("x").data == {"ok": 1}
    assert http.stats.transport_errors == 2 and len(sleeps) == 2


def test_transport_errors_exhausted_become_retriable_error(
    make_http: Callable[..., ShopHttp]
) -> None:
    http = make_http(Script(httpx.ReadTimeout("timed out")))
    with pytest.raises(ShopRetriableError, match="ReadTimeout"):
        http.get("x")


def test_non_idempotent_call_is_not_retried_after_a_read_timeout(
    make_http: Callable[..., ShopHttp]
) -> None:
    script = Script(httpx.ReadTimeout("timed out"), json_response(200, {}))
    http = make_http(script)
    with pytest.raises(ShopRetriableError, match="may already have been applied"):
        http.post("orders", json={}, idempotent=False)
    assert len(script.requests) == 1


def test_non_idempotent_call_is_retried_when_the_request_never_left(
    make_http: Callable[..., ShopHttp]
) -> None:
    script = Script(httpx.ConnectError("refused"), httpx.Response(429), json_response(200, {}))
    assert make_http(script).post("orders", json={}, idempotent=False).data == {}


def test_4xx_raises_one_line_with_platform_code_and_message(
    make_http: Callable[..., ShopHttp]
) -> None:
    body = {"code": "woocommerce_rest_cannot_view",
            "message": "Sorry, you cannot\nlist resources.", "data": {"status": 401}}
    script = Script(json_response(401, body))
    http = make_http(script)

    with pytest.raises(ShopHttpError) as caught:
        http.get("orders?consumer_key=ck_secret_value")
    message = str(caught.value)
    assert message == ("testshop GET orders: HTTP 401 woocommerce_rest_cannot_view: "
                       "Sorry, you cannot list resources.")
    assert caught.value.status_code == 401 and caught.value.code == "woocommerce_rest_cannot_view"
    assert len(script.requests) == 1  # a 4xx is not retried


def test_error_messages_never_show_query_or_secrets(make_http: Callable[..., ShopHttp]) -> None:
    body = {"code": "bad_key", "message": "Consumer key ck_0123456789abcdef is invalid"}
    http = make_http(Script(json_response(401, body)), secrets=["ck_0123456789abcdef", None])

    with pytest.raises(ShopError) as caught:
        http.get("orders", params={"oauth_signature": "SIG", "consumer_key": "ck_0123456789abcdef"})
    assert "ck_0123456789abcdef" not in str(caught.value)
    assert "SIG" not in str(caught.value) and "***" in str(caught.value)


def test_4xx_without_json_shows_a_short_snippet(make_http: Callable[..., ShopHttp]) -> None:
    html = b"<html><body>" + b"Forbidden by WAF " * 100 + b"</body></html>"
    http = make_http(Script(httpx.Response(403, content=html)))
    with pytest.raises(ShopHttpError, match=r"HTTP 403 <html><body>Forbidden") as caught:
        http.get("x")
    assert len(str(caught.value)) < 250 and "\n" not in str(caught.value)


def test_redirect_is_reported_not_followed(make_http: Callable[..., ShopHttp]) -> None:
    script = Script(httpx.Response(301, headers={"Location": "https://www.shop.pl/x?key=ck_1"}))
    with pytest.raises(ShopHttpError, match=r"redirected .*https://www.shop.pl/x'") as caught:
        make_http(script).get("x")
    assert "ck_1" not in str(caught.value)


def test_body_that_is_not_json(make_http: Callable[..., ShopHttp]) -> None:
    script = Script(httpx.Response(200, content=b"<!DOCTYPE html><p>maintenance</p>",
                                   headers={"Content-Type": "text/html"}))
    with pytest.raises(ShopError, match=r"page is not JSON.*text/html.*maintenance"):
        make_http(script).get("orders")


def test_empty_body_is_none(make_http: Callable[..., ShopHttp]) -> None:
    assert make_http(Script(httpx.Response(204))).get("x").data is None


def test_body_above_the_limit_is_refused_while_streaming(
    make_http: Callable[..., ShopHttp]
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x" * 1024

    # A streamed body has no Content-Length: the cap must hold while reading.
    script = Script(lambda r: httpx.Response(200, content=chunks()))
    http = make_http(script, max_body_bytes=10 * 1024)
    with pytest.raises(ShopError, match="larger than the 10240 byte limit"):
        http.get("x")


def test_declared_length_above_the_limit_is_refused(make_http: Callable[..., ShopHttp]) -> None:
    script = Script(httpx.Response(200, content=b"[" + b"1," * 3000 + b"1]"))
    with pytest.raises(ShopError, match="GET x: response of 6003 bytes is larger"):
        make_http(script, max_body_bytes=1000).get("x")


def test_limiter_runs_before_every_attempt_and_observe_sees_responses(
    make_http: Callable[..., ShopHttp]
) -> None:
    events: list[str] = []
    script = Script(httpx.Response(503), json_response(200, {}))
    http = make_http(script, limiter=lambda: events.append("acquire"),
                     observe=lambda r: events.append(f"saw {r.status_code}"))
    http.get("x")
    assert events == ["acquire", "saw 503", "acquire", "saw 200"]


def test_timeout_is_set_on_every_request(make_http: Callable[..., ShopHttp]) -> None:
    script = Script(json_response(200, {}))
    make_http(script, timeout=httpx.Timeout(connect=1, read=2, write=3, pool=4)).get("x")
    assert script.requests[0].extensions["timeout"] == {
        "connect": 1, "read": 2, "write": 3, "pool": 4}


def test_auth_flow_runs_per_attempt(make_http: Callable[..., ShopHttp]) -> None:
    class Counting(httpx.Auth):
        calls = 0

        def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
            Counting.calls += 1
            request.headers["X-Nonce"] = str(Counting.calls)
            yield request

    script = Script(httpx.Response(500), json_response(200, {}))
    make_http(script, auth=Counting()).get("x")
    assert [r.headers["X-Nonce"] for r in script.requests] == ["1", "2"]
