"""Leases: mutual exclusion per (integration, resource) that cannot get stuck.

A lease row has a holder, an expiry and a fencing token. Acquiring is one atomic UPDATE that
succeeds only when the row is free or expired, and bumps the token; a missing row is inserted,
and the primary key decides between two workers inserting at once. While a run lasts its lease
is renewed (by a heartbeat thread, and inside every data commit, see `fence`); a renewal that
finds another token means someone took the lease over after it expired — the run has lost it
and must stop. A killed worker simply stops renewing: its lease expires and is taken again,
and the taker closes the dead run's history row as `abandoned` (workers.engine.abandoned).

`catalog` is one resource for both product operations (see `Operation.resource`), so product
import and export of one integration never overlap.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Connection, Engine, Update, and_, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from shared.erp.sync_tables import sync_leases
from shared.telemetry.metrics import LEASE_TAKEOVERS
from workers.engine.abandoned import close_abandoned_runs
from workers.engine.clock import from_db, to_db, utc_now

log = logging.getLogger(__name__)

#: How long a lease lives without renewal. Long enough to ride out a slow shop call between two
#: renewals, short enough that a crashed worker's integration is free again within minutes.
LEASE_TTL = timedelta(seconds=120)
#: The heartbeat renews this often (a third of the TTL: two renewals may fail before expiry).
HEARTBEAT_EVERY = timedelta(seconds=40)


class LeaseHeld(Exception):
    """Another run holds the lease; this run must not start."""

    def __init__(self, holder: str | None, expires_at: datetime | None) -> None:
        until = f" until {expires_at:%Y-%m-%d %H:%M:%S} UTC" if expires_at else ""
        super().__init__(f"another run holds the lease ({holder or 'unknown holder'}{until})")
        self.holder = holder
        self.expires_at = expires_at


class LeaseLost(Exception):
    """The lease expired and was taken over: everything not yet committed must be dropped."""


@dataclass(frozen=True, slots=True)
class Lease:
    integration_id: int
    resource: str
    holder: str
    token: int


def default_holder() -> str:
    """Who holds a lease, for operators: host, process and thread."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:100]


def _key(integration_id: int, resource: str):  # type: ignore[no-untyped-def]
    return and_(
        sync_leases.c.integration_id == integration_id, sync_leases.c.resource == resource
    )


def acquire(
    engine: Engine, integration_id: int, resource: str, holder: str, *, ttl: timedelta = LEASE_TTL
) -> Lease:
    """Take the lease in a transaction of its own, or raise LeaseHeld."""
    with engine.begin() as conn:
        taken = take(conn, integration_id, resource, holder, ttl=ttl)
    if isinstance(taken, LeaseHeld):
        raise taken
    return taken


def grab_params(integration_id: int, resource: str, holder: str, *, now: datetime,
                ttl: timedelta = LEASE_TTL) -> dict[str, object]:
    """The parameters of `grab_statement`."""
    return dict(b_integration_id=integration_id, b_resource=resource, b_holder=holder,
                b_now=to_db(now), b_expires=to_db(now + ttl))


@cache
def grab_statement(expired: bool, returning: bool) -> Update:
    """The lease's UPDATE, built once per form: free (no holder, or released) or expired."""
    c = sync_leases.c
    now = bindparam("b_now", type_=c.acquired_at.type)
    condition = (and_(c.holder.is_not(None), c.expires_at <= now)
                 if expired else or_(c.holder.is_(None), c.expires_at.is_(None)))
    stmt = (
        update(sync_leases)
        .where(c.integration_id == bindparam("b_integration_id"),
               c.resource == bindparam("b_resource"), condition)
        .values(holder=bindparam("b_holder", type_=c.holder.type), token=c.token + 1,
                acquired_at=now, expires_at=bindparam("b_expires", type_=c.expires_at.type))
    )
    return stmt.returning(c.token) if returning else stmt


FREE = (update(sync_leases)
         .where(sync_leases.c.integration_id == bindparam("b_integration_id"),
                sync_leases.c.resource == bindparam("b_resource"),
                sync_leases.c.token == bindparam("b_token"))
         .values(holder=None, expires_at=None))


def take(
    conn: Connection, integration_id: int, resource: str, holder: str, *,
    ttl: timedelta = LEASE_TTL,
) -> Lease | LeaseHeld:
    """Take the lease inside the caller's transaction (a run takes it in the one that opens
    its run record); answers the LeaseHeld to raise once that transaction is committed.
    Each successful call grows the fencing token.

    A free lease and an expired one are taken by two separate atomic UPDATEs, so that taking
    over from a holder that never released (a killed worker, a lost run) can be counted.
    """
    now = utc_now()
    c = sync_leases.c
    params = grab_params(integration_id, resource, holder, now=now, ttl=ttl)

    def grab(expired: bool) -> int | None:
        returning = bool(conn.dialect.update_returning)  # the new token in one round trip
        result = conn.execute(grab_statement(expired, returning), params)
        if returning:
            token = result.scalar()
            return None if token is None else int(token)
        if result.rowcount != 1:
            return None
        return int(conn.execute(select(c.token).where(_key(integration_id, resource)))
                   .scalar_one())

    token = grab(expired=False)
    if token is None:
        # Read before the takeover: the dead holder's run is closed as abandoned with it.
        dead = conn.execute(select(c.holder, c.token, c.acquired_at, c.expires_at)
                            .where(_key(integration_id, resource))).first()
        if dead is None:
            try:
                with conn.begin_nested():  # a rival inserting it first fails only this part
                    conn.execute(insert(sync_leases).values(
                        integration_id=integration_id, resource=resource, holder=holder,
                        token=1, acquired_at=to_db(now), expires_at=to_db(now + ttl),
                    ))
                return Lease(integration_id, resource, holder, 1)
            except IntegrityError:
                dead = conn.execute(select(c.holder, c.token, c.acquired_at, c.expires_at)
                                    .where(_key(integration_id, resource))).first()
                assert dead is not None
                return LeaseHeld(dead.holder, from_db(dead.expires_at))
        token = grab(expired=True)
        if token is None:
            return LeaseHeld(dead.holder, from_db(dead.expires_at))
        LEASE_TAKEOVERS.inc()
        log.info("lease %s of integration %s: an expired lease taken over", resource,
                 integration_id)
        close_abandoned_runs(
            conn, integration_id, resource, dead_holder=dead.holder,
            dead_token=int(dead.token), dead_acquired_at=dead.acquired_at,
            taken_by=holder, at=to_db(now))
    return Lease(integration_id, resource, holder, token)


def renew(conn: Connection, lease: Lease, *, ttl: timedelta = LEASE_TTL) -> None:
    """Extend the lease on `conn` (inside the caller's transaction) or raise LeaseLost.

    Called in every data commit, this is the fence: the commit goes through only while our
    token is still the current one, and the row lock it takes makes a concurrent takeover wait.
    """
    stmt = (
        update(sync_leases)
        .where(_key(lease.integration_id, lease.resource), sync_leases.c.token == lease.token)
        .values(expires_at=to_db(utc_now() + ttl))
    )
    if conn.execute(stmt).rowcount == 1:
        return
    # MariaDB may count "matched but unchanged" (same second) as 0 rows: confirm by reading.
    token = conn.execute(
        select(sync_leases.c.token).where(_key(lease.integration_id, lease.resource))
    ).scalar()
    if token != lease.token:
        raise LeaseLost(
            f"lease {lease.resource!r} was taken over (token {token}, ours {lease.token}); "
            "the run stopped and kept only what it had committed"
        )


def release(engine: Engine, lease: Lease) -> None:
    """Free the lease if it is still ours (a taken-over lease is left to its new holder)."""
    with engine.begin() as conn:
        free(conn, lease)


def free(conn: Connection, lease: Lease) -> None:
    """`release` inside the caller's transaction (a run frees it where it closes its record)."""
    conn.execute(FREE, free_params(lease))


def free_params(lease: Lease) -> dict[str, object]:
    """The parameters of `FREE` (the lease released, if the token is still ours)."""
    return dict(b_integration_id=lease.integration_id, b_resource=lease.resource,
                b_token=lease.token)


class Heartbeat:
    """Renews a lease in the background while a run waits on a slow shop.

    It never stops the run itself; it raises a flag that the run checks at its next checkpoint
    (and the fenced commit catches the loss for certain). Its own thread starts only when the
    first renewal is due (the process's `_Keeper` starts it): most runs (every idle one) end
    well before that, and a thread started per run cost more than the rest of an idle run on
    a busy machine. A long run still gets a thread of its own, so one slow tenant database
    never holds up another run's renewals.
    """

    def __init__(
        self, engine: Engine, lease: Lease, *, every: timedelta = HEARTBEAT_EVERY,
        ttl: timedelta = LEASE_TTL,
    ) -> None:
        self._engine = engine
        self._lease = lease
        self._every = every.total_seconds()
        self._ttl = ttl
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.lost: LeaseLost | None = None

    def start(self) -> Heartbeat:
        _KEEPER.call_at(time.monotonic() + self._every, self._spawn)
        return self

    def stop(self) -> None:
        with self._lock:
            self._stop.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)

    def _spawn(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return  # the run ended before its first renewal
            self._thread = threading.Thread(
                target=self._loop, daemon=True,
                name=f"lease-{self._lease.integration_id}-{self._lease.resource}")
            self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                with self._engine.begin() as conn:
                    renew(conn, self._lease, ttl=self._ttl)
            except LeaseLost as exc:
                self.lost = exc
                return
            except Exception:  # a database hiccup: the next beat (or the fenced commit) decides
                log.warning("lease renewal failed; will retry", exc_info=True)
            if self._stop.wait(self._every):
                return


class _Keeper:
    """One thread per process that calls each registered function at its time (heartbeats
    start their own thread through it). A call must be quick: it only starts a thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()  # ties never compare the functions
        self._thread: threading.Thread | None = None

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._due, (when, next(self._order), fn))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="lease-keeper",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._due or self._due[0][0] > time.monotonic():
                    wait = self._due[0][0] - time.monotonic() if self._due else None
                    self._cond.wait(wait)
                _, _, fn = heapq.heappop(self._due)
            try:
                fn()
            except Exception:  # never lose the keeper: a thread that cannot start is logged
                log.exception("the lease keeper could not start a heartbeat")


_KEEPER = _Keeper()
