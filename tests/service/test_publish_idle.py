"""A thread's publishing connection that RabbitMQ dropped while it sat idle (past its heartbeat)
is re-opened quietly: the next publish works and nothing is logged at ERROR."""

from __future__ import annotations

import logging
import time

import pytest

from shared.broker import build_broker
from shared.control.schedule import now_s
from shared.jobs import SyncJob
from tests.service.conftest import Control, queue_depths, rabbitmqctl, wait_for
from workers.domain import Operation


def _connections(vhost: str) -> int:
    out = rabbitmqctl("list_connections", "vhost")
    return sum(1 for line in out.splitlines() if line.strip() == vhost.rsplit("/", 1)[1])


@pytest.mark.parametrize("idle_s", [0.5, float("inf")], ids=["reopened", "dramatiq-alone"])
def test_a_dropped_idle_publishing_connection(
    control: Control, vhost: str, caplog: pytest.LogCaptureFixture, idle_s: float
) -> None:
    broker = build_broker(control.settings, url=vhost)
    broker.idle_s = idle_s
    message = SyncJob(1, 1, Operation.IMPORT_ORDERS, now_s()).message()
    try:
        broker.enqueue(message)
        # What RabbitMQ does to a connection that missed its heartbeats.
        rabbitmqctl("close_all_connections", "-p", vhost.rsplit("/", 1)[1], "idle too long")
        wait_for(lambda: _connections(vhost) == 0, 30, what="RabbitMQ to drop the connection")
        time.sleep(0.6)  # idle past `idle_s` (when it is 0.5)
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            broker.enqueue(message)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert queue_depths(vhost)["orders"] == 2  # published either way
        if idle_s < 1:
            assert errors == []
        else:  # the noise this guards against: dramatiq's own retry after pika's failure
            assert errors
    finally:
        broker.close()
