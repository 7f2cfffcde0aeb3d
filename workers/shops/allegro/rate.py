"""Allegro's request limit, respected on our side so that a 429 stays an exception.

Allegro meters each application (client id) at 9000 requests a minute; past that the client id
is blocked for a minute and every call answers 429 (developer.allegro.pl FAQ "Limits and
restrictions"). Some resources also meter each seller with a leaky bucket and answer 429 to too
many parallel calls. Whether a 429 carries `Retry-After` is not documented (unverified).

So: a sliding one-minute window per client id in this process keeps us under the limit, and a
429 closes the gate — for its `Retry-After` when it sends one, else for the documented minute.
`acquire` (ShopHttp's limiter, called before every attempt) then waits if the gate opens within
`max_wait`, else raises ShopRetriableError at once: the retry is the next scheduled run, and no
worker fires a storm of attempts into a blocked client id.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import httpx

from workers.ports import ShopRetriableError

PER_MINUTE = 9000
WINDOW = 60.0
#: How long a 429 without Retry-After closes the gate (the documented block).
BLOCK_SECONDS = 60.0
#: The longest wait a worker thread spends here; longer becomes a retriable failure.
MAX_WAIT = 30.0


class RateGate:
    def __init__(self, *, per_minute: int = PER_MINUTE, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, max_wait: float = MAX_WAIT) -> None:
        self.per_minute = per_minute
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._calls: deque[float] = deque()
        self.blocked_until = 0.0
        #: Seconds spent waiting (metrics, benchmark).
        self.waited = 0.0

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._calls and self._calls[0] <= now - WINDOW:
                    self._calls.popleft()
                wait = max(self.blocked_until - now, 0.0)
                if len(self._calls) >= self.per_minute:
                    wait = max(wait, self._calls[0] + WINDOW - now)
                if wait <= 0:
                    self._calls.append(now)
                    return
            if wait > self.max_wait:
                raise ShopRetriableError(
                    f"allegro: the application's request limit is used up for {wait:.0f} s more "
                    f"(429 or {self.per_minute} calls a minute); leaving it to the next run")
            self.waited += wait
            self._sleep(wait)

    def observe(self, response: httpx.Response) -> None:
        if response.status_code != 429:
            return
        pause = _retry_after(response.headers.get("Retry-After"))
        with self._lock:
            self.blocked_until = max(self.blocked_until,
                                     self._clock() + (BLOCK_SECONDS if pause is None else pause))


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_GATES: dict[tuple[str, str], RateGate] = {}
_GATES_LOCK = threading.Lock()


def gate_for(api_root: str, client_id: str) -> RateGate:
    """The process-wide gate of one application (the limit is per client id, shared by every
    seller the application serves)."""
    with _GATES_LOCK:
        gate = _GATES.get((api_root, client_id))
        if gate is None:
            gate = _GATES[(api_root, client_id)] = RateGate()
        return gate
