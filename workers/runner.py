"""run_operation: one run of one operation of one integration, start to finish.

The order of things is the point:
1. read the integration's settings fresh (a change in the ERP applies at the next run);
2. open the run record — every run, refused or not, leaves one row in the history;
3. refuse a configuration the contract calls an error (recorded as a `config_error` event);
4. take the lease for the operation's resource (held elsewhere → "skipped", recorded);
5. run the operation page by page, each page committed with its cursor under the lease;
6. always: close the shop client, stop the heartbeat, release the lease, finish the record.

A run that cannot finish (shop down, lease lost, time limit, a bug) is recorded as failed with
one clear line; every cursor stays where its last commit put it. A run that finished but failed
some items ends `partial`: the imports keep those items in the retry set, the exports find them
unsent next time; "ok" means every item read is in place or was skipped for a stated reason.

It composes the engine (workers.engine: leases, records, the store) with the operations
(workers.operations, which are written against the engine's context), so it sits above both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.db import autocommit
from shared.erp import retry_set
from shared.erp.integrations import IntegrationConfig, load_integration
from shared.erp.retry_set import OPERATIONS as KEPT_OPERATIONS
from shared.erp.retry_set import Summary
from shared.redact import redact
from shared.settings import get_settings
from workers.domain import Operation
from workers.engine import leases
from workers.engine.connector_state import with_state
from workers.engine.context import Limits, Progress, RunContext, TimeLimitReached
from workers.engine.dry_run import DryRunShop
from workers.engine.leases import Heartbeat, Lease, LeaseHeld, LeaseLost
from workers.engine.runs import ERROR, RunRecorder
from workers.engine.safety import SafetyLimits, SafetyStop
from workers.engine.store import SqlErpStore
from workers.operations import OPERATIONS
from workers.ports import ShopClient, ShopConfigError, ShopConnection, ShopError
from workers.shops import connect

log = logging.getLogger(__name__)

OK, PARTIAL, FAILED, SKIPPED = "ok", "partial", "failed", "skipped"


@dataclass(frozen=True, slots=True)
class RunResult:
    run_id: int | None
    operation: Operation
    outcome: str  # ok | partial | failed | skipped
    counts: dict[str, int] = field(hash=False)
    error: str | None
    started_at: datetime
    finished_at: datetime
    #: What the run spent on the shop's API (`CallStats.as_dict()` of the connector's ShopHttp)
    #: and on which platform; None when no shop client was made (refused, lease held).
    shop_calls: dict[str, Any] | None = field(default=None, hash=False)
    platform: str | None = None
    #: The integration's settings as this run read them (None: the integration is gone), so the
    #: worker can update the schedule without reading them again; `config_read` says it did.
    config: IntegrationConfig | None = field(default=None, hash=False, compare=False, repr=False)
    config_read: bool = field(default=False, compare=False, repr=False)
    #: The integration's retry set after an import run (None for other operations): the
    #: worker copies it to the schedule row, where `status` and the alerts read it.
    kept: Summary | None = field(default=None, hash=False, compare=False)
    #: The run stopped at a safety valve before writing (outcome failed): it alerts at once.
    safety_stop: bool = False
    #: The run failed on a configuration only a person can fix (ShopConfigError): the worker
    #: alerts at once instead of after several failures.
    config_error: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome == OK

    @property
    def completed(self) -> bool:
        """The run went through (ok, or partial with its failed items kept for later)."""
        return self.outcome in (OK, PARTIAL)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for `iluo-sync run --json`)."""
        return {
            "run_id": self.run_id,
            "operation": self.operation.value,
            "outcome": self.outcome,
            "counts": dict(self.counts),
            "error": self.error,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "safety_stop": self.safety_stop,
            "kept": None if self.kept is None else {
                "retry": self.kept.retry, "attention": self.kept.attention,
                "oldest_retry": None if self.kept.oldest_retry is None
                else self.kept.oldest_retry.isoformat() + "Z",
            },
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def run_operation(
    engine: Engine,
    integration_id: int,
    operation: Operation,
    *,
    trigger: str = "manual",
    full: bool = False,
    dry_run: bool = False,
    event_history: bool = True,
    holder: str | None = None,
    shop_factory: Callable[[ShopConnection], ShopClient] = connect,
    progress: Progress | None = None,
    time_limit_s: float = 900,
    force: bool = False,
    safety: SafetyLimits | None = None,
) -> RunResult:
    """Run `operation` for integration `integration_id` of the tenant database `engine`."""
    operation = Operation.parse(operation) if isinstance(operation, str) else operation
    holder = holder or leases.default_holder()
    deadline = time.monotonic() + time_limit_s
    recorder = RunRecorder(engine, integration_id, operation.value, trigger=trigger, full=full,
                           dry_run=dry_run, worker=holder, event_history=event_history)
    # The run opens with the settings, the lease (a dry run writes nothing, so it needs no
    # exclusion) and the run record, which names the lease's fencing token. On PostgreSQL a
    # free lease, the record and the settings are one statement, the lease taken before the
    # settings are known (a refused run frees it as it closes); otherwise, and for a lease
    # that is held, expired or new, the lease and the record share a transaction.
    lease: Lease | None = None
    held: LeaseHeld | None = None
    if engine.dialect.name == "postgresql" and not dry_run:
        with autocommit(engine) as conn:
            cfg, lease = recorder.start_with_settings(conn, operation.resource, holder)
        refusal = _refusal(cfg, integration_id, operation, trigger)
        if lease is None:
            with engine.begin() as conn:
                if refusal is None:
                    lease, held = _take(conn, recorder, integration_id, operation, holder)
                else:
                    recorder.start(conn)
    else:
        with engine.begin() as conn:
            cfg = load_integration(conn, integration_id)
            refusal = _refusal(cfg, integration_id, operation, trigger)
            if refusal is None and not dry_run:
                lease, held = _take(conn, recorder, integration_id, operation, holder)
            else:
                recorder.start(conn)

    if refusal is not None:
        outcome, message = refusal
        if outcome == FAILED:
            recorder.event(ERROR, "config_error", message=message)
        return _result(recorder, operation, outcome, message, config=cfg, lease=lease)
    assert cfg is not None
    if held is not None:
        return _result(recorder, operation, SKIPPED, str(held), config=cfg)
    heartbeat = Heartbeat(engine, lease).start() if lease else None

    error: str | None
    outcome, error = FAILED, "the run did not finish"
    stopped = configuration = False
    shop = _LazyShop(lambda: shop_factory(with_state(ShopConnection.of(cfg), engine)))
    try:
        ctx = RunContext(
            integration=cfg,
            operation=operation,
            store=SqlErpStore(engine, integration_id, dry_run=dry_run,
                              fence=(lambda conn: leases.renew(conn, lease)) if lease else None),
            shop=DryRunShop(shop.use()) if dry_run else cast(ShopClient, shop),
            run=recorder,
            started=recorder.started_at,
            full=full,
            dry_run=dry_run,
            deadline=deadline,
            lease_check=_lease_check(heartbeat),
            progress=progress,
            limits=_limits(),
            force=force,
            safety=safety or SafetyLimits.from_settings(get_settings()),
        )
        OPERATIONS[operation](ctx)
        outcome, error = (PARTIAL if recorder.counts["failed"] else OK), None
    except SafetyStop as exc:  # stopped before writing; failed-looking, but no crash
        error, stopped = str(exc), True
    except (ShopError, LeaseLost, TimeLimitReached) as exc:
        error = str(exc) or type(exc).__name__
        if isinstance(exc, ShopConfigError):  # a person must act: say so in the history too
            recorder.event(ERROR, "config_error", message=error)
            configuration = True
    except Exception as exc:
        log.exception("%s of integration %s failed", operation.value, integration_id)
        error = _error_line(exc)
    except BaseException as exc:  # an interrupt (worker shutdown, time limit): record, re-raise
        _cleanup(shop.client, heartbeat)
        _result(recorder, operation, FAILED, f"interrupted ({type(exc).__name__})", lease=lease)
        raise
    _cleanup(shop.client, heartbeat)
    return _result(recorder, operation, outcome, error, shop.client, config=cfg,
                   safety_stop=stopped, config_error=configuration, lease=lease)


class _LazyShop:
    """The shop client, made at its first use: an idle ERP-to-shop run (statuses, stock,
    products with nothing changed) never calls the shop, and making the client (its HTTP
    pool and auth) was a visible share of such a run. A connector that cannot be made fails
    the run where it is first needed, inside the run's error handling."""

    def __init__(self, make: Callable[[], ShopClient]) -> None:
        self._make = make
        self.client: ShopClient | None = None

    def use(self) -> ShopClient:
        if self.client is None:
            self.client = self._make()
        return self.client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.use(), name)


def _take(conn: Connection, recorder: RunRecorder, integration_id: int, operation: Operation,
          holder: str) -> tuple[Lease | None, LeaseHeld | None]:
    """The lease taken (or found held) and the run record opened, in the caller's transaction."""
    taken = leases.take(conn, integration_id, operation.resource, holder)
    lease = None if isinstance(taken, LeaseHeld) else taken
    if lease is not None:
        recorder.lease_token = lease.token
    recorder.start(conn)
    return lease, taken if isinstance(taken, LeaseHeld) else None


def _refusal(
    cfg: IntegrationConfig | None, integration_id: int, operation: Operation, trigger: str
) -> tuple[str, str] | None:
    """(outcome, message) when the run must not go ahead, else None."""
    if cfg is None:
        return FAILED, f"integration {integration_id} does not exist in this database"
    reason = cfg.blocked_reason(operation)
    if reason:
        return FAILED, f"configuration error: {reason}"
    if trigger == "schedule" and not cfg.runs_automatically(operation):
        # The schedule may be a tick behind the ERP's settings, which are read fresh here.
        return SKIPPED, f"{operation.cli_name} is not enabled for automatic runs any more"
    return None


def _limits() -> Limits:
    settings = get_settings()
    return Limits(reconcile_every=timedelta(hours=settings.reconcile_hours),
                  reconcile_days=timedelta(days=settings.reconcile_days))


def _kept(conn: Connection, cfg: IntegrationConfig | None, operation: Operation,
          dry_run: bool) -> Summary | None:
    """The retry set's summary after an import run (one aggregate query), else None."""
    if cfg is None or dry_run or operation.value not in KEPT_OPERATIONS:
        return None
    return retry_set.summary(conn, cfg.id)


def _lease_check(heartbeat: Heartbeat | None) -> Callable[[], None]:
    def check() -> None:
        if heartbeat is not None and heartbeat.lost is not None:
            raise heartbeat.lost

    return check


def _cleanup(shop: ShopClient | None, heartbeat: Heartbeat | None) -> None:
    if shop is not None:
        try:
            shop.close()
        except Exception:
            log.warning("closing the shop client failed", exc_info=True)
    if heartbeat is not None:
        heartbeat.stop()


def _error_line(exc: Exception) -> str:
    """A bug or database failure as one line: a driver error without SQLAlchemy's statement and
    parameters (they carry item data and can be kilobytes long)."""
    orig = getattr(exc, "orig", None)
    if isinstance(exc, SQLAlchemyError) and orig is not None:
        first = (str(orig).strip().splitlines() or [""])[0]
        return f"{type(orig).__name__}: {first}"[:500]
    return f"{type(exc).__name__}: {exc}"[:2000]


def _shop_calls(shop: ShopClient | None) -> tuple[str | None, dict[str, Any] | None]:
    """The connector's call counts, for metrics. Every connector keeps its ShopHttp as `http`;
    a client without one (a test double) simply has none."""
    stats = getattr(getattr(shop, "http", None), "stats", None)
    if stats is None or not hasattr(stats, "as_dict"):
        return None, None
    return getattr(shop, "platform", None), stats.as_dict()


def _result(
    recorder: RunRecorder, operation: Operation, outcome: str, error: str | None,
    shop: ShopClient | None = None,
    *,
    config: IntegrationConfig | None = None,
    safety_stop: bool = False,
    config_error: bool = False,
    lease: Lease | None = None,
) -> RunResult:
    # Masked once here, so the history, the schedule row, the CLI and Sentry all get the same
    # text: a shop may echo its key in an error, a driver the URL it could not reach.
    error = redact(error) if error else error
    kept: list[Summary | None] = [None]

    def closing(conn: Connection) -> None:
        # In the record's closing transaction: an import reads the retry set it leaves.
        kept[0] = _kept(conn, config, operation, recorder.dry_run)

    reads_kept = (outcome in (OK, PARTIAL, FAILED) and config is not None
                  and not recorder.dry_run and operation.value in KEPT_OPERATIONS)
    finished = recorder.finish(outcome, error, release=lease,
                               also=closing if reads_kept else None)
    platform, calls = _shop_calls(shop)
    return RunResult(
        run_id=recorder.run_id,
        operation=operation,
        outcome=outcome,
        counts={name: int(n) for name, n in recorder.counts.items()},
        error=error,
        started_at=recorder.started_at,
        finished_at=finished,
        shop_calls=calls,
        platform=platform,
        config=config,
        config_read=True,
        safety_stop=safety_stop,
        config_error=config_error,
        kept=kept[0],
    )


__all__ = ["RunResult", "run_operation"]
