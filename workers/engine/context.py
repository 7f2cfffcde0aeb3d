"""What an operation gets to work with: the two ports, the settings, the run record, limits."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.erp.integrations import IntegrationConfig
from workers.domain import Operation
from workers.engine.erp_port import ErpStore
from workers.engine.runs import RunRecorder
from workers.engine.safety import SafetyLimits, check
from workers.ports import ShopClient

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True, slots=True)
class Limits:
    """Service-wide settings an operation needs (from shared.settings, read once per run)."""

    #: How often import_orders reconciles shop order ids with the ERP's.
    reconcile_every: timedelta = timedelta(hours=24)
    #: How far back the reconciliation looks.
    reconcile_days: timedelta = timedelta(days=14)


class TimeLimitReached(Exception):
    """The run used up its time limit; what it committed stays, the rest waits for the next."""


@dataclass
class RunContext:
    integration: IntegrationConfig
    operation: Operation
    store: ErpStore
    shop: ShopClient
    run: RunRecorder
    started: datetime  # aware UTC, taken before anything is read
    full: bool = False
    dry_run: bool = False
    deadline: float = float("inf")  # time.monotonic() value
    lease_check: Callable[[], None] = lambda: None
    progress: Progress | None = None
    limits: Limits = field(default_factory=Limits)
    done: int = field(default=0)
    force: bool = False  # `run … --force`: go past a safety stop, this run only
    safety: SafetyLimits = field(default_factory=SafetyLimits)

    def safety_check(self, what: str, count: int, of: int, limit_pct: float) -> None:
        """A safety valve (workers.engine.safety): raises SafetyStop before any write when
        `count` of `of` is past `limit_pct` %, unless forced or the integration's option is off."""
        override = ("forced (--force)" if self.force
                    else None if self.integration.safety_on
                    else "the integration's safety option is off")
        op, ref = self.operation.cli_name, self.integration.id
        check(self.run, what=what, count=count, of=of, limit_pct=limit_pct, override=override,
              how_to_force=f"run it once with `iluo-sync run TENANT {ref} {op} --force`, or "
                           f"turn the valve off with `iluo-sync integration-option TENANT {ref} "
                           "safety off`")

    def checkpoint(self, *, advanced: int = 0, total: int | None = None) -> None:
        """Between two pages or batches: record what happened, report progress, and stop
        here if the lease is gone or the time is up (nothing uncommitted is pending now)."""
        self.done += advanced
        self.run.flush()
        if self.progress is not None:
            self.progress(self.done, total)
        self.lease_check()
        if time.monotonic() > self.deadline:
            raise TimeLimitReached(
                "time limit reached; the run stopped after its last commit and the next run "
                "continues from there"
            )
