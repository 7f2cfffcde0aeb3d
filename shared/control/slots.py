"""Schedule slots: when an operation with an interval of I minutes is next due.

Time is cut into slots of `SLOT_SECONDS` (15 s), counted from the Unix epoch. A row's slots are
the slots s with ``(s - offset) % P == 0``, where ``P = I * SLOTS_PER_MINUTE`` and
``offset = tenant_id % P``: a stable per-tenant shift, so that 10,000 tenants with "every 5
minutes" fall due a twentieth at a time (every 15 s) instead of a fifth at a time on the minute,
and sequential tenant ids spread evenly. The tick serves each slot (producers.tick.run_minute:
periodiq wakes it on the minute, it passes again at :15, :30 and :45), so a slot's rows are
published as it begins and the workers drain a quarter-minute's share at a time — 4,000 runs due
in the same second each minute had made the last of them wait 37 s at 5,000 tenants.

"The next slot after t" is always later than t's slot, so a run that ends, or a tick that wakes
after hours of downtime, schedules exactly one next run, never a backlog.

The same arithmetic exists twice: in Python (`next_slot`) and as a SQL expression
(`next_slot_sql`) so the claim can move thousands of rows in one statement on every dialect.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, DateTime, Integer, bindparam, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

EPOCH = datetime(1970, 1, 1)
#: The schedule's resolution. A minute divides into whole slots, so minute slots (offset
#: multiples of SLOTS_PER_MINUTE) still fall on the minute.
SLOT_SECONDS = 15
SLOTS_PER_MINUTE = 60 // SLOT_SECONDS


def period_of(interval: int) -> int:
    """An interval of minutes in slots."""
    return max(1, interval) * SLOTS_PER_MINUTE


def offset_for(tenant_id: int, interval: int) -> int:
    """The tenant's stable shift within an interval, in slots."""
    return tenant_id % period_of(interval)


def epoch_slot(moment: datetime) -> int:
    """Whole slots since the epoch of a naive UTC time (floored)."""
    return int((moment - EPOCH).total_seconds() // SLOT_SECONDS)


def slot_start(slot: int) -> datetime:
    return EPOCH + timedelta(seconds=slot * SLOT_SECONDS)


def next_slot(after: datetime, interval: int, offset: int) -> datetime:
    """The first of the row's slots strictly later than `after`'s slot."""
    period = period_of(interval)
    slot = epoch_slot(after)
    return slot_start(slot + period - (slot - offset) % period)


def last_slot(at: datetime, interval: int, offset: int) -> datetime:
    """The latest of the row's slots that began at or before `at`."""
    period = period_of(interval)
    slot = epoch_slot(at)
    return slot_start(slot - (slot - offset) % period)


class add_seconds(FunctionElement[datetime]):
    """``base + n seconds`` for a naive UTC DateTime, compiled per dialect."""

    type = DateTime()
    inherit_cache = True
    name = "add_seconds"


def add_minutes(base: Any, minutes: Any) -> add_seconds:
    return add_seconds(base, minutes * 60)


@compiles(add_seconds)
def _add_seconds_default(element: add_seconds, compiler: Any, **kw: Any) -> str:
    base, seconds = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"({base} + ({seconds}) * INTERVAL '1 second')"  # PostgreSQL


@compiles(add_seconds, "sqlite")
def _add_seconds_sqlite(element: add_seconds, compiler: Any, **kw: Any) -> str:
    base, seconds = (compiler.process(arg, **kw) for arg in element.clauses)
    # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' and compares them as
    # text, so the result must have exactly that shape: %f gives SS.SSS, three zeros make six.
    return f"strftime('%Y-%m-%d %H:%M:%f000', {base}, '+' || ({seconds}) || ' seconds')"


@compiles(add_seconds, "mysql")
@compiles(add_seconds, "mariadb")
def _add_seconds_mysql(element: add_seconds, compiler: Any, **kw: Any) -> str:
    base, seconds = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"DATE_ADD({base}, INTERVAL ({seconds}) SECOND)"


@compiles(add_seconds, "mssql")
def _add_seconds_mssql(element: add_seconds, compiler: Any, **kw: Any) -> str:
    base, seconds = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"DATEADD(second, {seconds}, {base})"


def offset_sql(tenant_id: ColumnElement[int], interval: int) -> ColumnElement[int]:
    """`offset_for` over a tenant id column, for a fixed interval."""
    return tenant_id % period_of(interval)


def next_slot_sql(
    after: datetime, interval: ColumnElement[int], offset: ColumnElement[int]
) -> ColumnElement[datetime]:
    """`next_slot(after, interval, offset)` as SQL over a row's interval and offset columns."""
    slot = epoch_slot(after)
    base = bindparam(None, slot_start(slot), type_=DateTime())
    period = interval * SLOTS_PER_MINUTE
    now_slot = literal(slot, Integer())
    return add_seconds(base, (period - (now_slot - offset) % period) * SLOT_SECONDS)
