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


def test_a_dropped_idle_publishing_connection(
    control: Control, vhost: str, caplog: pytest.LogCaptureFixture,
) -> None:
    # Two brokers, each with its own connection, dropped together: RabbitMQ lets a closed
    # connection go only after its 30 s close handshake times out, so one drop serves both.
    # "reopened" re-opens a connection idle past 0.5 s; "alone" is dramatiq by itself (never),
    # the noise this guards against.
    brokers = {"reopened": build_broker(control.settings, url=vhost),
               "alone": build_broker(control.settings, url=vhost)}
    brokers["reopened"].idle_s = 0.5
    brokers["alone"].idle_s = float("inf")
    message = SyncJob(1, 1, Operation.IMPORT_ORDERS, now_s()).message()
    errors: dict[str, list[logging.LogRecord]] = {}
    try:
        for broker in brokers.values():
            broker.enqueue(message)
        # What RabbitMQ does to a connection that missed its heartbeats.
        rabbitmqctl("close_all_connections", "-p", vhost.rsplit("/", 1)[1], "idle too long")
        wait_for(lambda: _connections(vhost) == 0, 45, what="RabbitMQ to drop the connections")
        time.sleep(0.6)  # idle past `idle_s` (when it is 0.5)
        for name, broker in brokers.items():
            caplog.clear()
            with caplog.at_level(logging.DEBUG):
                broker.enqueue(message)
            errors[name] = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert queue_depths(vhost)["orders"] == 4  # published either way
    finally:
        for broker in brokers.values():
            broker.close()
    assert errors["reopened"] == []
    assert errors["alone"]  # dramatiq's own retry after pika's failure, at ERROR
