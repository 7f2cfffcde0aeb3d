"""A client-side model of Shoper's leaky bucket, so we wait instead of collecting 429s.

Shoper meters WebAPI calls per shop with a leaky bucket and reports it on every response:
`X-Shop-Api-Limit` (bucket size, 10 on the shops we have transcripts of), `X-Shop-Api-Bandwidth`
(leak per second: 2 documented, 10 seen on a trial shop) and `X-Shop-Api-Calls` (the fill after
this call). A call into a full bucket is answered 429 with `Retry-After`.
(3rd: openlinker-project/openlinker "Spike #3638" C5; src: dreamcommerce/shop-appstore-lib
`Http.php`, which only sleeps 1 s when calls == limit.)

`ShopHttp` calls `acquire()` before every attempt and `observe()` with every response. Between
responses the fill is estimated by leaking the last reported value at the reported bandwidth; a
call is let through only if it fits. Each pass reserves its call, so threads sharing one bucket
(one per shop in a process, see `bucket_for`) do not all squeeze into the same free slot. The
shop's header stays the authority: every response resets the estimate to what the shop counted,
which also covers other processes or apps spending the same shop's budget.

How much one `/bulk` call costs is not documented. The bucket does not need to know: it reserves
one call before sending and learns the real fill from the answer (26 after a 25-item bulk, if
the shop charges per item), then waits for that to drain before the next call.

A wait longer than `max_wait` (another app draining the shop's budget, say) is not slept
through: it raises `ShopRetriableError`, as a long `Retry-After` does in `ShopHttp`, because a
worker thread must not sit for minutes on one shop; the next scheduled run is the retry.
Batches are not shrunk after a 429 either: the bucket meters calls (or items), not bytes, so
smaller bulks would cost the same or more.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from workers.ports import ShopRetriableError

#: What we assume before the first response tells us the truth: the documented bucket.
DEFAULT_LIMIT = 10.0
DEFAULT_BANDWIDTH = 2.0

LIMIT_HEADER = "X-Shop-Api-Limit"
BANDWIDTH_HEADER = "X-Shop-Api-Bandwidth"
CALLS_HEADER = "X-Shop-Api-Calls"

#: The longest single wait for room in the bucket; longer fails the call as retriable.
MAX_WAIT = 60.0


@dataclass(frozen=True, slots=True)
class BucketState:
    level: float  # estimated fill now
    limit: float
    bandwidth: float


class LeakyBucket:
    """Thread-safe estimate of one shop's bucket. `clock` is monotonic seconds; `sleep` waits."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        limit: float = DEFAULT_LIMIT,
        bandwidth: float = DEFAULT_BANDWIDTH,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self._clock = clock
        self.max_wait = max_wait
        self._sleep = sleep
        self._lock = threading.Lock()
        self._limit = limit
        self._bandwidth = bandwidth
        self._level = 0.0
        self._at = clock()
        #: Seconds spent waiting in `acquire` (for metrics and the benchmark).
        self.waited = 0.0

    def acquire(self, cost: float = 1.0) -> None:
        """Block until `cost` more calls fit into the bucket, then reserve them."""
        while True:
            with self._lock:
                now = self._clock()
                level = self._leaked(now)
                # A call fits if it does not push the fill over the limit. An oversized cost (a
                # bulk charged per item) only waits for an empty-enough bucket, not forever.
                need = min(cost, self._limit)
                wait = (level + need - self._limit) / self._bandwidth
                if wait <= 0:
                    self._level, self._at = level + cost, now
                    return
            if wait > self.max_wait:
                raise ShopRetriableError(
                    f"shoper: the shop's API budget is used up for {wait:.0f} s more "
                    f"({level:.0f} of {self._limit:.0f} calls, {self._bandwidth:g}/s); "
                    "leaving it to the next run")
            # Sleep outside the lock so observe() and other threads are not blocked meanwhile.
            self.waited += wait
            self._sleep(wait)

    def observe(self, response: httpx.Response) -> None:
        """Adopt the shop's own numbers from a response (any status, 429 included)."""
        limit = _number(response.headers.get(LIMIT_HEADER))
        bandwidth = _number(response.headers.get(BANDWIDTH_HEADER))
        calls = _number(response.headers.get(CALLS_HEADER))
        with self._lock:
            now = self._clock()
            if limit is not None and limit > 0:
                self._limit = limit
            if bandwidth is not None and bandwidth > 0:
                self._bandwidth = bandwidth
            if calls is not None and calls >= 0:
                self._level, self._at = calls, now
            if response.status_code == 429:
                # Refused: whatever the header says, the bucket is full right now.
                self._level, self._at = max(self._leaked(now), self._limit), now

    def state(self) -> BucketState:
        with self._lock:
            return BucketState(self._leaked(self._clock()), self._limit, self._bandwidth)

    def _leaked(self, now: float) -> float:
        return max(0.0, self._level - (now - self._at) * self._bandwidth)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


# -- one bucket per shop per process ----------------------------------------------------------

_REGISTRY: dict[str, LeakyBucket] = {}
_REGISTRY_LOCK = threading.Lock()


def bucket_for(shop_key: str) -> LeakyBucket:
    """The process-wide bucket of one shop (its API base URL), so that every client talking
    to that shop from this process draws from the same budget."""
    with _REGISTRY_LOCK:
        bucket = _REGISTRY.get(shop_key)
        if bucket is None:
            bucket = _REGISTRY[shop_key] = LeakyBucket()
        return bucket
