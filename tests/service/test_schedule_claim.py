"""The schedule on SQLite, PostgreSQL and MariaDB: sync from the ERP, atomic claims, slots."""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import mssql

from producers.tick import run_minute
from shared.control.claim import claim_statement, in_claim_transaction
from shared.control.refresh import refresh_tenant
from shared.control.schedule import (
    ScheduleConfig,
    claim_due,
    claim_refreshes,
    disable_inactive_tenants,
    now_s,
    report_run,
    start_run,
    unclaim,
)
from shared.control.slots import SLOT_SECONDS, epoch_slot, next_slot, next_slot_sql, offset_for
from shared.control.tables import schedules, tenants
from shared.erp.integrations import CONFLICT
from shared.erp.sync_tables import sync_events
from tests.service.conftest import Control, set_integration, set_operation
from workers.domain import Operation


def _rows(control: Control, tenant_id: int) -> dict[str, object]:
    with control.registry.engine.connect() as conn:
        return {r.operation: r for r in conn.execute(
            select(schedules).where(schedules.c.tenant_id == tenant_id))}


def _seed(control: Control, tenants_n: int, *, due: datetime, interval: int = 5) -> None:
    """Tenants and schedule rows straight into the control DB (no ERP databases needed)."""
    now = now_s()
    with control.registry.engine.begin() as conn:
        conn.execute(insert(tenants), [
            dict(id=i, name=f"t{i}", db_url="sqlite:///nowhere.db", db_password=None,
                 is_active=True, event_history=True, created_at=now, updated_at=now,
                 settings_due_at=now + timedelta(hours=1))
            for i in range(1, tenants_n + 1)
        ])
        conn.execute(insert(schedules), [
            dict(tenant_id=i, integration_id=1, operation=op.value, interval_minutes=interval,
                 enabled=True, next_due_at=due, slot_offset=offset_for(i, interval),
                 consecutive_failures=0)
            for i in range(1, tenants_n + 1) for op in Operation
        ])


def test_next_slot_is_after_the_slot_and_spread_by_tenant() -> None:
    at = datetime(2026, 3, 1, 10, 0, 30)
    assert next_slot(at, 1, 0) == datetime(2026, 3, 1, 10, 1)  # offset 0: on the minute
    assert next_slot(datetime(2026, 3, 1, 10, 1), 1, 0) == datetime(2026, 3, 1, 10, 2)
    assert next_slot(at, 1, 3) == datetime(2026, 3, 1, 10, 0, 45)
    assert next_slot(datetime(2026, 3, 1, 10, 0, 44), 1, 3) == datetime(2026, 3, 1, 10, 0, 45)
    assert next_slot(datetime(2026, 3, 1, 10, 0, 45), 1, 3) == datetime(2026, 3, 1, 10, 1, 45)
    # 100 tenants every 5 minutes: 5 fall due in each of the next 20 quarter-minutes, not 100
    # at once, nor 20 on each minute.
    slots = Counter(next_slot(at, 5, offset_for(tenant, 5)) for tenant in range(100))
    assert sorted(slots.values()) == [5] * 20
    assert all(at < slot <= at + timedelta(minutes=5) for slot in slots)
    assert all(slot.second % SLOT_SECONDS == 0 for slot in slots)


def test_sync_claim_report(any_control: Control) -> None:
    tenant, _ = any_control.add_tenant("shop")
    now = now_s()
    counts = refresh_tenant(any_control.registry, tenant.id, now=now)
    assert counts is not None and counts.inserted == 5
    rows = _rows(any_control, tenant.id)
    enabled = {op for op, r in rows.items() if r.enabled}
    assert enabled == {"import_orders", "update_order_statuses", "export_products", "update_stock"}
    assert all(rows[op].next_due_at == now for op in enabled)  # the first runs start at once

    with any_control.registry.engine.begin() as conn:
        claimed = claim_due(conn, now, limit=100)
    assert {c.job.operation.value for c in claimed} == enabled
    assert all(c.job.due_at == now and c.job.tenant_id == tenant.id for c in claimed)
    rows = _rows(any_control, tenant.id)
    for op in enabled:
        assert rows[op].queued_at == now and rows[op].queued_due_at == now
        assert rows[op].next_due_at == next_slot(now, 1, offset_for(tenant.id, 1))
    with any_control.registry.engine.begin() as conn:
        assert claim_due(conn, now, limit=100) == []  # a duplicate tick finds nothing
        assert claim_due(conn, now + timedelta(minutes=3), limit=100) == []  # still queued

    job = claimed[0].job
    with any_control.registry.engine.begin() as conn:
        started = start_run(conn, job, now)
        assert started.status.value == "go"
        end = now + timedelta(seconds=75)
        report_run(conn, started.schedule_id, outcome="ok", error=None, finished_at=end)
        stale = start_run(conn, job, end)  # the same message again, after its run
        assert stale.status.value == "stale"
    row = _rows(any_control, tenant.id)[job.operation.value]
    assert row.next_due_at == next_slot(end, 1, offset_for(tenant.id, 1))  # from the run's end
    assert row.queued_at is None and row.running_since is None and row.last_outcome == "ok"
    assert row.last_success_at == end and row.consecutive_failures == 0


def test_after_downtime_one_run_not_many(any_control: Control) -> None:
    now = now_s()
    _seed(any_control, 3, due=now - timedelta(hours=5), interval=5)
    with any_control.registry.engine.begin() as conn:
        claimed = claim_due(conn, now, limit=1000)
    assert len(claimed) == 15  # 3 tenants x 5 operations, once each
    with any_control.registry.engine.begin() as conn:
        conn.execute(update(schedules).values(queued_at=None, queued_due_at=None))
        assert claim_due(conn, now, limit=1000) == []  # moved past now, not to the next missed slot
    with any_control.registry.engine.connect() as conn:
        rows = conn.execute(select(schedules)).all()
    assert all(now < r.next_due_at <= now + timedelta(minutes=5) for r in rows)


def test_lost_message_becomes_due_again(any_control: Control) -> None:
    now = now_s()
    config = ScheduleConfig(queue_ttl=timedelta(minutes=10))
    _seed(any_control, 2, due=now, interval=1)
    with any_control.registry.engine.begin() as conn:
        first = claim_due(conn, now, limit=3, config=config)
        unclaim(conn, first)  # not published: due again at once, at its own due time
        again = claim_due(conn, now, limit=100, config=config)
    assert {c.id for c in first} <= {c.id for c in again} and len(again) == 10
    assert all(c.job.due_at == now for c in again)
    # Claimed, published, never reported (a crash): claimable again after queue_ttl.
    later = now + timedelta(minutes=5)
    with any_control.registry.engine.begin() as conn:
        assert claim_due(conn, later, limit=100, config=config) == []
        expired = claim_due(conn, now + timedelta(minutes=11), limit=100, config=config)
    assert len(expired) == 10


def test_two_claimers_never_claim_one_due_time_twice(any_control: Control) -> None:
    now = now_s()
    _seed(any_control, 300, due=now - timedelta(minutes=1), interval=1)  # 1,500 due rows
    taken: list[list[int]] = [[] for _ in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def claimer(slot: int) -> None:
        try:
            barrier.wait()
            while True:
                # As the tick claims: a deadlock victim (InnoDB) claims again.
                batch = in_claim_transaction(
                    any_control.registry.engine, lambda conn: claim_due(conn, now, limit=40))
                if not batch:
                    return
                taken[slot].extend(c.id for c in batch)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    every = [row_id for ids in taken for row_id in ids]
    assert len(every) == 1500 and len(set(every)) == 1500
    if any_control.url.startswith("postgresql"):
        assert sum(1 for ids in taken if ids) >= 2  # SKIP LOCKED let them work side by side


def test_refresh_cadence_spreads_tenants(any_control: Control) -> None:
    now = now_s().replace(second=0)
    config = ScheduleConfig(refresh_minutes=3)
    _seed(any_control, 36, due=now)
    with any_control.registry.engine.begin() as conn:
        conn.execute(update(tenants).values(settings_due_at=None))  # never read yet
        assert len(claim_refreshes(conn, now, limit=1000, config=config)) == 36
        per_slot = [
            len(claim_refreshes(conn, now + timedelta(seconds=SLOT_SECONDS * k), limit=1000,
                                config=config))
            for k in range(1, 13)
        ]
    # 3 minutes are 12 slots: a twelfth of the tenants in each, each tenant once.
    assert per_slot == [3] * 12


def test_the_claim_moves_rows_to_the_slot_python_computes(any_control: Control) -> None:
    """next_slot_sql is next_slot on every dialect: intervals that divide an hour and ones that
    do not, every offset, from a moment in the middle of a slot."""
    now = datetime(2026, 3, 1, 10, 7, 41)
    _seed(any_control, 40, due=now - timedelta(minutes=1), interval=1)
    intervals = (1, 2, 5, 7, 60)
    with any_control.registry.engine.begin() as conn:
        for row in conn.execute(select(schedules.c.id, schedules.c.tenant_id)).all():
            interval = intervals[row.id % len(intervals)]
            conn.execute(update(schedules).where(schedules.c.id == row.id).values(
                interval_minutes=interval, slot_offset=offset_for(row.tenant_id, interval)))
        assert len(claim_due(conn, now, limit=1000)) == 200
    with any_control.registry.engine.connect() as conn:
        rows = conn.execute(select(schedules)).all()
    assert {r.interval_minutes for r in rows} == set(intervals)
    for row in rows:
        assert row.next_due_at == next_slot(now, row.interval_minutes, row.slot_offset), row


def test_settings_changes_reach_the_schedule(control: Control) -> None:
    tenant, erp = control.add_tenant("shop")
    reg = control.registry
    now = now_s()
    refresh_tenant(reg, tenant.id, now=now)

    set_integration(erp, auto_sync=False)
    refresh_tenant(reg, tenant.id, now=now)
    assert not any(r.enabled for r in _rows(control, tenant.id).values())

    set_integration(erp, auto_sync=True)
    later = now + timedelta(minutes=7)
    with reg.engine.begin() as conn:
        conn.execute(update(schedules).values(next_due_at=later + timedelta(hours=1)))
    refresh_tenant(reg, tenant.id, now=later)
    rows = _rows(control, tenant.id)
    assert rows["import_orders"].enabled and rows["import_orders"].next_due_at == later

    with reg.engine.begin() as conn:  # pretend it ran; an interval of 60 minutes
        conn.execute(update(schedules).values(next_due_at=later + timedelta(hours=1),
                                              last_finished_at=later, interval_minutes=60))
    refresh_tenant(reg, tenant.id, now=later)  # back to 1 minute in the ERP: applies at once
    assert (_rows(control, tenant.id)["import_orders"].next_due_at
            == next_slot(later, 1, offset_for(tenant.id, 1)))

    set_operation(erp, "import_products", enabled=True)  # + export_products: the conflict
    refresh_tenant(reg, tenant.id, now=later)
    rows = _rows(control, tenant.id)
    for op in ("import_products", "export_products"):
        assert not rows[op].enabled and rows[op].blocked_reason == CONFLICT
    assert rows["import_orders"].enabled
    refresh_tenant(reg, tenant.id, now=later + timedelta(minutes=3))  # still there: again
    with erp.connect() as conn:
        events = conn.execute(select(sync_events).where(sync_events.c.kind == "config_error")).all()
    assert len(events) == 2 and all(CONFLICT in e.message for e in events)

    reg.set_active("shop", False)
    with reg.engine.begin() as conn:
        assert disable_inactive_tenants(conn) >= 1
        assert conn.execute(select(tenants.c.settings_due_at)).scalar() is None
    assert not any(r.enabled for r in _rows(control, tenant.id).values())


def test_removed_integration_loses_its_rows(control: Control) -> None:
    tenant, erp = control.add_tenant("shop")
    refresh_tenant(control.registry, tenant.id)
    from sqlalchemy import delete

    from shared.erp import schema as erp_schema

    with erp.begin() as conn:  # the integration is deleted in the ERP
        for table in (erp_schema.shop_integration_operations, erp_schema.shop_integration_labels,
                      erp_schema.shop_integration_warehouses, erp_schema.shop_status_map,
                      erp_schema.shop_integrations):
            conn.execute(delete(table))
    counts = refresh_tenant(control.registry, tenant.id)
    assert counts is not None and counts.deleted == 5
    with control.registry.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schedules)).scalar() == 0


def test_sql_server_claim_compiles() -> None:
    pytest.importorskip("pyodbc")
    from sqlalchemy.dialects.mssql import pyodbc as mssql_pyodbc

    now = now_s()
    s = schedules
    stmt = claim_statement(
        "mssql", s, s.c.next_due_at <= now,
        [(s.c.queued_due_at, s.c.next_due_at), (s.c.queued_at, now),
         (s.c.next_due_at, next_slot_sql(now, s.c.interval_minutes, s.c.slot_offset))],
        [s.c.id, s.c.queued_due_at], order_by=s.c.next_due_at, limit=500,
    )
    for dialect in (mssql_pyodbc.dialect(), mssql.dialect()):
        sql = re.sub(r":\w+", "?", " ".join(str(stmt.compile(dialect=dialect)).split()))
        assert sql.startswith(
            "UPDATE TOP (500) schedules WITH (UPDLOCK, READPAST, ROWLOCK) "
            "SET queued_due_at=schedules.next_due_at, queued_at=?, next_due_at=DATEADD(second, "
            "(schedules.interval_minutes * ? - (? - schedules.slot_offset) "
            "% (schedules.interval_minutes * ?)) * ?, ?) "
            "OUTPUT inserted.id, inserted.queued_due_at WHERE schedules.next_due_at <= ?"
        ), sql
    assert epoch_slot(now) > 0


class _FlakyBroker:
    """Takes `ok` messages, then fails like a broker that went away."""

    def __init__(self, ok: int) -> None:
        self.ok, self.sent = ok, []

    def enqueue(self, message: object) -> object:
        if len(self.sent) >= self.ok:
            raise ConnectionError("connection refused")
        self.sent.append(message)
        return message


def test_tick_makes_unpublished_rows_due_again(control: Control) -> None:
    from producers.tick import run_tick

    now = now_s()
    _seed(control, 4, due=now - timedelta(minutes=2), interval=1)  # 20 due rows
    broker = _FlakyBroker(ok=7)
    report = run_tick(control.registry, broker, now=now, config=ScheduleConfig(claim_batch=5))
    assert report.error and "released" in report.error
    # The second batch broke after 2; the third, claimed while the second was in flight, is
    # released whole, and no fourth is claimed.
    assert (report.claimed, len(broker.sent)) == (15, 7)
    with control.registry.engine.connect() as conn:
        rows = conn.execute(select(schedules)).all()
    queued = [r for r in rows if r.queued_at is not None]
    assert len(queued) == 7  # exactly the published ones
    assert all(r.next_due_at == now - timedelta(minutes=2) for r in rows if r.queued_at is None)
    report = run_tick(control.registry, _FlakyBroker(ok=100), now=now)
    assert report.claimed == report.published == 13 and report.error is None
    args = [m.args for m in broker.sent]  # ids and the due time only: nothing secret
    assert all(len(a) == 4 and isinstance(a[0], int) and isinstance(a[1], int) for a in args)


class _Clock:
    """The tick's clock and its wait: waiting moves time on (`late` seconds more than asked,
    once), and answers `stop_after` waits with "the worker is stopping"."""

    def __init__(self, start: datetime, *, late: float = 0, stop_after: int | None = None):
        self.now, self.late, self.stop_after, self.waits = start, late, stop_after, 0

    def __call__(self) -> datetime:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits += 1
        if self.stop_after is not None and self.waits > self.stop_after:
            return True
        self.now += timedelta(seconds=seconds + self.late)
        self.late = 0
        return False


def _minute_of_slots(control: Control) -> datetime:
    """8 tenants every minute, 2 on each quarter of the minute 10:00 (5 rows each)."""
    minute = datetime(2026, 3, 1, 10, 0)
    _seed(control, 8, due=minute, interval=1)
    with control.registry.engine.begin() as conn:
        for tenant in range(1, 9):
            conn.execute(update(schedules).where(schedules.c.tenant_id == tenant).values(
                next_due_at=next_slot(minute - timedelta(seconds=1), 1, offset_for(tenant, 1))))
    return minute


@pytest.mark.parametrize(("start", "late", "passes"), [
    (2, 0, [(2, 10), (15, 10), (30, 10), (45, 10)]),  # on time: one pass per slot
    (20, 0, [(20, 20), (30, 10), (45, 10)]),  # a late tick: its first pass serves :15 too
    (2, 16, [(2, 10), (31, 20), (45, 10)]),  # a slow pass: the next serves the slot it missed
    (50, 0, [(50, 40)]),  # after the last slot began: one pass, the next tick goes on
])
def test_a_tick_serves_each_slot_of_its_minute(
    control: Control, start: int, late: float, passes: list[tuple[int, int]],
) -> None:
    minute = _minute_of_slots(control)
    clock = _Clock(minute + timedelta(seconds=start), late=late)
    broker = _FlakyBroker(ok=1000)
    reports = run_minute(control.registry, broker, wait=clock.wait, clock=clock)
    assert [((r.at - minute).seconds, r.published) for r in reports] == passes
    assert len(broker.sent) == 40 and all(r.error is None for r in reports)
    with control.registry.engine.connect() as conn:  # each row once, due again next minute
        assert all(r.next_due_at > minute + timedelta(minutes=1) - timedelta(seconds=1)
                   for r in conn.execute(select(schedules)))


def test_a_stopping_worker_ends_the_ticks_minute(control: Control) -> None:
    minute = _minute_of_slots(control)
    clock = _Clock(minute + timedelta(seconds=2), stop_after=1)
    reports = run_minute(control.registry, _FlakyBroker(ok=1000), wait=clock.wait, clock=clock)
    assert [r.published for r in reports] == [10, 10]  # the rest waits for the next tick
    with control.registry.engine.connect() as conn:
        due = conn.execute(select(func.count()).select_from(schedules).where(
            schedules.c.queued_at.is_(None))).scalar()
    assert due == 20


def test_of_two_ticks_of_one_minute_only_the_first_stays_for_its_slots(control: Control) -> None:
    """Two producers send two ticks a minute: the second makes its first pass and frees its
    thread (the settings refreshes need it), the first serves the minute's later slots."""
    minute = _minute_of_slots(control)
    first, second = (_Clock(minute + timedelta(seconds=2)) for _ in range(2))
    broker = _FlakyBroker(ok=1000)
    serving = run_minute(control.registry, broker, wait=first.wait, clock=first)
    duplicate = run_minute(control.registry, broker, wait=second.wait, clock=second)
    assert [r.published for r in serving] == [10, 10, 10, 10]
    assert [r.published for r in duplicate] == [0] and second.waits == 0  # no thread held
    later = _Clock(minute + timedelta(minutes=1, seconds=1))  # the next minute is claimed anew
    assert len(run_minute(control.registry, broker, wait=later.wait, clock=later)) == 4


def test_rows_written_with_minute_offsets_take_their_slot_at_the_next_refresh(
    control: Control,
) -> None:
    """A schedule written by a version with whole-minute slots (offset = tenant id % minutes,
    which for most ids is not this version's offset) needs no migration: the next settings
    refresh gives each row its slot, and never pushes a row later than it was due."""
    tenant, _ = control.add_tenant("shop", operations={"import_orders": (True, 5)})
    now = now_s()
    refresh_tenant(control.registry, tenant.id, now=now)
    old_due = now + timedelta(minutes=4)
    with control.registry.engine.begin() as conn:  # as the old version left it, idle
        conn.execute(update(schedules).values(
            slot_offset=(offset_for(tenant.id, 5) + 7) % 20, next_due_at=old_due,
            last_finished_at=now))
    refresh_tenant(control.registry, tenant.id, now=now + timedelta(seconds=30))
    row = _rows(control, tenant.id)["import_orders"]
    assert row.slot_offset == offset_for(tenant.id, 5)
    assert row.next_due_at == min(old_due, next_slot(now, 5, offset_for(tenant.id, 5)))
