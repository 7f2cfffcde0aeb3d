"""Watermarks (cursors): where the next incremental read starts, and when a full pass is due.

The discipline (DESIGN "Reliability rules" 2, lessons 7–20):
- the window is fixed *before* the read; its end sits a little behind "now" so rows the shop
  commits late, or a shop clock slightly behind ours, still fall into a later window;
- every window starts `OVERLAP` before where the last one ended (writes are idempotent, so a
  re-read costs nothing but catches late commits);
- the cursor is moved only in the transaction that commits the items it covers, never past
  the last committed item, never backwards; a truncated run leaves it where its last commit put
  it;
- everything is UTC; converting to the shop's zone and date format is the connector's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, select

from shared.erp.sync_tables import sync_cursors
from workers.domain import Operation
from workers.engine.clock import from_db, to_db, utc_now
from workers.engine.dialect import upsert

#: Each window re-reads this much of the previous one (late commits, clock skew between hosts).
OVERLAP = timedelta(minutes=2)
#: The window ends this far behind "now": a row stamped in the current second may still be
#: uncommitted in the shop. Small, because the overlap catches the rest on the next run.
END_LAG = timedelta(seconds=1)
#: First import of orders with no `orders_since`: this far back.
FIRST_ORDERS_LOOKBACK = timedelta(days=30)
#: Stock and product export re-send everything at least this often (drift repair, lesson 27).
FULL_PASS_EVERY = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Window:
    """[since, until] in aware UTC; `since` None means "everything" (a full read)."""

    since: datetime | None
    until: datetime

    def advance(self, current: datetime | None, last_seen: datetime | None) -> datetime | None:
        """The cursor after committing items up to `last_seen`: capped at `until` (we asked for
        nothing later), never moved backwards (a re-scan may deliver older items)."""
        if last_seen is None:
            return current
        moved = min(last_seen, self.until)
        return moved if current is None or moved > current else current


def window(cursor: datetime | None, *, start_if_none: datetime | None, now: datetime) -> Window:
    """The next read window from the stored cursor (or a first start, or None = full read)."""
    until = now - END_LAG
    if cursor is not None:
        return Window(since=min(cursor - OVERLAP, until), until=until)
    if start_if_none is not None:
        return Window(since=min(start_if_none, until), until=until)
    return Window(since=None, until=until)


def cursor_name(operation: Operation) -> str:
    return operation.value


def full_pass_name(operation: Operation) -> str:
    return f"full:{operation.value}"


def full_pass_due(last_full: datetime | None, *, forced: bool, now: datetime | None = None) -> bool:
    """A full pass runs when asked (`--full`), the first time, or when the last one is old."""
    if forced or last_full is None:
        return True
    return (now or utc_now()) - last_full >= FULL_PASS_EVERY


# -- storage (sync_cursors) -------------------------------------------------------------------


def read(conn: Connection, integration_id: int, name: str) -> datetime | None:
    value = conn.execute(
        select(sync_cursors.c.value).where(
            and_(sync_cursors.c.integration_id == integration_id, sync_cursors.c.name == name)
        )
    ).scalar()
    return from_db(value)


def write(conn: Connection, integration_id: int, name: str, value: datetime) -> None:
    """Store a cursor inside the caller's transaction (the one that commits the items)."""
    upsert(
        conn,
        sync_cursors,
        [dict(integration_id=integration_id, name=name, value=to_db(value),
              updated_at=to_db(utc_now()))],
        keys=("integration_id", "name"),
    )
