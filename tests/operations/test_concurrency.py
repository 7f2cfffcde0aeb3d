"""Runs at the same time, in threads: leases keep one (integration, resource) to one run, and the
database's unique keys keep the data right even when two runs do overlap."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import Engine, func, select

from shared.erp import retry_set
from shared.erp.schema import order_lines, orders
from tests.engine.support import Shop, count, rows, run
from workers.engine import leases
from workers.runner import RunResult

WAIT = 20  # seconds; only reached when something is broken


def hold_while(
    other: Callable[[], RunResult], engine: Engine, first_op: str
) -> tuple[RunResult, RunResult]:
    """Run `first_op` in a thread, pausing it after its first checkpoint while `other` runs."""
    inside, release = threading.Event(), threading.Event()
    results: dict[str, RunResult] = {}

    def pause(_done: int, _total: int | None) -> None:
        if not inside.is_set():
            inside.set()
            release.wait(WAIT)

    thread = threading.Thread(target=lambda: results.setdefault(
        "first", run(engine, first_op, progress=pause, holder="worker-A")))
    thread.start()
    assert inside.wait(WAIT), "the first run never reached a checkpoint"
    try:
        second = other()
    finally:
        release.set()
        thread.join(WAIT)
    return results["first"], second


def test_two_runs_of_one_operation_one_skips(erp: Engine, woo: Shop) -> None:
    woo.add_orders(150)

    first, second = hold_while(lambda: run(erp, "import_orders", holder="worker-B"),
                               erp, "import_orders")

    assert first.outcome == "ok" and first.counts["created"] == 150
    assert second.outcome == "skipped" and "worker-A" in (second.error or "")
    assert count(erp, orders) == 150


def test_product_import_and_export_never_run_together(erp: Engine, woo: Shop) -> None:
    first, second = hold_while(lambda: run(erp, "import_products", holder="worker-B"),
                               erp, "export_products")

    assert first.outcome == "ok"
    assert second.outcome == "skipped"  # the shared `catalog` lease


def test_different_resources_run_side_by_side(erp: Engine, woo: Shop) -> None:
    woo.add_orders(120)
    first, second = hold_while(lambda: run(erp, "update_stock", holder="worker-B"),
                               erp, "import_orders")
    assert first.outcome == second.outcome == "ok"


def test_without_the_lease_the_unique_key_still_prevents_doubles(
    erp: Engine, woo: Shop, monkeypatch
) -> None:
    """Two workers that both think they hold the lease (e.g. a redelivered message racing the
    original): each page is imported by both, yet every order exists once."""
    woo.add_orders(250)
    # The run takes its lease inside the transaction that opens its record (leases.take) and
    # frees it in the one that closes it (leases.free): both made to look granted and harmless.
    monkeypatch.setattr(leases, "take", lambda conn, i, r, holder, **kw: leases.Lease(
        i, r, holder, 0))
    monkeypatch.setattr(leases, "renew", lambda conn, lease, **kw: None)
    monkeypatch.setattr(leases, "free", lambda conn, lease: None)
    barrier = threading.Barrier(2)
    results: list[RunResult] = []

    def worker(name: str) -> None:
        barrier.wait(WAIT)
        results.append(run(erp, "import_orders", holder=name))

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    # On PostgreSQL the loser of a race can also clash on the order number (a unique key that is
    # not the insert's arbiter): that order is an item error, kept for retry, and the run is
    # partial; the next run finds it imported and forgets it.
    assert all(r.outcome in ("ok", "partial") for r in results), [r.error for r in results]
    if any(r.outcome == "partial" for r in results):
        assert run(erp, "import_orders").outcome == "ok"
        with erp.connect() as conn:
            assert retry_set.listing(conn, 1) == []
    assert count(erp, orders) == 250 and count(erp, order_lines) == 250
    assert sum(r.counts["created"] for r in results) == 250
    per_order = rows(erp, select(order_lines.c.order_id, func.count().label("n"))
                     .group_by(order_lines.c.order_id))
    assert {r.n for r in per_order} == {1}  # no lines doubled onto an order either
