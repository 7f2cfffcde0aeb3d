"""Does a value from a shop fit the ERP column it is going into?

Checked before any SQL runs, for two reasons. A value that does not fit is an item error the
operator can read ("price 1e12 does not fit the ERP's numeric(12,2)"), not a driver message.
And the databases disagree on what "does not fit" means: PostgreSQL refuses an over-long
string or a number beyond numeric(12,2) (one item's savepoint rolls back), SQLite stores
anything, MariaDB may truncate with a warning, and PostgreSQL refuses NUL in text where the
others keep it. Deciding here makes every backend behave the same.

The limits are read from the table definitions (`shared.erp.schema`), so they follow the
contract's column types.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Column, Numeric, String


def text_problem(value: str | None, column: Column[Any] | None, what: str) -> str | None:
    """Why `value` cannot go into the string column, or None when it can (`column` None: only
    the checks every text needs — a free text the caller cuts to size itself)."""
    if value is None:
        return None
    if not isinstance(value, str):
        return f"{what} is not text"
    if "\x00" in value:
        return f"{what} contains a NUL character"
    length = column.type.length if column is not None and isinstance(column.type, String) \
        else None
    if length is not None and len(value) > length:
        return f"{what} is longer than {length} characters ({len(value)}): {value[:40]!r}…"
    return None


def number_problem(value: Decimal | None, column: Column[Any], what: str,
                   *, minimum: Decimal | None = None) -> str | None:
    """Why `value` cannot go into the numeric column (too many integer digits once rounded to
    its scale, not a finite number, below `minimum`), or None when it can."""
    if value is None:
        return None
    if not isinstance(value, Decimal) or not value.is_finite():
        return f"{what} is not a number: {value!r:.40}"
    column_type = column.type
    assert isinstance(column_type, Numeric) and column_type.precision is not None
    scale = column_type.scale or 0
    whole_digits = column_type.precision - scale
    shown = f"numeric({column_type.precision},{scale})"
    # adjusted() is the exponent of the leading digit, known without any arithmetic: a value
    # like 1e30 is refused before quantize() could overflow Decimal's 28-digit context.
    if not value.is_zero() and value.adjusted() >= whole_digits:
        return f"{what} {value:.6g} does not fit the ERP's {shown}"
    rounded = value.quantize(Decimal(1).scaleb(-scale), ROUND_HALF_UP)
    if rounded.copy_abs() >= Decimal(10) ** whole_digits:
        return f"{what} {value} does not fit the ERP's {shown}"
    if minimum is not None and value < minimum:
        return f"{what} {value} is below {minimum}"
    return None


def first_problem(*problems: str | None) -> str | None:
    return next((p for p in problems if p is not None), None)
