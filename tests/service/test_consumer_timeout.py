"""Long runs on one worker: no message waits delivered-but-unacked behind them, so RabbitMQ's
consumer timeout (30 minutes from delivery) cannot cancel the worker's consumers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
from dramatiq import Worker

from tests.service.conftest import Control, rabbitmqctl, wait_for
from workers.broker import build_broker  # a worker's broker: its middleware fits the prefetch

QUEUES = ("long_a", "long_b", "long_c")
THREADS = 2
EACH = 4  # messages per queue


def _counts(vhost: str) -> dict[str, tuple[int, int]]:
    """(ready, unacknowledged) per queue."""
    out = rabbitmqctl("list_queues", "-p", vhost.rsplit("/", 1)[1], "name", "messages_ready",
                      "messages_unacknowledged")
    counts = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in QUEUES:
            counts[parts[0]] = (int(parts[1]), int(parts[2]))
    return counts


@pytest.fixture
def held(control: Control, vhost: str) -> Iterator[tuple[Any, threading.Semaphore, list[int]]]:
    """A broker with one actor per queue that holds its thread until released (a long run)."""
    broker = build_broker(control.settings, url=vhost)
    release = threading.Semaphore(0)
    started: list[int] = []

    def hold(n: int) -> None:
        started.append(n)
        release.acquire(timeout=120)

    for queue in QUEUES:
        dramatiq.actor(hold, broker=broker, actor_name=f"hold_{queue}", queue_name=queue)
    try:
        yield broker, release, started
    finally:
        broker.close()


def test_long_runs_leave_no_message_waiting_unacked(
    held: tuple[Any, threading.Semaphore, list[int]], vhost: str
) -> None:
    broker, release, started = held
    for queue in QUEUES:
        for n in range(EACH):
            broker.actors[f"hold_{queue}"].send(n)
    worker = Worker(broker, worker_threads=THREADS, queues=set(QUEUES))
    worker.queue_prefetch = THREADS  # what `iluo-sync worker` sets (prefetch = threads)
    worker.start()
    try:
        wait_for(lambda: len(started) == THREADS, 30, what="both threads to hold a long run")
        # Two long runs hold both threads. The worker holds at most twice its threads, so every
        # message waiting in it has a run ahead of it that started before it came, and waits
        # at most one run (prefetch 2 on each of the three queues would hold six: two of them
        # behind two runs each, long enough to pass RabbitMQ's consumer timeout).
        held = len(QUEUES) * (2 * THREADS // len(QUEUES))
        counts = wait_for(lambda: (c := _counts(vhost)) and sum(u for _, u in c.values()) ==
                          held and c, 30, what="the deliveries to settle")
        assert held <= 2 * THREADS
        assert sum(ready for ready, _ in counts.values()) == len(QUEUES) * EACH - held
        for _ in range(len(QUEUES) * EACH):
            release.release()
        wait_for(lambda: len(started) == len(QUEUES) * EACH, 60, what="every run")
        wait_for(lambda: all(c == (0, 0) for c in _counts(vhost).values()), 30,
                 what="every message acked")
    finally:
        for _ in range(len(QUEUES) * EACH):
            release.release()
        worker.stop()
