"""Safety valves (reference/lessons.md, c 11): a bad mapping must not wipe a shop's catalogue.

Before its first write, export_products counts the bound products it would deactivate and
update_stock the products whose positive shop stock it would set to 0 (both by a counting pass
over ERP data, so memory stays flat). Past the setting's share the run stops without writing:
a `safety_stop` event with the figures, a failed run whose error line says how to go ahead,
and an alert on the scheduled path (workers.reporting). `iluo-sync run … --force` goes past it
once; the integration option `safety off` always; either is recorded as `safety_override`.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.settings import Settings
from workers.engine.runs import ERROR, WARNING, RunRecorder

STOP_KIND, OVERRIDE_KIND = "safety_stop", "safety_override"


@dataclass(frozen=True, slots=True)
class SafetyLimits:
    """Shares (%) a run may reach before it stops."""

    max_deactivate_pct: float = 20.0
    max_zero_stock_pct: float = 50.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SafetyLimits:
        return cls(settings.safety_max_deactivate_pct, settings.safety_max_zero_stock_pct)


class SafetyStop(Exception):
    """The run would cross a safety valve: it stopped before writing anything."""


def check(
    run: RunRecorder, *, what: str, count: int, of: int, limit_pct: float,
    override: str | None, how_to_force: str,
) -> None:
    """Stop (SafetyStop) when `count` of `of` is more than `limit_pct` %, unless `override`
    says why the run may go ahead anyway (then it is only recorded)."""
    if count <= 0 or of <= 0 or count * 100 <= limit_pct * of:
        return
    figures = f"{what} {count} of {of} ({count * 100 / of:.0f} %; the limit is {limit_pct:g} %)"
    if override is not None:
        run.event(WARNING, OVERRIDE_KIND, message=f"{figures}; going ahead: {override}")
        return
    run.event(ERROR, STOP_KIND, message=figures)
    raise SafetyStop(f"safety stop: this run would {figures}, so it wrote nothing. If that is "
                     f"intended, {how_to_force}")
