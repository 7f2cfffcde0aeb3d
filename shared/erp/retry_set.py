"""The retry set (`sync_retry_items`): shop items an import could not take, kept until it does.

An import's cursor moves past a failed item only because a row here, written in the same
transaction as the page that failed it, carries it from then on (DESIGN rule 8). Two states:

- `retry`: the ERP refused it (a lock, a trigger, a unique clash) or the shop's answer could not
  be read. Re-read by id at the next run, then with a doubling delay, at most hourly; never
  dropped by itself. An item waiting longer than ILUO_SYNC_PENDING_ALERT_MINUTES pages ops.
- `attention`: the shop's data cannot be held by the ERP as it is (a product without SKU, a
  currency no ERP column takes). No run can fix that by itself, so it is re-checked once a day,
  listed by `iluo-sync pending`, and pages nobody.

A run that imports the item (by id, through its cursor or the reconciliation) deletes its row in
the transaction that imports it. Used by the engine (workers.engine.store) and by the commands
that list and re-arm the set (app.cli.pending), hence here rather than in the engine.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, insert, select, update

from shared.erp.sync_tables import sync_retry_items
from shared.redact import redact

RETRY, ATTENTION = "retry", "attention"
#: The operations whose items are kept (the two that read the shop into the ERP).
OPERATIONS = ("import_orders", "import_products")

#: The second attempt waits this long; every later one twice as long as the one before ...
FIRST_DELAY = timedelta(minutes=5)
#: ... but never longer than this: an item the ERP refused is re-read at least hourly.
MAX_DELAY = timedelta(hours=1)
#: An item needing attention is re-checked this often (the shop may have fixed it quietly).
ATTENTION_DELAY = timedelta(hours=24)
#: Ids read in one IN (...) clause.
IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Failure:
    """One item a run could not import: its shop id, a label a person recognises, the reason."""

    shop_id: str
    error: str
    item: str | None = None
    attention: bool = False


@dataclass(frozen=True, slots=True)
class Kept:
    """A row of the set, as `iluo-sync pending` shows it."""

    integration_id: int
    operation: str
    shop_id: str
    item: str | None
    state: str
    first_failed_at: datetime
    last_failed_at: datetime
    attempts: int
    last_error: str | None
    next_attempt_at: datetime


@dataclass(frozen=True, slots=True)
class Summary:
    """What the set holds for one integration (or a whole tenant): for the schedule row,
    `status` and the alert. `oldest_retry` is the first failure of the longest-waiting item in
    state `retry` (None when there is none)."""

    retry: int = 0
    attention: int = 0
    oldest_retry: datetime | None = None


def delay(attempts: int, state: str) -> timedelta:
    """How long after its `attempts`-th failure an item is due again."""
    if state == ATTENTION:
        return ATTENTION_DELAY
    if attempts <= 1:
        return timedelta(0)  # the next run
    doubled: timedelta = FIRST_DELAY * 2 ** min(attempts - 2, 16)  # capped: no overflow
    return min(MAX_DELAY, doubled)


def keep(
    conn: Connection, integration_id: int, operation: str, failures: Sequence[Failure],
    now: datetime,
) -> None:
    """Add failed items or count one more attempt of those already kept, inside the caller's
    transaction. The run holds the operation's lease, so nobody else writes these rows now; the
    unique key would refuse a duplicate all the same."""
    latest = {_text(f.shop_id, 64): f for f in failures if f.shop_id}
    if not latest:
        return
    t = sync_retry_items.c
    existing = {row.shop_id: row.attempts for row in _rows_for(
        conn, integration_id, operation, latest, select(t.shop_id, t.attempts))}
    fresh = []
    for shop_id, failure in latest.items():
        state = ATTENTION if failure.attention else RETRY
        item = _text(failure.item or shop_id, 100)
        error = _text(failure.error)
        if shop_id in existing:
            attempts = existing[shop_id] + 1
            conn.execute(update(sync_retry_items).where(
                t.integration_id == integration_id, t.operation == operation,
                t.shop_id == shop_id,
            ).values(state=state, item=item, last_failed_at=now, attempts=attempts,
                     last_error=error, next_attempt_at=now + delay(attempts, state)))
        else:
            fresh.append(dict(integration_id=integration_id, operation=operation,
                              shop_id=shop_id, item=item, state=state, first_failed_at=now,
                              last_failed_at=now, attempts=1, last_error=error,
                              next_attempt_at=now + delay(1, state)))
    if fresh:
        conn.execute(insert(sync_retry_items), fresh)


def _text(value: str, size: int | None = None) -> str:
    """As a row can hold it: secrets masked (a shop may echo a key into an error), NUL shown as
    `\\x00` (PostgreSQL refuses it in text), cut to the column."""
    text = redact(value).replace("\x00", "\\x00")
    return text if size is None else text[:size]


def resolve(
    conn: Connection, integration_id: int, operation: str, shop_ids: Collection[str]
) -> int:
    """Forget items that have now been imported; answers how many were kept."""
    t = sync_retry_items.c
    removed = 0
    wanted = sorted({_text(s, 64) for s in shop_ids if s})
    for start in range(0, len(wanted), IN_CHUNK):
        removed += conn.execute(delete(sync_retry_items).where(
            t.integration_id == integration_id, t.operation == operation,
            t.shop_id.in_(wanted[start:start + IN_CHUNK]),
        )).rowcount or 0
    return removed


def due(
    conn: Connection, integration_id: int, operation: str, now: datetime, *, limit: int
) -> list[str]:
    """Shop ids due for a re-read, longest-waiting first."""
    t = sync_retry_items.c
    rows = conn.execute(
        select(t.shop_id).where(t.integration_id == integration_id, t.operation == operation,
                                t.next_attempt_at <= now)
        .order_by(t.next_attempt_at, t.id).limit(limit)
    )
    return [row.shop_id for row in rows]


def kept_ids(
    conn: Connection, integration_id: int, operation: str, shop_ids: Collection[str]
) -> set[str]:
    """Which of these shop ids the set holds (the reconciliation leaves those to the retries)."""
    t = sync_retry_items.c
    return {row.shop_id for row in _rows_for(conn, integration_id, operation, shop_ids,
                                             select(t.shop_id))}


def summary(conn: Connection, integration_id: int | None = None) -> Summary:
    """Counts per state and the oldest first failure in state `retry`."""
    t = sync_retry_items.c
    stmt = select(
        func.sum(case((t.state == RETRY, 1), else_=0)).label("retry"),
        func.sum(case((t.state == ATTENTION, 1), else_=0)).label("attention"),
        func.min(case((t.state == RETRY, t.first_failed_at), else_=None)).label("oldest"),
    )
    if integration_id is not None:
        stmt = stmt.where(t.integration_id == integration_id)
    row = conn.execute(stmt).one()
    return Summary(int(row.retry or 0), int(row.attention or 0), row.oldest)


def listing(
    conn: Connection, integration_id: int | None = None, *, limit: int | None = None
) -> list[Kept]:
    """The set, longest-waiting first (for `pending` and the console)."""
    t = sync_retry_items.c
    stmt = select(sync_retry_items).order_by(t.integration_id, t.first_failed_at, t.id)
    if integration_id is not None:
        stmt = stmt.where(t.integration_id == integration_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [Kept(row.integration_id, row.operation, row.shop_id, row.item, row.state,
                 row.first_failed_at, row.last_failed_at, int(row.attempts), row.last_error,
                 row.next_attempt_at) for row in conn.execute(stmt)]


def make_due(
    conn: Connection, integration_id: int, now: datetime, *, shop_id: str | None = None
) -> int:
    """`iluo-sync retry`: every kept item of the integration (or one) is due at the next run,
    whatever its state or backoff. Answers how many rows that touched."""
    t = sync_retry_items.c
    where = [t.integration_id == integration_id]
    if shop_id is not None:
        where.append(t.shop_id == shop_id)
    # Whole seconds, like every time the engine compares with (workers.engine.clock.to_db).
    result = conn.execute(update(sync_retry_items).where(and_(*where))
                          .values(next_attempt_at=now.replace(microsecond=0)))
    return int(result.rowcount or 0)


def _rows_for(
    conn: Connection, integration_id: int, operation: str, shop_ids: Iterable[str],
    stmt: Any,
) -> list[Any]:
    t = sync_retry_items.c
    wanted = sorted({_text(s, 64) for s in shop_ids if s})
    rows: list[Any] = []
    for start in range(0, len(wanted), IN_CHUNK):
        rows.extend(conn.execute(stmt.where(
            t.integration_id == integration_id, t.operation == operation,
            t.shop_id.in_(wanted[start:start + IN_CHUNK]),
        )).all())
    return rows
