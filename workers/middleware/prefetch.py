"""PrefetchFit: no message waits, delivered but unacked, longer than one run.

RabbitMQ cancels a consumer whose delivery stays unacked longer than its consumer timeout (30
minutes by default), and the clock runs from delivery, not from the start of work. A dramatiq
worker has one consumer per queue, each with its own prefetch, all feeding one in-memory FIFO
served by the worker's threads. With prefetch = threads on each of Q queues a worker holds up to
Q × threads messages while only `threads` run: a message could wait behind two or more long
runs (a run lasts up to 15 minutes, dramatiq's limit is 20) and pass the timeout.

So before the consumers start, each queue's prefetch becomes 2 × threads // Q (at least 1): a
worker then holds at most 2 × threads messages, so at most `threads` wait, each behind runs
that were already going when it arrived, and all of those end within one run's limit (20
minutes): no delivered message waits longer than that. With more queues than 2 × threads the
floor of 1 per queue can exceed it: that is warned about at boot (split the queues over worker
groups or add threads). Delay queues (retries waiting for their backoff, at most 10 minutes)
keep dramatiq's own prefetch: a delayed message is re-published when due, not run from there.
"""

from __future__ import annotations

import logging
from typing import Any

from dramatiq import Middleware
from dramatiq.common import q_name

log = logging.getLogger(__name__)


def fitted_prefetch(threads: int, queues: int) -> int:
    """Per-queue prefetch so that all queues together hold at most twice the threads."""
    return max(1, 2 * threads // max(1, queues))


class PrefetchFit(Middleware):
    def before_worker_boot(self, broker: Any, worker: Any) -> None:
        declared = {q_name(q) for q in broker.get_declared_queues()}
        queues = len(set(worker.consumer_whitelist or declared) & declared) or 1
        threads = int(worker.worker_threads)
        worker.queue_prefetch = fitted_prefetch(threads, queues)
        log.info("prefetch %d per queue (%d queue(s), %d thread(s))", worker.queue_prefetch,
                 queues, threads)
        if queues > 2 * threads:
            log.warning(
                "%d queues on %d thread(s): a delivered message may wait behind more than one "
                "long run and reach RabbitMQ's consumer timeout; add threads or split the "
                "queues over worker groups", queues, threads)
