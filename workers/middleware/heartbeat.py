"""WorkerHeartbeat: each worker process says it is alive, for `iluo-sync status`.

A background thread upserts this process's row in `heartbeats` every BEAT_EVERY seconds; a
clean shutdown deletes it. A row whose beat is old belongs to a process that died.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from dramatiq import Middleware
from sqlalchemy import Engine

from shared.control.schedule import now_s
from shared.control.service_log import beat, forget, process_component

log = logging.getLogger(__name__)

#: Seconds between two beats.
BEAT_EVERY = 30


class WorkerHeartbeat(Middleware):
    def __init__(self, engine: Callable[[], Engine], *, every: float = BEAT_EVERY) -> None:
        self._engine = engine
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._info: dict[str, Any] = {}

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        self._info = {
            "queues": sorted(worker.consumer_whitelist or broker.get_declared_queues()),
            "threads": worker.worker_threads,
        }
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="worker-heartbeat", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)  # a beat in flight must not re-insert the row
        try:
            with self._engine().begin() as conn:
                forget(conn, process_component("worker"))
        except Exception:
            log.warning("could not remove this worker's heartbeat", exc_info=True)

    def _loop(self) -> None:
        while True:
            try:
                with self._engine().begin() as conn:
                    beat(conn, process_component("worker"), "worker", at=now_s(), info=self._info)
            except Exception:  # the control DB is down: try again at the next beat
                log.warning("worker heartbeat failed", exc_info=True)
            if self._stop.wait(self._every):
                return
