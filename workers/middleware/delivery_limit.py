"""DeliveryLimit: a message that keeps killing workers is parked, not looped forever.

RabbitMQ requeues every unacked message of a consumer that dies (SIGKILL, OOM, segfault) and a
classic queue has no delivery limit, so a message that crashes its worker would crash the next
one, forever (Bogdanp/dramatiq#383; the maintainer declined a built-in fix). This middleware
counts, in the control DB, the deliveries of each message that RabbitMQ marks `redelivered` —
the first delivery costs nothing — and when a message is about to start its
(max_deliveries + 1)-th delivery it is failed instead: dramatiq nacks it, RabbitMQ dead-letters
it into the queue's `.XQ`, and the park is recorded (a `service_events` row and, for a sync
job, the schedule row's outcome) so `status` and `integrations` show it.

Counted per message id *and* retry attempt: a dramatiq retry is a new publish of the same id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from dramatiq import Middleware
from dramatiq.middleware import SkipMessage
from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shared.control.schedule import now_s, report_job
from shared.control.service_log import PARKED, record_event
from shared.control.tables import message_deliveries
from shared.jobs import SYNC_ACTORS, SyncJob

log = logging.getLogger(__name__)

#: Deliveries a message may have; the next one parks it.
MAX_DELIVERIES = 3
#: A parked sync job's schedule row waits this long before it is tried again (it may be a bug
#: that kills a worker on every run: an hour keeps it from taking workers down every interval).
PARK_BACKOFF = timedelta(hours=1)


class DeliveryLimit(Middleware):
    def __init__(
        self, engine: Callable[[], Engine], *, max_deliveries: int = MAX_DELIVERIES
    ) -> None:
        self._engine = engine
        self.max_deliveries = max_deliveries

    # -- hooks --------------------------------------------------------------------------------

    def before_process_message(self, broker: Any, message: Any) -> None:
        if not getattr(message, "redelivered", False):
            return  # the first delivery: nothing to count, nothing written
        try:
            with self._engine().begin() as conn:
                deliveries = _count(conn, message)
                if deliveries <= self.max_deliveries:
                    return
                self._park(conn, message, deliveries)
        except Exception:  # the control DB is down: let the message run rather than stall
            log.warning("could not count deliveries of %s", message.message_id, exc_info=True)
            return
        message.fail()  # → nack → RabbitMQ dead-letters it into the queue's .XQ
        raise SkipMessage(f"parked after {deliveries - 1} deliveries")

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        if getattr(message, "redelivered", False) and not message.failed:
            self._forget(message)

    def after_skip_message(self, broker: Any, message: Any) -> None:
        if getattr(message, "redelivered", False) and not message.failed:
            self._forget(message)

    # -- parts ----------------------------------------------------------------------------------

    def _park(self, conn: Connection, message: Any, deliveries: int) -> None:
        now = now_s()
        text = (
            f"message {message.message_id} ({message.actor_name} on {message.queue_name}) parked "
            f"in {message.queue_name}.XQ after {deliveries - 1} deliveries: it kept killing "
            "the worker that ran it"
        )
        log.error(text)
        job = _job_of(message)
        conn.execute(
            update(message_deliveries)
            .where(message_deliveries.c.message_key == _key(message))
            .values(parked_at=now)
        )
        record_event(
            conn, PARKED, text, at=now, message_id=message.message_id,
            tenant_id=job.tenant_id if job else None,
            integration_id=job.integration_id if job else None,
            operation=job.operation.value if job else None,
        )
        if job is not None:
            report_job(conn, job, outcome="parked", error=text, finished_at=now,
                       due_at=now + PARK_BACKOFF)

    def _forget(self, message: Any) -> None:
        try:
            with self._engine().begin() as conn:
                conn.execute(
                    delete(message_deliveries).where(
                        message_deliveries.c.message_key == _key(message),
                        message_deliveries.c.parked_at.is_(None),
                    )
                )
        except Exception:
            log.warning("could not clear the delivery count of %s", message.message_id,
                        exc_info=True)


def _key(message: Any) -> str:
    return f"{message.message_id}:{message.options.get('retries', 0)}"[:80]


def _count(conn: Connection, message: Any) -> int:
    """Add this delivery; return how many deliveries the message has had, this one included."""
    key, now = _key(message), now_s()
    bump = (
        update(message_deliveries)
        .where(message_deliveries.c.message_key == key)
        .values(deliveries=message_deliveries.c.deliveries + 1, last_seen_at=now)
    )
    if not conn.execute(bump).rowcount:
        job = _job_of(message)
        try:
            with conn.begin_nested():
                conn.execute(insert(message_deliveries).values(
                    message_key=key, message_id=str(message.message_id)[:64],
                    queue_name=str(message.queue_name)[:100],
                    actor_name=str(message.actor_name)[:100],
                    tenant_id=job.tenant_id if job else None,
                    integration_id=job.integration_id if job else None,
                    operation=job.operation.value if job else None,
                    # The first delivery was not counted (it was not a redelivery).
                    deliveries=2, first_seen_at=now, last_seen_at=now,
                ))
        except IntegrityError:  # a twin delivery inserted it first
            conn.execute(bump)
    return int(conn.execute(
        select(message_deliveries.c.deliveries).where(message_deliveries.c.message_key == key)
    ).scalar_one())


def _job_of(message: Any) -> SyncJob | None:
    if message.actor_name not in SYNC_ACTORS.values():
        return None
    try:
        return SyncJob.from_args(*message.args)
    except (TypeError, ValueError):
        return None
