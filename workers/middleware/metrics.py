"""Metrics: dramatiq's own numbers for Prometheus, and the metrics server of a worker process.

`after_process_boot` (each worker process of a group, once) starts the /metrics server on
ILUO_SYNC_METRICS_PORT (and ILUO_SYNC_METRICS_ADDR); with the multiprocess directory the
`worker` command sets, the process that binds the port first serves the whole group's samples
(shared.telemetry.metrics).

Messages are counted by queue and result once dramatiq is done with them:

- ``done``     the actor returned;
- ``retried``  the actor raised and Retries scheduled another attempt;
- ``dead``     the message failed for good and goes to the queue's ``.XQ`` (retries exhausted,
               or parked by DeliveryLimit);
- ``skipped``  a middleware skipped it (a stale tick).

This middleware must come before Retries and DeliveryLimit in the stack: `after_*` hooks run in
reverse order, so by the time this one runs they have decided whether the message failed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dramatiq import Middleware

from shared.settings import Settings
from shared.telemetry.metrics import MESSAGES, start_metrics

DONE, RETRIED, DEAD, SKIPPED = "done", "retried", "dead", "skipped"


class Metrics(Middleware):
    def __init__(self, settings: Callable[[], Settings]) -> None:
        self._settings = settings  # read at boot, in the worker process

    def after_process_boot(self, broker: Any) -> None:
        settings = self._settings()
        start_metrics(settings.metrics_port, settings.metrics_addr)

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        outcome = DEAD if message.failed else (DONE if exception is None else RETRIED)
        MESSAGES.labels(message.queue_name, outcome).inc()

    def after_skip_message(self, broker: Any, message: Any) -> None:
        MESSAGES.labels(message.queue_name, DEAD if message.failed else SKIPPED).inc()
