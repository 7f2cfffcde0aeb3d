"""Closing the history row of a run whose worker died (issue 11, item 7).

A killed worker leaves its sync_runs row at `running` and stops renewing its lease. When the
next run takes the expired lease over (`leases.acquire`), the dead run's row is closed here as
`abandoned`, saying when and by whom the lease was taken over, so that neither `events` nor an
operator reads a run that will never finish as one still in progress.

Which rows: `running` rows of the same integration and lease resource that belonged to the dead
lease — its fencing token once the run had written one (at its first checkpoint), otherwise its
holder with a start no later than the lease's acquisition (a run that starts after the lease
was taken, and is about to find it held, is somebody else's and is left alone). A run that
was only stalled, not dead, meets LeaseLost at its next fenced commit and then records itself
as failed over this, with the real reason.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, insert, or_, select, update

from shared.erp.sync_tables import sync_events, sync_runs
from workers.domain import Operation

ABANDONED = "abandoned"


def close_abandoned_runs(
    conn: Connection,
    integration_id: int,
    resource: str,
    *,
    dead_holder: str | None,
    dead_token: int,
    dead_acquired_at: datetime | None,
    taken_by: str,
    at: datetime,
) -> list[int]:
    """Mark the dead lease's `running` rows abandoned, inside the takeover's transaction; answers
    their run ids. `at` and `dead_acquired_at` are naive UTC (stored form)."""
    r = sync_runs.c
    operations = [op.value for op in Operation if op.resource == resource]
    by_holder = and_(r.lease_token.is_(None), r.worker == dead_holder)
    if dead_acquired_at is not None:
        by_holder = and_(by_holder, r.started_at <= dead_acquired_at)
    mine = and_(r.integration_id == integration_id, r.operation.in_(operations),
                r.outcome == "running", or_(r.lease_token == dead_token, by_holder))
    dead = conn.execute(select(r.id, r.operation).where(mine)).all()
    if not dead:
        return []
    message = (f"abandoned: its worker ({dead_holder or 'unknown'}) stopped renewing the lease; "
               f"taken over at {at:%Y-%m-%d %H:%M:%S} UTC by {taken_by}")
    conn.execute(update(sync_runs).where(r.id.in_([row.id for row in dead]))
                 .values(outcome=ABANDONED, finished_at=at, error=message))
    conn.execute(insert(sync_events), [
        {"run_id": row.id, "integration_id": integration_id, "operation": row.operation,
         "at": at, "level": "error", "kind": "run_abandoned", "message": message}
        for row in dead
    ])
    return [row.id for row in dead]
