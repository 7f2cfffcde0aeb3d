"""Shop-local wall-clock times ⇄ aware UTC, for APIs that speak the shop's clock.

PrestaShop (`date_upd`, in PS_TIMEZONE) and IdoSell (`orderChangeDate`, naive) filter and answer
in the shop's local time without an offset; `shop_integrations.shop_timezone` says which zone.

The night clocks go back repeats an hour (lesson 9, OCA/connector-prestashop PR #142):
- a wall-clock time read from the shop is taken at its *earlier* reading (fold=0), so a cursor
  built from it can only lag behind the truth, never run ahead of unread rows;
- a bound sent to the shop that falls into the repeated hour is widened by that hour, so rows
  written in either pass of the hour stay inside the window (re-reads are deduplicated).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workers.ports import ShopError

#: The wire format both platforms use: `2024-05-01 10:00:00`.
WIRE_FORMAT = "%Y-%m-%d %H:%M:%S"
HOUR = timedelta(hours=1)


def shop_zone(name: str | None, platform: str) -> ZoneInfo:
    """The integration's zone; a name zoneinfo does not know is a configuration error."""
    try:
        return ZoneInfo((name or "Europe/Warsaw").strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ShopError(f"{platform}: shop_timezone {name!r} is not a known time zone "
                        "(expected e.g. Europe/Warsaw)") from None


def is_ambiguous(local: datetime, zone: ZoneInfo) -> bool:
    """Does this naive wall-clock time happen twice (the hour repeated when clocks go back)?"""
    first = local.replace(tzinfo=zone, fold=0).utcoffset()
    second = local.replace(tzinfo=zone, fold=1).utcoffset()
    return first != second


def to_local(moment: datetime, zone: ZoneInfo) -> datetime:
    """An aware instant as the shop's naive wall-clock time, whole seconds."""
    if moment.tzinfo is None:
        raise ValueError("datetimes passed to a ShopClient must be timezone-aware")
    return moment.astimezone(zone).replace(tzinfo=None, microsecond=0)


def lower_bound(moment: datetime, zone: ZoneInfo) -> datetime:
    """`moment` as a local lower bound, an hour earlier when it falls into a repeated hour."""
    local = to_local(moment, zone)
    return local - HOUR if is_ambiguous(local, zone) else local


def upper_bound(moment: datetime, zone: ZoneInfo) -> datetime:
    """`moment` as a local upper bound, an hour later when it falls into a repeated hour."""
    local = to_local(moment, zone)
    return local + HOUR if is_ambiguous(local, zone) else local


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """A naive shop-local time as aware UTC, at the earlier reading when it is ambiguous.
    ValueError when it has none (out of range once shifted).

    A time inside the gap clocks jump over (it cannot have been written by a correct clock) is
    read with the offset before the jump, as zoneinfo does for fold=0.
    """
    try:
        if local.tzinfo is not None:  # an explicit offset is unambiguous
            return local.astimezone(UTC)
        return local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    except OverflowError:  # year 1 or 9999 shifted out of range: not a date we can use
        raise ValueError(f"{local.isoformat()} has no UTC reading") from None


def parse_local(text: str) -> datetime:
    """`YYYY-MM-DD HH:MM:SS` (also with `T`) → naive datetime; ValueError when it is not."""
    return datetime.fromisoformat(text.strip())


def wire(local: datetime) -> str:
    return local.strftime(WIRE_FORMAT)
