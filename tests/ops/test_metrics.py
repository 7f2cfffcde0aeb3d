"""Prometheus metrics: scraped from the port after real runs, a tick, a lease takeover, and from
a real `iluo-sync worker` group whose processes share one multiprocess directory."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.control.refresh import refresh_tenant
from shared.control.schedule import now_s
from shared.telemetry.metrics import start_metrics, stop_metrics
from tests.ops.conftest import StubWorker, due_job, free_port, set_row
from tests.service.conftest import CK, CS, ILUO_SYNC, Control, Proc, wait_for
from workers.domain import Operation


def samples(text: str) -> dict[str, float]:
    """`name{labels}` → value, labels as written (sorted by the client already)."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            found[key] = float(value)
    return found


def scrape(port: int) -> dict[str, float]:
    return samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)


@pytest.fixture
def metrics_port() -> Iterator[int]:
    port = free_port()
    assert start_metrics(port, "127.0.0.1")
    yield port
    stop_metrics()


def test_runs_shop_calls_messages_tick_and_takeovers_are_scraped(
    control: Control, shop: Any, stub_worker: Any, metrics_port: int,
) -> None:
    tenant, erp = control.add_tenant("shop-m", base_url=shop.base_url, api_key=CK,
                                     api_secret=CS, products=3)
    refresh_tenant(control.registry, tenant.id)
    before = scrape(metrics_port)
    worker: StubWorker = stub_worker()
    worker.sync_actor("catalog")
    shop.faults.retry_after = 0
    shop.faults.fail_next(1, 429)  # one throttled call, retried at once by ShopHttp

    worker.run("catalog", *due_job(control, Operation.EXPORT_PRODUCTS).args())

    # A failing row and an expired lease: the tick's gauge and the engine's takeover counter.
    set_row(control, Operation.IMPORT_ORDERS, consecutive_failures=2)
    from workers.engine import leases

    leases.acquire(erp, 1, "orders", "dead-worker", ttl=timedelta(seconds=-1))
    leases.release(erp, leases.acquire(erp, 1, "orders", "live-worker"))
    from dramatiq.brokers.stub import StubBroker

    from producers.tick import run_tick
    from shared.broker import declare_queues
    from shared.jobs import QUEUES

    publisher = StubBroker()  # the tick only publishes; nothing here consumes
    declare_queues(publisher, QUEUES)
    run_tick(control.registry, publisher, now=now_s() + timedelta(minutes=5))

    after = scrape(metrics_port)

    def grew(key: str, by: float = 1) -> None:
        assert after.get(key, 0) - before.get(key, 0) >= by, (key, before.get(key), after.get(key))

    grew('iluo_sync_runs_total{operation="export_products",outcome="ok"}')
    grew('iluo_sync_run_duration_seconds_count{operation="export_products"}')
    grew('iluo_sync_items_total{kind="created",operation="export_products"}', 3)
    grew('iluo_sync_shop_api_calls_total{platform="woocommerce"}', 2)
    grew('iluo_sync_shop_api_throttled_total{platform="woocommerce"}')
    grew('iluo_sync_messages_total{queue="catalog",result="done"}')
    grew("iluo_sync_ticks_total")
    grew("iluo_sync_claimed_total")  # export_products again (the others are still queued)
    grew("iluo_sync_schedule_lag_seconds_count")
    grew("iluo_sync_schedule_lag_seconds_sum", 180)  # due a minute after the run, claimed at +5
    grew("iluo_sync_lease_takeovers_total")
    assert after["iluo_sync_consecutive_failures_max"] == 2


def test_a_worker_group_serves_all_its_processes_samples_on_one_port(
    control: Control, vhost: str, tmp_path: Path,
) -> None:
    port = free_port()
    folder = tmp_path / "prom"
    folder.mkdir()
    (folder / "counter_99999.db").write_bytes(b"left by an earlier group: not a valid file")
    env = control.env(ILUO_SYNC_BROKER_URL=vhost, ILUO_SYNC_METRICS_PORT=str(port),
                      ILUO_SYNC_METRICS_ADDR="127.0.0.1", PROMETHEUS_MULTIPROC_DIR=str(folder))
    proc = Proc("worker", [ILUO_SYNC, "worker", "--queues", "ticks", "--processes", "2",
                           "--threads", "1", "--shutdown-timeout", "5"], env, tmp_path)
    try:
        def served() -> Any:
            try:
                return scrape(port)
            except httpx.HTTPError:
                return None

        wait_for(served, 30, what="the metrics port")
        assert not (folder / "counter_99999.db").exists()  # emptied before the group started
        from shared.broker import build_broker
        from shared.jobs import refresh_message

        broker = build_broker(control.settings, url=vhost)
        sent = 0

        def both_processes_wrote() -> bool:
            # RabbitMQ shares messages between the two consumers only once both consume, which
            # on a busy machine may take a while: keep feeding until both have written samples.
            nonlocal sent
            for tenant_id in (998, 999):  # tenants that do not exist: the refresh does nothing
                broker.enqueue(refresh_message(tenant_id))
                sent += 1
            names = " ".join(p.name for p in folder.iterdir())
            return len({int(m) for m in re.findall(r"_(\d+)\.db", names)}) >= 2

        try:
            wait_for(both_processes_wrote, 60, every=0.5, what="samples from both processes")
        finally:
            broker.close()
        key = 'iluo_sync_messages_total{queue="settings",result="done"}'
        # One port serves the sum of both processes' samples.
        wait_for(lambda: (served() or {}).get(key) == sent, 30, what=f"{key} == {sent}")
    finally:
        if proc.running():
            proc.popen.send_signal(signal.SIGTERM)
            try:
                proc.popen.wait(20)
            except Exception:
                proc.kill()
        proc.close()
