"""Units: the client-side leaky bucket, keyset paging and the two-stream merge."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import pytest

from tests.shops.shoper.support import FakeTime
from workers.ports import ShopError, ShopRetriableError
from workers.shops.shoper.bucket import LeakyBucket, bucket_for
from workers.shops.shoper.mapping import ListPage
from workers.shops.shoper.paging import iter_keyset, merge_by_key


def answer(status: int = 200, **headers: str) -> httpx.Response:
    names = {"calls": "X-Shop-Api-Calls", "limit": "X-Shop-Api-Limit",
             "bandwidth": "X-Shop-Api-Bandwidth"}
    return httpx.Response(status, headers={names[k]: v for k, v in headers.items()})


def test_bucket_lets_ten_through_then_paces_at_the_bandwidth() -> None:
    time = FakeTime(0)
    bucket = LeakyBucket(clock=time, sleep=time.sleep)
    for _ in range(10):
        bucket.acquire()
    assert time.slept == 0
    for _ in range(4):
        bucket.acquire()
    assert time.sleeps == pytest.approx([0.5, 0.5, 0.5, 0.5])


def test_bucket_adopts_the_shops_numbers() -> None:
    time = FakeTime(0)
    bucket = LeakyBucket(clock=time, sleep=time.sleep)
    bucket.observe(answer(calls="9", limit="20", bandwidth="10"))
    state = bucket.state()
    assert (state.level, state.limit, state.bandwidth) == (9, 20, 10)
    time.advance(0.5)
    assert bucket.state().level == pytest.approx(4)
    bucket.observe(answer(calls="30", limit="20", bandwidth="10"))  # a per-item bulk
    bucket.acquire()
    assert time.slept == pytest.approx((30 + 1 - 20) / 10)


def test_a_429_means_full_whatever_the_header_says() -> None:
    time = FakeTime(0)
    bucket = LeakyBucket(clock=time, sleep=time.sleep)
    bucket.observe(answer(429, calls="3", limit="10", bandwidth="2"))
    bucket.acquire()
    assert time.slept == pytest.approx(0.5)


def test_a_wait_beyond_max_wait_is_left_to_the_next_run() -> None:
    time = FakeTime(0)
    bucket = LeakyBucket(clock=time, sleep=time.sleep, max_wait=60)
    bucket.observe(answer(calls="500", limit="10", bandwidth="2"))  # another app's burst
    with pytest.raises(ShopRetriableError, match="next run"):
        bucket.acquire()
    assert time.slept == 0


def test_garbled_headers_are_ignored_and_buckets_are_per_shop() -> None:
    time = FakeTime(0)
    bucket = LeakyBucket(clock=time, sleep=time.sleep)
    bucket.observe(answer(calls="lots", limit="-1", bandwidth="nan"))
    assert bucket.state().limit == 10 and bucket.state().bandwidth == 2
    assert bucket_for("https://a.example/webapi/rest/") is bucket_for(
        "https://a.example/webapi/rest/")
    assert bucket_for("https://a.example/webapi/rest/") is not bucket_for(
        "https://b.example/webapi/rest/")


class Shop:
    """A list endpoint over `rows` (dicts with `k` and `id`), 3 rows per page."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.calls: list[tuple[str, int]] = []

    def fetch(self, path: str, filters: Mapping[str, Any], order: Sequence[str],
              page: int) -> ListPage:
        lower = filters["k"][">="]
        chosen = sorted((r for r in self.rows if r["k"] >= lower),
                        key=lambda r: (r["k"], r["id"]))
        self.calls.append((lower, page))
        pages = -(-len(chosen) // 3)
        return ListPage(len(chosen), pages, page, chosen[(page - 1) * 3:page * 3])


def keyset(shop: Shop) -> list[list[tuple[str, Any]]]:
    return list(iter_keyset(shop.fetch, "x", {"k": {">=": "a"}}, key="k", id_field="id",
                            key_of=lambda row: row["k"]))


def test_keyset_moves_the_bound_and_pages_within_a_shared_key() -> None:
    rows = [{"k": "b", "id": n} for n in range(1, 6)] + [{"k": "c", "id": 6}, {"k": "d", "id": 7}]
    shop = Shop(rows)
    got = [row["id"] for page in keyset(shop) for _, row in page]
    assert got == [1, 2, 3, 4, 5, 6, 7]
    assert shop.calls[:3] == [("a", 1), ("b", 1), ("b", 2)]


def test_keyset_fails_when_the_shop_repeats_a_page() -> None:
    class Stuck(Shop):
        def fetch(self, path: str, filters: Mapping[str, Any], order: Sequence[str],
                  page: int) -> ListPage:
            return ListPage(9, 3, page, [{"k": "b", "id": 1}, {"k": "b", "id": 2}])

    with pytest.raises(ShopError, match="repeats rows"):
        keyset(Stuck([]))


def test_merge_emits_in_key_order_and_never_past_the_slower_stream() -> None:
    created = iter([[("01", "a1"), ("03", "a3")], [("05", "a5")]])
    changed = iter([[("02", "b2"), ("04", "b4")], [("06", "b6")]])
    batches = list(merge_by_key([created, changed]))
    flat = [key for batch in batches for key, _ in batch]
    assert flat == ["01", "02", "03", "04", "05", "06"]
    # After both first pages, only keys below min(03, 04) may go: 01 and 02.
    assert [key for key, _ in batches[0]] == ["01", "02"]
