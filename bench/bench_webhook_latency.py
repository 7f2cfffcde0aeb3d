"""Order-to-ERP latency with webhooks, beside polling at a 1-minute interval, in one run.

    .venv/bin/python bench/bench_webhook_latency.py [--orders 15] [--gap 4] [--burst 100] [--json]

Real RabbitMQ (a private vhost, deleted afterwards), control and tenant databases on
PostgreSQL, an in-process dramatiq Worker with the real sync actors, the receiver under uvicorn
on 127.0.0.1, and a WooCommerce sandbox whose webhooks wait 1 s in its queue (Action
Scheduler's stand-in) and are registered with `webhooks register`. The schedule's next poll is
set far ahead, so only webhooks bring orders in.

- webhooks, our share: the shop's delivery sent → the order committed in the ERP;
- webhooks, end to end: the order placed in the sandbox → committed (includes the 1 s queue);
- polling at 1 minute, modelled: an order waits for the next slot (uniform over 0–60 s, seeded)
  plus a run, the run times drawn from the runs just measured — polling is not run for real,
  which would take minutes per sample and measure the same two terms;
- a burst: `--burst` orders placed within a second; how many import runs they caused.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.fernet import Fernet
from sqlalchemy import func, select

from app.webhooks.receiver import create_app
from app.webhooks.registration import register
from bench.bench_worker_overhead import RABBIT, database, drop
from shared.broker import build_broker as build_publisher
from shared.control.refresh import refresh_tenant
from shared.control.registry import Registry
from shared.control.runtime import use_registry
from shared.control.schedule import now_s
from shared.control.tables import schedules
from shared.db import make_engine
from shared.erp.demo import create_erp_schema, fill_demo
from shared.erp.schema import orders
from shared.erp.sync_tables import sync_runs
from shared.redact import quiet_libraries
from shared.settings import Settings
from tests.webhooks.harness import RealWorker, Served
from workers.shops.woocommerce.sandbox import WooCommerceSandbox

CK, CS = "ck_bench", "cs_bench"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def wait_for(what: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise TimeoutError("the order never reached the ERP")
        time.sleep(0.01)


def run(args: argparse.Namespace) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    vhost, control_name, tenant_name = f"bench_hooks_{tag}", f"bench_hooks_c_{tag}", \
        f"bench_hooks_t_{tag}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*",
                    ".*"], check=True, capture_output=True)
    settings = Settings(control_db=database(control_name),
                        secret_key=Fernet.generate_key().decode(), rabbitmq_api="")
    registry = Registry(settings)
    use_registry(registry)
    publisher = build_publisher(settings, url=RABBIT + vhost)
    shop = WooCommerceSandbox(CK, CS)
    shop.hooks.allow_local, shop.hooks.queue.delay = True, 1.0
    handle = shop.serve("127.0.0.1", 0)
    worker: RealWorker | None = None
    served: Served | None = None
    try:
        erp_url = database(tenant_name)
        erp = make_engine(erp_url)
        create_erp_schema(erp)
        fill_demo(erp, base_url=handle.base_url, api_key=CK, api_secret=CS, products=4)
        tenant = registry.add("bench", erp_url)
        refresh_tenant(registry, tenant.id)
        with registry.engine.begin() as conn:
            conn.execute(schedules.update().values(next_due_at=now_s().replace(year=2100)))
        worker = RealWorker.start(settings, RABBIT + vhost, threads=3)
        served = Served.start(create_app(registry, publisher))
        register(registry, tenant, 1, served.url, allow_local=True)

        def in_erp(order_id: int) -> bool:
            with erp.connect() as conn:
                return conn.execute(select(orders.c.id).where(
                    orders.c.external_id == str(order_id))).first() is not None

        ours, end_to_end = [], []
        for _ in range(args.orders):
            placed = time.time()
            order = shop.add_order([("DEMO-0001", 1, "19.99")])
            wait_for(partial(in_erp, order["id"]))
            landed = time.time()
            sent = min(d.sent_at for d in shop.hooks.deliveries
                       if json.loads(d.body)["id"] == order["id"])
            ours.append(landed - sent)
            end_to_end.append(landed - placed)
            time.sleep(args.gap)
        with erp.connect() as conn:
            durations = [(r.finished_at - r.started_at).total_seconds() for r in conn.execute(
                select(sync_runs).where(sync_runs.c.operation == "import_orders",
                                        sync_runs.c.finished_at.is_not(None)))]
            runs_before = conn.execute(select(func.count()).select_from(sync_runs)).scalar_one()
        rng = random.Random(1)
        polling = [rng.uniform(0, 60) + rng.choice(durations or [0.0]) for _ in range(1000)]

        burst = [shop.add_order([("DEMO-0001", 1, "9.99")])["id"]
                 for _ in range(args.burst)]
        wait_for(lambda: all(in_erp(i) for i in burst[-1:]) and all(map(in_erp, burst)), 180)
        time.sleep(5)  # a second run, if any, shows up
        with erp.connect() as conn:
            burst_runs = conn.execute(select(func.count()).select_from(sync_runs).where(
                sync_runs.c.operation == "import_orders")).scalar_one() - runs_before
        return {
            "orders": args.orders, "burst": args.burst, "burst_runs": burst_runs,
            "webhook_ours": {"p50": statistics.median(ours), "p95": pct(ours, 95)},
            "webhook_end_to_end": {"p50": statistics.median(end_to_end),
                                   "p95": pct(end_to_end, 95)},
            "polling_1min_modelled": {"p50": statistics.median(polling),
                                      "p95": pct(polling, 95)},
            "run_seconds_median": statistics.median(durations) if durations else None,
        }
    finally:
        if served is not None:
            served.stop()
        if worker is not None:
            worker.stop()
        handle.stop()
        publisher.close()
        use_registry(None)
        registry.close()
        drop(control_name)
        drop(tenant_name)
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)


def main() -> None:
    quiet_libraries()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=15)
    parser.add_argument("--gap", type=float, default=4.0, help="seconds between orders")
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    result = run(parser.parse_args())
    if parser.parse_args().json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'path':34} {'p50 s':>8} {'p95 s':>8}")
    for key, label in (("webhook_ours", "webhook: delivery → ERP"),
                       ("webhook_end_to_end", "webhook: placed → ERP (1 s queue)"),
                       ("polling_1min_modelled", "polling 1 min (modelled)")):
        print(f"{label:34} {result[key]['p50']:8.2f} {result[key]['p95']:8.2f}")
    print(f"burst of {result['burst']} orders in ~1 s: {result['burst_runs']} import run(s); "
          f"median run {result['run_seconds_median']:.2f} s")


if __name__ == "__main__":
    main()
