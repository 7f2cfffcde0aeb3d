"""The service's own records in the control DB: events without a tenant DB, and heartbeats.

`service_events` holds what cannot go into a tenant's history: a message parked after killing
workers, a message refused because its tenant is gone. `heartbeats` holds one row per tick
component and per worker process, so `status` can tell a live service from a dead one.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, update
from sqlalchemy.exc import IntegrityError

from shared.control.tables import heartbeats, service_events
from shared.redact import redact

PARKED, REFUSED, REFRESH_FAILED = "parked", "refused", "refresh_failed"


def record_event(
    conn: Connection,
    kind: str,
    message: str,
    *,
    at: datetime,
    level: str = "error",
    tenant_id: int | None = None,
    integration_id: int | None = None,
    operation: str | None = None,
    message_id: str | None = None,
) -> None:
    conn.execute(insert(service_events).values(
        at=at, level=level, kind=kind, tenant_id=tenant_id, integration_id=integration_id,
        operation=operation, message_id=message_id, message=redact(message)[:2000],
    ))


def process_component(kind: str) -> str:
    """A stable name for this process: `worker@host:pid`."""
    return f"{kind}@{socket.gethostname()}:{os.getpid()}"[:150]


def beat(
    conn: Connection, component: str, kind: str, *, at: datetime, info: dict[str, Any] | None = None
) -> None:
    """Upsert this component's heartbeat (update first: the row nearly always exists)."""
    text = orjson.dumps(info).decode() if info is not None else None
    done = conn.execute(
        update(heartbeats).where(heartbeats.c.component == component).values(beat_at=at, info=text)
    ).rowcount
    if done:
        return
    try:
        with conn.begin_nested():  # a rival inserting the same component first is fine
            conn.execute(insert(heartbeats).values(
                component=component, kind=kind, host=socket.gethostname()[:100], pid=os.getpid(),
                started_at=at, beat_at=at, info=text,
            ))
    except IntegrityError:
        pass


def forget(conn: Connection, component: str) -> None:
    """A cleanly stopped process removes its heartbeat, so `status` does not call it dead."""
    conn.execute(delete(heartbeats).where(heartbeats.c.component == component))
