"""Which country a shop is in, from its time zone: the fallback for a customer's country code
that cannot be stored (CONTRACT §1 `customers.country_code` is char(2))."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

#: When the zone names no single country (UTC, Etc/…): ILUO Biznes is a Polish ERP.
DEFAULT_COUNTRY = "PL"


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    """IANA zone → ISO 3166 code, from `zone.tab` of the tzdata package we depend on anyway."""
    text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    zones: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            code, _coordinates, zone, *_ = line.split("\t")
            zones[zone] = code
    return zones


def country_of_zone(zone: str | None) -> str:
    return _zones().get((zone or "").strip(), DEFAULT_COUNTRY)


def storable_country(code: str | None) -> str | None:
    """The code as the ERP keeps it (two ASCII letters, upper case), or None when it is not one."""
    text = (code or "").strip().upper()
    return text if len(text) == 2 and text.isascii() and text.isalpha() else None
