"""What every sandbox's webhooks share: deliveries queued `delay` seconds (a real shop sends
them from a background queue), posted by one thread in order, over real HTTP."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


@dataclass
class DeliveryQueue:
    delay: float = 1.0
    _queue: queue.Queue[tuple[float, Callable[[], object]]] = field(
        default_factory=queue.Queue)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, deliver: Callable[[], object], delay: float | None = None) -> None:
        """Send after `delay` seconds (the queue's own by default; a retry says its own)."""
        self._queue.put((time.monotonic() + (self.delay if delay is None else delay), deliver))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sandbox-webhooks",
                                                daemon=True)
                self._thread.start()

    def idle(self) -> bool:
        return self._queue.unfinished_tasks == 0

    def _run(self) -> None:
        while True:
            due, deliver = self._queue.get()
            try:
                time.sleep(max(0.0, due - time.monotonic()))
                deliver()
            finally:
                self._queue.task_done()


def post(url: str, body: bytes, headers: dict[str, str]) -> int | None:
    """The receiver's status, or None when it could not be reached (no redirects followed)."""
    try:
        return httpx.post(url, content=body, headers=headers, timeout=60.0,
                          follow_redirects=False).status_code
    except httpx.HTTPError:
        return None
