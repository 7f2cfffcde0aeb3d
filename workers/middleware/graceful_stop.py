"""GracefulStop: on SIGTERM a run stops at its next item boundary, cleanly.

dramatiq's worker shutdown lets each thread finish its current message, for up to
`--worker-shutdown-timeout`; a sync run may take minutes. So the shutdown raises a flag and the
run checks it at each checkpoint (after a page or batch has been committed): it stops there,
the run is recorded as interrupted, its lease released, and the message is acked — the schedule
makes the row due again at once, so another worker picks it up at the next tick.
"""

from __future__ import annotations

from typing import Any

from dramatiq import Middleware

from shared.lifecycle import stopping


class StopRequested(BaseException):
    """Raised at a checkpoint of a run when the worker is stopping.

    A BaseException, like dramatiq's own interrupts, so the run records it as "interrupted",
    releases its lease and re-raises it instead of treating it as the operation's failure.
    """


class GracefulStop(Middleware):
    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        stopping.clear()

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        stopping.set()


def check_stop(_done: int = 0, _total: int | None = None) -> None:
    """A run's progress callback: stop here if the worker is stopping."""
    if stopping.is_set():
        raise StopRequested("the worker is stopping")
