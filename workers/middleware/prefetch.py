"""PrefetchFit: no message waits, delivered but unacked, behind long runs.

RabbitMQ cancels a consumer whose delivery stays unacked longer than its consumer timeout (30
minutes by default), and the clock runs from delivery, not from the start of work. A dramatiq
worker has one consumer per queue, each with its own prefetch, all feeding one in-memory queue
served by the worker's threads. With prefetch = threads on each of Q queues a worker holds up to
Q × threads messages while only `threads` run: a message could wait behind two long runs (a run
lasts up to 15 minutes, dramatiq's limit is 20) and pass the timeout.

So before the consumers start, each queue's prefetch becomes threads // Q (at least 1): a worker
then holds at most max(threads, Q) messages, each with a thread free to start it at once when
threads ≥ Q. With fewer threads than queues a message may still wait behind (Q - threads) runs:
that is warned about at boot (run at least as many threads as queues, or split the queues over
worker groups). Delay queues (retries waiting for their backoff, at most 10 minutes) keep
dramatiq's own prefetch: a delayed message is re-published when due, not run from there.
"""

from __future__ import annotations

import logging
from typing import Any

from dramatiq import Middleware
from dramatiq.common import q_name

log = logging.getLogger(__name__)


def fitted_prefetch(threads: int, queues: int) -> int:
    """Per-queue prefetch so that all queues together hold no more than the threads can start."""
    return max(1, threads // max(1, queues))


class PrefetchFit(Middleware):
    def before_worker_boot(self, broker: Any, worker: Any) -> None:
        declared = {q_name(q) for q in broker.get_declared_queues()}
        queues = len(set(worker.consumer_whitelist or declared) & declared) or 1
        threads = int(worker.worker_threads)
        worker.queue_prefetch = fitted_prefetch(threads, queues)
        log.info("prefetch %d per queue (%d queue(s), %d thread(s))", worker.queue_prefetch,
                 queues, threads)
        if queues > threads:
            log.warning(
                "%d queues on %d thread(s): a delivered message may wait behind %d long run(s) "
                "and reach RabbitMQ's consumer timeout; run at least as many threads as queues",
                queues, threads, queues - threads)
