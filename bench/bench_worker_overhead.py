"""A worker's overhead per run, with nothing to sync, against a bare dramatiq no-op actor.

    .venv/bin/python bench/bench_worker_overhead.py [--runs 300] [--threads 1 --threads 4]
        [--rounds 3] [--operation update_order_statuses|import_orders|update_stock]
        [--profile] [--json]

Same RabbitMQ (a private vhost, deleted afterwards), same broker and middleware as production,
same in-process dramatiq Worker, same run:
- no-op: a bare actor that returns at once — dramatiq's own cost per message (deliver, ack);
- sync:  sync messages for one operation of integrations with nothing to do, so all that is
  left is the service's own work per run: the tenant and its schedule row marked running, the
  report with the row's own settings (control DB), and in the tenant DB the settings, the lease
  with the run record, and the record's close with the lease's release (PostgreSQL: six
  statements in all). `update_order_statuses` (default) has no order to send and makes no
  shop call; `import_orders` asks its retry set for due items and
  makes its one shop call (a WooCommerce sandbox on 127.0.0.1 with no new order) and reads the
  retry-set summary; `update_stock` runs its safety valve's counting pass with nothing changed.
Messages are published before the worker starts; the clock runs from `Worker.start()` until the
last message has been processed. Control and tenant databases are PostgreSQL on 127.0.0.1.

`--profile` runs the same idle runs once more, in this thread under cProfile, and prints the
statements per run (SQLAlchemy events, per database) and the profile's top lines.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dramatiq
from cryptography.fernet import Fernet
from dramatiq import Middleware, Worker
from sqlalchemy import create_engine, event, insert, text, update

from producers.tick import publish_due
from shared.control.refresh import refresh_tenant
from shared.control.registry import Registry
from shared.control.runtime import use_registry
from shared.control.schedule import ScheduleConfig, now_s
from shared.control.tables import schedules
from shared.db import make_engine
from shared.erp import schema as erp
from shared.erp.demo import create_erp_schema, fill_demo
from shared.jobs import SYNC_ACTORS
from shared.redact import quiet_libraries
from shared.settings import Settings
from workers.broker import build_broker
from workers.shops.woocommerce.sandbox import WooCommerceSandbox

RABBIT = "amqp://guest:guest@127.0.0.1:5672/"
KEY, SECRET = "ck_bench", "cs_bench"
QUEUE_OF = {"update_order_statuses": "orders", "import_orders": "orders",
            "update_stock": "stock"}
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"


@dataclass
class Result:
    threads: int
    runs: int
    noop_s: float
    sync_s: float
    engine_s: float  # time inside run_operation, summed over threads

    @property
    def noop_ms(self) -> float:
        return 1000 * self.noop_s / self.runs

    @property
    def sync_ms(self) -> float:
        return 1000 * self.sync_s / self.runs

    @property
    def ratio(self) -> float:
        return self.sync_s / self.noop_s


class Done(Middleware):
    """Counts processed messages per actor, so the bench knows when the last one is through."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.cond = threading.Condition()

    def after_process_message(self, broker: Any, message: Any, *, result: Any = None,
                              exception: Any = None) -> None:
        with self.cond:
            self.counts[message.actor_name] = self.counts.get(message.actor_name, 0) + 1
            self.cond.notify_all()

    def wait(self, actor: str, count: int, timeout: float = 600) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: self.counts.get(actor, 0) >= count, timeout):
                raise TimeoutError(f"{actor}: {self.counts.get(actor, 0)} of {count} processed")


def database(name: str) -> str:
    with create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return PG + name


def drop(name: str) -> None:
    with create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def tenant_erp(url: str, integrations: int, operation: str, base_url: str) -> None:
    """One ERP with `integrations` shop integrations, each with only `operation` on (every
    minute) and a status map, and no imported order: nothing to send, nothing new to import."""
    engine = make_engine(url)
    create_erp_schema(engine)
    fill_demo(engine, products=5, operations={operation: (True, 1)}, base_url=base_url,
              api_key=KEY, api_secret=SECRET)
    now = now_s()
    with engine.begin() as conn:
        conn.execute(insert(erp.shop_integrations), [dict(
            id=i, name=f"Sklep {i}", platform="woocommerce", base_url=base_url,
            api_key=KEY, api_secret=SECRET, is_active=True, auto_sync=True,
            shop_timezone="Europe/Warsaw", orders_since=None, updated_at=now,
        ) for i in range(2, integrations + 1)])
        conn.execute(insert(erp.shop_integration_operations), [
            dict(integration_id=i, operation=operation, enabled=True,
                 interval_minutes=1) for i in range(2, integrations + 1)])
        conn.execute(insert(erp.shop_status_map), [
            dict(integration_id=i, erp_status_id=1, shop_status="pending")
            for i in range(2, integrations + 1)])
    engine.dispose()


def _stop(broker: Any, worker: Worker) -> None:
    """Stop a worker and take its hook off the broker, so the next one starts clean."""
    from dramatiq.worker import _WorkerMiddleware

    worker.stop()
    broker.middleware = [m for m in broker.middleware if not isinstance(m, _WorkerMiddleware)]


def measure(broker: Any, done: Done, registry: Registry, runs: int, threads: int,
            operation: str) -> Result:
    import workers.runner as runner

    noop = broker.actors["bench_noop"]
    for _ in range(runs):
        noop.send()
    worker = Worker(broker, worker_threads=threads, queues={"bench_noop"})
    worker.queue_prefetch = threads
    base = done.counts.get("bench_noop", 0)
    started = time.perf_counter()
    worker.start()
    done.wait("bench_noop", base + runs)
    noop_s = time.perf_counter() - started
    _stop(broker, worker)

    # Make every integration's row due and let the tick claim and publish them.
    with registry.engine.begin() as conn:
        conn.execute(update(schedules).values(next_due_at=now_s(), queued_at=None,
                                              queued_due_at=None))
    claimed, published = publish_due(registry.engine, broker, now_s(), ScheduleConfig())
    assert claimed == published == runs, (claimed, published, runs)

    inside = [0.0]
    lock = threading.Lock()
    real_run = runner.run_operation

    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            result = real_run(*args, **kwargs)
        finally:
            with lock:
                inside[0] += time.perf_counter() - began
        if result.outcome != "ok":
            raise RuntimeError(f"a bench run did not succeed: {result.outcome} {result.error}")
        return result

    runner.run_operation = timed
    queue = QUEUE_OF[operation]
    worker = Worker(broker, worker_threads=threads, queues={queue})
    worker.queue_prefetch = threads
    base = done.counts.get(SYNC_ACTORS[queue], 0)
    started = time.perf_counter()
    worker.start()
    done.wait(SYNC_ACTORS[queue], base + runs)
    sync_s = time.perf_counter() - started
    _stop(broker, worker)
    runner.run_operation = real_run
    return Result(threads, runs, noop_s, sync_s, inside[0])


def profile(registry: Registry, tenant_id: int, runs: int, operation: str) -> None:
    """The idle runs again, in this thread: statements per run, then cProfile's top lines."""
    from workers.actors import process_sync
    from workers.middleware.graceful_stop import stopping

    stopping.clear()  # set by the bench's last Worker.stop(); these runs have no worker
    tenant = registry.get_by_id(tenant_id)
    assert tenant is not None
    engines = {"control": registry.engine, "tenant": registry.tenant_engine(tenant)}
    statements: Counter[str] = Counter()
    shown: list[str] = []

    def counter(name: str) -> Any:
        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements[name] += 1
            shown.append(f"  {name:<8}{' '.join(statement.split())[:100]}")
        return count

    def queue_all() -> str:
        due = now_s()
        with registry.engine.begin() as conn:
            conn.execute(update(schedules).values(queued_at=due, queued_due_at=due))
        return due.isoformat()

    due = queue_all()
    process_sync(tenant_id, 1, operation, due)  # warm: settings, engines, the lease row
    due = queue_all()
    listeners = [(engine, counter(name)) for name, engine in engines.items()]
    for engine, listener in listeners:
        event.listen(engine, "before_cursor_execute", listener)
    outcome = process_sync(tenant_id, 2, operation, due)
    for engine, listener in listeners:
        event.remove(engine, "before_cursor_execute", listener)
    print(f"statements in one idle {operation} run ({outcome}): "
          + ", ".join(f"{n} {c}" for n, c in statements.items())
          + f" (total {sum(statements.values())})")
    print("\n".join(shown))
    prof = cProfile.Profile()
    due = queue_all()
    started = time.perf_counter()
    prof.enable()
    for integration in range(1, runs + 1):
        process_sync(tenant_id, integration, operation, due)
    prof.disable()
    print(f"{1000 * (time.perf_counter() - started) / runs:.1f} ms per run under cProfile")
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_stats(18)
    stats.sort_stats("tottime").print_stats(12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--threads", type=int, action="append")
    parser.add_argument("--operation", choices=sorted(QUEUE_OF), default="update_order_statuses")
    parser.add_argument("--rounds", type=int, default=3,
                        help="no-op/sync pairs per thread count (the machine is noisy)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    quiet_libraries()
    # The shop of every integration: an idle import_orders makes its one call here.
    shop = WooCommerceSandbox(KEY, SECRET).serve("127.0.0.1", 0)
    name = f"iluo_bench_{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*",
                    ".*"], check=True, capture_output=True)
    control_url, erp_url = database(name + "_c"), database(name + "_t")
    settings = Settings(control_db=control_url, secret_key=Fernet.generate_key().decode())
    registry = Registry(settings)
    use_registry(registry)
    broker = build_broker(settings, url=RABBIT + name)
    dramatiq.set_broker(broker)
    done = Done()
    broker.add_middleware(done)
    import workers.actors  # noqa: F401  (the real sync actors, on this broker)

    dramatiq.actor(lambda: None, broker=broker, actor_name="bench_noop", queue_name="bench_noop")
    results = []
    try:
        tenant_erp(erp_url, args.runs, args.operation, shop.base_url)
        tenant = registry.add("bench", erp_url)
        refresh_tenant(registry, tenant.id)
        # A first, unreported round: each integration's first run creates its lease row and
        # warms the caches, which later runs never pay again.
        measure(broker, done, registry, args.runs, 1, args.operation)
        results.extend(measure(broker, done, registry, args.runs, threads, args.operation)
                       for _ in range(args.rounds) for threads in args.threads or [1, 4])
        if args.profile:
            profile(registry, tenant.id, args.runs, args.operation)
    finally:
        shop.stop()
        broker.close()
        registry.close()
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True)
        drop(name + "_c")
        drop(name + "_t")
    if args.json:
        print(json.dumps([asdict(r) | {"ratio": r.ratio} for r in results], indent=2))
        return
    print(f"{args.operation}, nothing to do:")
    print(f"{'threads':>7} {'runs':>5} {'no-op actor':>14} {'sync run, nothing to sync':>27} "
          f"{'of which engine':>16} {'ratio':>7}")
    for r in results:
        engine_ms = 1000 * r.engine_s / r.runs
        print(f"{r.threads:>7} {r.runs:>5} {r.noop_ms:>9.2f} ms/m {r.sync_ms:>20.2f} ms/run "
              f"{engine_ms:>11.2f} ms {r.ratio:>7.1f}")
    for threads in sorted({r.threads for r in results}):
        ratios = sorted(r.ratio for r in results if r.threads == threads)
        print(f"threads {threads}: median ratio {statistics.median(ratios):.1f} "
              f"over {len(ratios)} rounds (min {ratios[0]:.1f}, max {ratios[-1]:.1f})")
    print("ms per message/run = wall time / messages (with more threads, runs overlap); "
          "'of which engine' = time inside run_operation per run, summed over threads; "
          "each round measures the no-op actor and then the sync runs, back to back")


if __name__ == "__main__":
    main()
