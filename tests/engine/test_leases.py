"""Leases on real databases: atomic acquisition, fencing tokens, expiry, renewal, loss."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from shared.erp.schema import orders
from shared.erp.sync_tables import sync_events, sync_leases
from tests.engine.support import Shop, count, events, run
from workers.engine import leases
from workers.engine.history import query_runs
from workers.engine.leases import Heartbeat, LeaseHeld, LeaseLost
from workers.engine.runs import RunRecorder


def test_acquire_hold_release_and_token_grows(erp_db: Engine) -> None:
    first = leases.acquire(erp_db, 1, "orders", "A")
    with pytest.raises(LeaseHeld) as held:
        leases.acquire(erp_db, 1, "orders", "B")
    assert held.value.holder == "A"
    other_resource = leases.acquire(erp_db, 1, "stock", "B")  # independent resource
    leases.release(erp_db, first)
    second = leases.acquire(erp_db, 1, "orders", "B")
    assert (first.token, second.token, other_resource.token) == (1, 2, 1)


def test_expired_lease_is_reclaimed_and_the_old_holder_fenced_off(erp_db: Engine) -> None:
    stale = leases.acquire(erp_db, 1, "catalog", "crashed", ttl=timedelta(seconds=-1))
    fresh = leases.acquire(erp_db, 1, "catalog", "new")
    assert fresh.token == stale.token + 1
    with pytest.raises(LeaseLost), erp_db.begin() as conn:
        leases.renew(conn, stale)
    leases.release(erp_db, stale)  # a no-op: it is not the stale holder's any more
    with pytest.raises(LeaseHeld):
        leases.acquire(erp_db, 1, "catalog", "third")


@pytest.mark.parametrize("row_exists", [False, True])
def test_concurrent_acquire_has_exactly_one_winner(erp_db: Engine, row_exists: bool) -> None:
    if row_exists:
        leases.release(erp_db, leases.acquire(erp_db, 1, "orders", "setup"))
    barrier = threading.Barrier(6)
    won: list[str] = []
    lost: list[str] = []

    def contender(name: str) -> None:
        barrier.wait(10)
        try:
            leases.acquire(erp_db, 1, "orders", name)
            won.append(name)
        except LeaseHeld:
            lost.append(name)

    threads = [threading.Thread(target=contender, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(won) == 1 and len(lost) == 5


def test_heartbeat_keeps_a_short_lease_alive_and_notices_a_takeover(erp_db: Engine) -> None:
    ttl = timedelta(seconds=2)  # stored times have whole seconds: keep a margin
    lease = leases.acquire(erp_db, 1, "stock", "A", ttl=ttl)
    beat = Heartbeat(erp_db, lease, every=timedelta(seconds=0.2), ttl=ttl).start()
    try:
        time.sleep(2.2)  # longer than the TTL: only renewals keep it
        with pytest.raises(LeaseHeld):
            leases.acquire(erp_db, 1, "stock", "B")
        with erp_db.begin() as conn:  # someone takes it over behind our back
            conn.execute(update(sync_leases).values(token=sync_leases.c.token + 1, holder="B"))
        deadline = time.monotonic() + 5
        while beat.lost is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert isinstance(beat.lost, LeaseLost)
    finally:
        beat.stop()


def test_lost_lease_fails_the_run_and_blocks_its_next_commit(erp: Engine, woo: Shop) -> None:
    woo.add_orders(250)

    def steal_after_page_1(done: int, _total: int | None) -> None:
        if done == 100:
            with erp.begin() as conn:
                conn.execute(update(sync_leases).values(
                    token=sync_leases.c.token + 1, holder="usurper"))

    result = run(erp, "import_orders", progress=steal_after_page_1)

    assert result.outcome == "failed" and "taken over" in (result.error or "")
    assert count(erp, orders) == 100  # page 2 was refused at its commit
    with erp.connect() as conn:
        holder = conn.execute(select(sync_leases.c.holder)).scalar()
    assert holder == "usurper"  # our release left the new holder's lease alone


@pytest.mark.parametrize("checkpointed", [False, True])
def test_a_lease_takeover_closes_the_dead_run_as_abandoned(
    erp: Engine, woo: Shop, checkpointed: bool
) -> None:
    # A worker started a run, took the lease and died: the row says `running`, the lease
    # expires. With `checkpointed` it had written its fencing token before dying.
    dead = RunRecorder(erp, 1, "import_orders", worker="host:1:dead")
    dead.start()
    lease = leases.acquire(erp, 1, "orders", "host:1:dead", ttl=timedelta(seconds=-1))
    if checkpointed:
        dead.lease_token = lease.token
        dead.flush()
    bystander = RunRecorder(erp, 1, "update_stock", worker="host:1:dead")  # other resource
    bystander.start()

    result = run(erp, "import_orders", holder="host:2:successor")

    assert result.outcome == "ok", result.error
    by_id = {r["id"]: r for r in query_runs(erp, integration_id=1)}
    closed = by_id[dead.run_id]
    assert closed["outcome"] == "abandoned" and closed["finished_at"] is not None
    assert "host:2:successor" in closed["error"] and "taken over at" in closed["error"]
    assert by_id[bystander.run_id]["outcome"] == "running"
    assert [r["id"] for r in query_runs(erp, integration_id=1, failed_only=True)] == [dead.run_id]
    abandoned = events(erp, sync_events.c.kind == "run_abandoned")
    assert [(e.run_id, e.level) for e in abandoned] == [(dead.run_id, "error")]
    # Released normally, the next run takes the lease without a takeover: nothing else closed.
    assert run(erp, "import_orders", holder="host:3:next").outcome == "ok"
    assert count(erp, sync_events, sync_events.c.kind == "run_abandoned") == 1


def test_a_run_starting_while_the_lease_is_held_is_not_taken_for_dead(erp_db: Engine) -> None:
    # Same holder name (every `iluo-sync run` on one host is cli@host), started after the
    # lease was taken (about to find it held): a takeover must not close it as abandoned.
    held = leases.acquire(erp_db, 1, "orders", "cli@host", ttl=timedelta(seconds=-1))
    later = RunRecorder(erp_db, 1, "import_orders", worker="cli@host")
    later.started_at += timedelta(seconds=5)
    later.start()
    leases.acquire(erp_db, 1, "orders", "cli@other")
    assert query_runs(erp_db, integration_id=1)[0]["outcome"] == "running"
    assert held.token == 1
