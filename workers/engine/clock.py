"""Time at the edges: aware UTC inside the engine, naive UTC in the database (CONTRACT §1).

Stored times are truncated to whole seconds because MariaDB's DATETIME keeps no fraction and a
watermark must read back exactly what was written, whatever the backend.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_db(moment: datetime) -> datetime:
    """Aware → naive UTC, whole seconds (floored: an earlier watermark is always safe)."""
    if moment.tzinfo is None:
        raise ValueError("engine times must be timezone-aware")
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0)


def from_db(value: datetime | None) -> datetime | None:
    """Naive UTC from a row → aware UTC (None stays None)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
