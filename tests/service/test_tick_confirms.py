"""The tick's batched publisher confirms on the real RabbitMQ: a row stays claimed only when
RabbitMQ confirmed its message, one it refused is due again, its batch neighbours stand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pika
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import insert, select

from producers.tick import PublishFailed, publish_due
from shared.broker import build_broker
from shared.control.schedule import ScheduleConfig, now_s
from shared.control.tables import schedules, tenants
from shared.jobs import SyncJob
from shared.publisher import BatchPublisher
from shared.settings import Settings
from tests.service.conftest import Control, queue_depths, rabbitmqctl
from workers.domain import Operation

ROWS = 30
ROOM = 10  # what the queue takes before it refuses


def _seed(control: Control) -> None:
    """ROWS tenants with one due import_orders row each (all go to the `orders` queue)."""
    now = now_s()
    with control.registry.engine.begin() as conn:
        conn.execute(insert(tenants), [dict(
            id=i, name=f"t{i}", db_url="sqlite:///unused.db", db_password=None, is_active=True,
            event_history=True, created_at=now, updated_at=now,
            settings_due_at=now + timedelta(hours=1)) for i in range(1, ROWS + 1)])
        conn.execute(insert(schedules), [dict(
            tenant_id=i, integration_id=1, operation="import_orders", interval_minutes=5,
            enabled=True, next_due_at=now - timedelta(minutes=1), slot_offset=0,
            consecutive_failures=0) for i in range(1, ROWS + 1)])


def _claimed(control: Control) -> set[int]:
    with control.registry.engine.connect() as conn:
        return set(conn.execute(select(schedules.c.tenant_id)
                                .where(schedules.c.queued_at.is_not(None))).scalars())


def _due(control: Control) -> set[int]:
    with control.registry.engine.connect() as conn:
        return set(conn.execute(select(schedules.c.tenant_id).where(
            schedules.c.queued_at.is_(None), schedules.c.next_due_at <= now_s())).scalars())


def _queued_tenants(vhost: str, queue: str) -> list[int]:
    """The tenant ids of the messages waiting in `queue` (taken off it)."""
    connection = pika.BlockingConnection(pika.URLParameters(vhost))
    channel = connection.channel()
    found = []
    while True:
        method, _props, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        found.append(json.loads(body)["args"][0])
    connection.close()
    return found


@pytest.fixture
def broker(control: Control, vhost: str) -> Iterator[Any]:
    settings = Settings(control_db=control.url, secret_key=Fernet.generate_key().decode())
    rabbit = build_broker(settings, url=vhost)
    try:
        yield rabbit
    finally:
        rabbit.close()


def test_a_refused_message_leaves_its_row_due_and_its_neighbours_published(
    control: Control, vhost: str, broker: Any
) -> None:
    _seed(control)
    # A full `orders` queue refuses what comes after ROOM messages (nack to the publisher).
    name = vhost.rsplit("/", 1)[1]
    rabbitmqctl("set_policy", "-p", name, "room", "^orders$",
                json.dumps({"max-length": ROOM, "overflow": "reject-publish"}),
                "--apply-to", "queues")
    config = ScheduleConfig(claim_batch=8)

    with pytest.raises(PublishFailed) as failed:
        publish_due(control.registry.engine, broker, now_s(), config)

    # Batches of 8: the first stands, the second is cut at the queue's room, the third (already
    # claimed while the second was being confirmed) is refused whole; no fourth is claimed.
    assert (failed.value.claimed, failed.value.published) == (24, ROOM)
    claimed = _claimed(control)
    assert len(claimed) == ROOM
    assert _due(control) == set(range(1, ROWS + 1)) - claimed  # every other row is due again
    assert queue_depths(vhost)["orders"] == ROOM
    assert sorted(_queued_tenants(vhost, "orders")) == sorted(claimed)

    # Room again: the next tick publishes exactly the rows that were refused or never claimed.
    rabbitmqctl("clear_policy", "-p", name, "room")
    assert publish_due(control.registry.engine, broker, now_s(), config) == (ROWS - ROOM,) * 2
    assert _claimed(control) == set(range(1, ROWS + 1))
    assert sorted(_queued_tenants(vhost, "orders")) == sorted(set(range(1, ROWS + 1)) - claimed)


def test_a_lost_connection_counts_nothing_as_confirmed(
    control: Control, vhost: str, broker: Any
) -> None:
    _seed(control)
    publisher = BatchPublisher(broker, timeout=5)
    with publisher:
        assert publisher.publish(
            [schedule_message(i) for i in range(1, 4)]) == [True] * 3
        rabbitmqctl("close_all_connections", "-p", vhost.rsplit("/", 1)[1], "test")
        # The batch sent on the dead connection gets no answer: all False, nothing hangs.
        ticket = _send_quietly(publisher, [schedule_message(i) for i in range(4, 7)])
        assert ticket is None or publisher.settle(ticket) == [False] * 3
        # The next batch opens a fresh connection.
        assert publisher.publish([schedule_message(7)]) == [True]


def schedule_message(tenant_id: int) -> Any:
    return SyncJob(tenant_id, 1, Operation.IMPORT_ORDERS, now_s()).message()


def _send_quietly(publisher: BatchPublisher, messages: list[Any]) -> int | None:
    try:
        return publisher.send(messages)
    except Exception:
        return None
