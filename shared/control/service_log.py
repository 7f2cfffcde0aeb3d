"""The service's own records in the control DB: events without a tenant DB, and heartbeats.

`service_events` holds what cannot go into a tenant's history: a message parked after killing
workers, a message refused because its tenant is gone. `heartbeats` holds one row per tick
component and per worker process, so `status` can tell a live service from a dead one, and the
`clock` row: the minute whose later slots a tick is serving (`claim_minute`).
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, or_, update
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


#: The heartbeats row (kind "clock") whose beat_at is the last minute a tick took on.
CLOCK = "clock"


def claim_minute(conn: Connection, minute: datetime) -> bool:
    """Whether this tick serves the later slots of `minute`: true for the first tick of that
    minute to ask, whichever process or replica it runs in. A second producer's duplicate tick
    then ends after its first pass instead of holding a tick-group thread for the minute."""
    taken = heartbeats.c.beat_at
    if conn.execute(
        update(heartbeats)
        # A minute far ahead was written by a host whose clock ran fast: not a claim to honour.
        .where(heartbeats.c.component == CLOCK,
               or_(taken < minute, taken > minute + timedelta(minutes=2)))
        .values(beat_at=minute)
    ).rowcount:
        return True
    try:
        with conn.begin_nested():  # the first minute ever, or a rival's row already there
            conn.execute(insert(heartbeats).values(
                component=CLOCK, kind=CLOCK, host=socket.gethostname()[:100], pid=os.getpid(),
                started_at=minute, beat_at=minute))
        return True
    except IntegrityError:
        return False


def forget(conn: Connection, component: str) -> None:
    """A cleanly stopped process removes its heartbeat, so `status` does not call it dead."""
    conn.execute(delete(heartbeats).where(heartbeats.c.component == component))
