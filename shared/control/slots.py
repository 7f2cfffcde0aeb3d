"""Schedule slots: when an operation with an interval of I minutes is next due.

The slots of a row are the whole minutes m (counted from the Unix epoch) with
``(m - offset) % I == 0``, where ``offset = tenant_id % I``: a stable per-tenant shift, so that
10,000 tenants with "every 5 minutes" fall due a fifth at a time instead of all at once, and
sequential tenant ids spread evenly. Ticks come every minute, so minute slots lose nothing.

"The next slot after t" is always later than t's minute, so a run that ends, or a tick that
wakes after hours of downtime, schedules exactly one next run, never a backlog.

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


def offset_for(tenant_id: int, interval: int) -> int:
    """The tenant's stable shift within an interval, in minutes."""
    return tenant_id % max(1, interval)


def epoch_minute(moment: datetime) -> int:
    """Whole minutes since the epoch of a naive UTC time (floored)."""
    return int((moment - EPOCH).total_seconds() // 60)


def minute_start(minute: int) -> datetime:
    return EPOCH + timedelta(minutes=minute)


def next_slot(after: datetime, interval: int, offset: int) -> datetime:
    """The first slot strictly later than `after`'s minute."""
    interval = max(1, interval)
    minute = epoch_minute(after)
    return minute_start(minute + interval - (minute - offset) % interval)


class add_minutes(FunctionElement[datetime]):
    """``base + n minutes`` for a naive UTC DateTime, compiled per dialect."""

    type = DateTime()
    inherit_cache = True
    name = "add_minutes"


@compiles(add_minutes)
def _add_minutes_default(element: add_minutes, compiler: Any, **kw: Any) -> str:
    base, minutes = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"({base} + ({minutes}) * INTERVAL '1 minute')"  # PostgreSQL


@compiles(add_minutes, "sqlite")
def _add_minutes_sqlite(element: add_minutes, compiler: Any, **kw: Any) -> str:
    base, minutes = (compiler.process(arg, **kw) for arg in element.clauses)
    # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' and compares them as
    # text, so the result must have exactly that shape: %f gives SS.SSS, three zeros make six.
    return f"strftime('%Y-%m-%d %H:%M:%f000', {base}, '+' || ({minutes}) || ' minutes')"


@compiles(add_minutes, "mysql")
@compiles(add_minutes, "mariadb")
def _add_minutes_mysql(element: add_minutes, compiler: Any, **kw: Any) -> str:
    base, minutes = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"DATE_ADD({base}, INTERVAL ({minutes}) MINUTE)"


@compiles(add_minutes, "mssql")
def _add_minutes_mssql(element: add_minutes, compiler: Any, **kw: Any) -> str:
    base, minutes = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"DATEADD(minute, {minutes}, {base})"


def next_slot_sql(
    after: datetime, interval: ColumnElement[int], offset: ColumnElement[int]
) -> ColumnElement[datetime]:
    """`next_slot(after, interval, offset)` as SQL over a row's interval and offset columns."""
    minute = epoch_minute(after)
    base = bindparam(None, minute_start(minute), type_=DateTime())
    now_minute = literal(minute, Integer())
    return add_minutes(base, interval - (now_minute - offset) % interval)
