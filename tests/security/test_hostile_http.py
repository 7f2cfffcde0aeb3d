"""The HTTP layer against bodies no parser should see: each is a ShopError with one clear line."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.security.support import hostile
from workers.ports import ShopError
from workers.shops.http import MAX_JSON_DEPTH, ShopHttp

CAP = 64 * 1024


def http_answering(*responses: httpx.Response) -> ShopHttp:
    queue = list(responses)
    return ShopHttp("http://shop.test/api/", platform="t", max_body_bytes=CAP,
                    transport=httpx.MockTransport(lambda request: queue.pop(0)),
                    sleep=lambda _s: None)


class Endless(httpx.SyncByteStream):
    """A body that never ends (and declares no length): the cap must stop reading it."""

    def __init__(self) -> None:
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        while True:
            self.sent += 65536
            yield b"a" * 65536


@pytest.mark.parametrize("body, expected", [
    (b"\xff\xfe{}", "not JSON"),
    (b'{"name": "\xc3\x28"}', "not JSON"),  # invalid UTF-8 inside a string
    (b'{"name": "\\ud800"}', "not JSON"),  # a lone surrogate, escaped
    (b"[" * 20_000 + b"]" * 20_000, "not JSON"),  # orjson's own depth limit (1024)
    (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "deeper than"),
    (b'{"a": ' * 70 + b"1" + b"}" * 70, "deeper than"),
    (b"NaN", "not JSON"),
    (b'{"price": Infinity}', "not JSON"),
    (b'{"price": 1e400}', "not JSON"),  # infinite as a double
    (b"<html>Fatal error</html>", "not JSON"),
])
def test_bodies_no_parser_should_see(body: bytes, expected: str) -> None:
    with http_answering(httpx.Response(200, content=body)) as http, \
            pytest.raises(ShopError, match=expected) as caught:
        http.get("orders")
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


def test_integers_beyond_64_bits_arrive_as_floats_for_the_mappers_to_refuse() -> None:
    with http_answering(httpx.Response(200, content=b'{"id": 123456789012345678901234567890}')
                        ) as http:
        assert isinstance(http.get("orders").data["id"], float)  # not an id to any mapper


def test_a_body_at_the_depth_limit_is_accepted() -> None:
    depth = MAX_JSON_DEPTH
    with http_answering(httpx.Response(200, content=b"[" * depth + b"]" * depth)) as http:
        assert http.get("orders").data is not None


def test_oversized_bodies_are_refused_declared_or_not() -> None:
    declared = httpx.Response(200, headers={"Content-Length": str(10**12)},
                              stream=httpx.ByteStream(b"{}"))
    endless = Endless()
    streamed = httpx.Response(200, stream=endless)
    with http_answering(declared, streamed) as http:
        with pytest.raises(ShopError, match="larger than the 65536 byte limit"):
            http.get("orders")
        with pytest.raises(ShopError, match="larger than the 65536 byte limit"):
            http.get("orders")
    assert endless.sent <= CAP + 65536  # stopped right after the cap, not at the end


@hostile(max_examples=100)
@given(body=st.binary(max_size=2048), status=st.sampled_from([200, 400, 404, 500, 302]))
def test_any_bytes_with_any_status_are_an_answer_or_a_shop_error(body: bytes, status: int) -> None:
    http = http_answering(*[httpx.Response(status, content=body)] * 4)
    with http:
        try:
            http.get("orders")
        except ShopError as exc:
            assert "\n" not in str(exc)
