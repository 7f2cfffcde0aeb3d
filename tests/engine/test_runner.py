"""run_operation's promises: refusals, skips, failures, time limit, history, cleanup."""

from __future__ import annotations

import json

from sqlalchemy import Engine, delete, insert, select, update

from shared.erp.schema import (
    orders,
    shop_integration_operations,
    shop_integrations,
)
from shared.erp.sync_tables import sync_events, sync_leases, sync_runs
from tests.engine.support import Shop, ago, count, cursor, events, no_sleep_factory, rows, run
from workers.domain import Operation
from workers.engine.history import query_events, query_runs
from workers.ports import ShopConnection, ShopError
from workers.runner import run_operation


def test_unknown_integration_fails_with_a_config_error_in_the_history(erp: Engine) -> None:
    result = run_operation(erp, 99, Operation.IMPORT_ORDERS)

    assert result.outcome == "failed" and "does not exist" in (result.error or "")
    found = query_events(erp, integration_id=99, errors_only=True)
    assert [e["kind"] for e in found] == ["run_failed", "config_error"]
    assert query_runs(erp, integration_id=99)[0]["outcome"] == "failed"


def test_product_import_and_export_both_enabled_is_a_configuration_error(
    erp: Engine, woo: Shop
) -> None:
    with erp.begin() as conn:
        conn.execute(update(shop_integration_operations)
                     .where(shop_integration_operations.c.operation == "import_products")
                     .values(enabled=True))

    refused = run(erp, "export_products")
    allowed = run(erp, "import_orders")

    assert refused.outcome == "failed" and "both enabled" in (refused.error or "")
    assert allowed.outcome == "ok"
    assert woo.calls() == 1  # only the order import talked to the shop
    assert len(events(erp, sync_events.c.kind == "config_error")) == 1


def test_scheduled_run_of_a_disabled_operation_is_skipped(erp: Engine, woo: Shop) -> None:
    result = run(erp, "import_products", trigger="schedule")  # disabled in the demo

    assert result.outcome == "skipped" and "not enabled" in (result.error or "")
    assert woo.calls() == 0


def test_a_refused_run_frees_the_lease_it_opened_with(erp: Engine, woo: Shop) -> None:
    # On PostgreSQL the lease is taken with the settings read, before they say "refused".
    assert run(erp, "import_orders", trigger="schedule").outcome == "ok"
    with erp.begin() as conn:
        conn.execute(update(shop_integration_operations)
                     .where(shop_integration_operations.c.operation == "import_orders")
                     .values(enabled=False))
    refused = run(erp, "import_orders", trigger="schedule")
    with erp.begin() as conn:
        conn.execute(update(shop_integration_operations)
                     .where(shop_integration_operations.c.operation == "import_orders")
                     .values(enabled=True))
    again = run(erp, "import_orders", trigger="schedule")

    assert refused.outcome == "skipped" and again.outcome == "ok"
    with erp.connect() as conn:
        lease = conn.execute(select(sync_leases)).one()
        records = conn.execute(select(sync_runs.c.outcome, sync_runs.c.finished_at)
                               .order_by(sync_runs.c.id)).all()
    assert lease.holder is None and lease.expires_at is None
    assert [r.outcome for r in records] == ["ok", "skipped", "ok"]
    assert all(r.finished_at is not None for r in records)


def test_an_integration_deleted_from_the_erp_takes_no_lease(erp: Engine, woo: Shop) -> None:
    si = shop_integrations
    with erp.begin() as conn:  # a second integration, a copy of the first with one operation
        first = conn.execute(select(si).where(si.c.id == 1)).one()._asdict()
        conn.execute(insert(si).values(first | {"id": 2, "name": "Drugi sklep"}))
        conn.execute(insert(shop_integration_operations).values(
            integration_id=2, operation="import_orders", enabled=True, interval_minutes=5))
    second = run_operation(erp, 2, Operation.IMPORT_ORDERS, shop_factory=no_sleep_factory())
    assert second.outcome == "ok"  # its lease row exists from now on
    with erp.begin() as conn:
        conn.execute(delete(shop_integration_operations)
                     .where(shop_integration_operations.c.integration_id == 2))
        conn.execute(delete(si).where(si.c.id == 2))

    result = run_operation(erp, 2, Operation.IMPORT_ORDERS, shop_factory=no_sleep_factory())

    assert result.outcome == "failed" and "does not exist" in (result.error or "")
    with erp.connect() as conn:
        lease = conn.execute(select(sync_leases).where(sync_leases.c.integration_id == 2)).one()
        last = conn.execute(select(sync_runs).order_by(sync_runs.c.id.desc())).first()
    assert lease.holder is None and lease.token == 1  # not taken by the refused run
    assert last is not None and last.outcome == "failed" and last.lease_token is None


def test_shop_factory_failure_fails_the_run_and_frees_the_lease(erp: Engine) -> None:
    def broken(conn: ShopConnection):  # type: ignore[no-untyped-def]
        raise ShopError("no connector for platform 'magento'")

    result = run(erp, "update_stock", shop_factory=broken)

    assert result.outcome == "failed" and "magento" in (result.error or "")
    with erp.connect() as conn:
        assert conn.execute(select(sync_leases.c.holder)).scalar() is None


def test_shop_client_is_always_closed(erp: Engine, woo: Shop) -> None:
    closed: list[bool] = []
    real = no_sleep_factory()

    def tracking(conn: ShopConnection):  # type: ignore[no-untyped-def]
        client = real(conn)
        original = client.close
        client.close = lambda: (closed.append(True), original())  # type: ignore[method-assign]
        return client

    woo.sandbox.faults.fail_next(4, 500)  # the client's 4 attempts, all failing
    failed = run(erp, "import_orders", shop_factory=tracking)
    ok = run(erp, "import_orders", shop_factory=tracking)
    assert (failed.outcome, ok.outcome) == ("failed", "ok") and closed == [True, True]


def test_time_limit_stops_after_a_commit_and_keeps_it(erp: Engine, woo: Shop) -> None:
    woo.add_orders(150)

    result = run(erp, "import_orders", time_limit_s=0)

    assert result.outcome == "failed" and "time limit" in (result.error or "")
    assert count(erp, orders) == 100 and cursor(erp, "import_orders") is not None
    assert run(erp, "import_orders").counts["created"] == 50


def test_event_history_off_keeps_summaries_warnings_and_errors(erp: Engine, woo: Shop) -> None:
    woo.sandbox.add_order([("UNKNOWN", 1, "1.00")], created=ago(minutes=20))
    woo.add_orders(2)
    with woo.sandbox.lock:
        woo.sandbox.orders[max(woo.sandbox.orders)]["currency"] = "??"

    result = run(erp, "import_orders", event_history=False)

    assert result.counts["created"] == 2 and result.counts["failed"] == 1
    kinds = {e.kind for e in events(erp)}
    assert kinds == {"unknown_sku", "item_error"}  # no per-order "created" events
    assert count(erp, sync_runs) == 1


def test_history_queries_and_json_ready_results(erp: Engine, woo: Shop) -> None:
    woo.add_orders(3)
    first = run(erp, "import_orders")
    run(erp, "update_stock", dry_run=True)

    runs = query_runs(erp, integration_id=1)
    assert [r["operation"] for r in runs] == ["update_stock", "import_orders"]
    assert runs[0]["dry_run"] and runs[1]["counts"]["created"] == 3
    assert runs[1]["cursor_after"] is not None and runs[1]["lease_token"] == 1
    created = query_events(erp, operation="import-orders", limit=2)
    assert len(created) == 2 and all(e["kind"] == "created" for e in created)
    assert query_events(erp, errors_only=True) == []
    payload = json.loads(json.dumps(first.to_dict()))
    assert payload["outcome"] == "ok" and payload["counts"]["created"] == 3
    assert payload["operation"] == "import_orders" and payload["started_at"].endswith("Z")


def test_dry_run_import_writes_nothing_to_the_erp(erp: Engine, woo: Shop) -> None:
    woo.add_orders(3)

    result = run(erp, "import_orders", dry_run=True)

    assert result.outcome == "ok" and result.counts["created"] == 3
    assert count(erp, orders) == 0 and cursor(erp, "import_orders") is None
    with erp.connect() as conn:
        assert conn.execute(select(sync_leases)).first() is None  # no lease taken either
    assert rows(erp, select(sync_runs.c.dry_run))[0].dry_run
