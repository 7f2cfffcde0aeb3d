"""`iluo-sync demo`: the whole service in one process, with nothing else running.

The same actors, tick and middleware as in production, on dramatiq's in-process StubBroker
with a Worker thread pool; a clock thread instead of periodiq (first tick at once, then on
every minute); SQLite control and ERP databases with demo data in ./demo/; the WooCommerce
sandbox on a free 127.0.0.1 port, where a "customer" places a new order now and then; and a
live table of runs on the terminal.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from shared.db import make_engine
from shared.erp.demo import create_erp_schema, fill_demo

log = logging.getLogger(__name__)

TENANT = "demo"
CONSUMER_KEY, CONSUMER_SECRET = "ck_demo", "cs_demo"


@dataclass(frozen=True, slots=True)
class DemoOptions:
    folder: Path = Path("demo")
    minutes: float | None = None  # None: until Ctrl-C
    interval: int = 1  # minutes, every operation
    threads: int = 4
    orders: int = 12  # orders already in the shop
    new_order_every: float = 40.0  # seconds between the demo customer's new orders (0: none)


def demo_operations(interval: int) -> dict[str, tuple[bool, int]]:
    """Every operation every `interval` minutes, except product import (it would conflict)."""
    return {
        "import_orders": (True, interval),
        "update_order_statuses": (True, interval),
        "export_products": (True, interval),
        "import_products": (False, interval),
        "update_stock": (True, interval),
    }


def run_demo(options: DemoOptions, console: Console) -> int:
    folder = options.folder.resolve()
    _fresh_folder(folder)
    control_url = f"sqlite:///{folder / 'control.db'}"
    erp_url = f"sqlite:///{folder / 'erp.db'}"
    # Everything in this process (actors and middleware included) uses the demo's control DB.
    os.environ["ILUO_SYNC_CONTROL_DB"] = control_url
    from shared.settings import get_settings

    get_settings.cache_clear()

    from workers.shops.woocommerce.sandbox import WooCommerceSandbox

    sandbox = WooCommerceSandbox(CONSUMER_KEY, CONSUMER_SECRET, site_timezone="Europe/Warsaw")
    handle = sandbox.serve("127.0.0.1", 0)
    signal.signal(signal.SIGTERM, _interrupt)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    worker = broker = registry = None
    summary: str | None = None
    try:
        _seed_erp(erp_url, handle.base_url, options.interval)
        _seed_orders(sandbox, options.orders)
        registry = _registry(erp_url)
        broker, worker = _start_worker(options.threads)
        console.print(
            f"[bold]iluo-sync demo[/]: WooCommerce sandbox at {handle.base_url}, ERP and control "
            f"databases in {folder}/, every operation every {options.interval} min"
            + (f", stopping after {options.minutes:g} min" if options.minutes
               else ", Ctrl-C to stop")
        )
        from producers.clock import tick

        threads.append(_thread("demo-clock", _clock, tick, stop))
        if options.new_order_every > 0:
            threads.append(
                _thread("demo-customer", _customer, sandbox, options.new_order_every, stop)
            )
        from producers.live_table import LiveRuns

        deadline = time.monotonic() + options.minutes * 60 if options.minutes else None
        live = LiveRuns(registry, TENANT, console)
        try:
            with live:
                while deadline is None or time.monotonic() < deadline:
                    live.update()
                    time.sleep(1.0)
                live.update()
        except KeyboardInterrupt:
            pass  # Ctrl-C (or SIGTERM): stop as cleanly as at the deadline
        summary = live.summary()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
        if worker is not None:
            worker.stop(timeout=30_000)
        if broker is not None:
            broker.close()
        handle.stop()
        if registry is not None:
            registry.close()
    if summary:
        console.print(summary)
    console.print(
        f"The demo's history stays in {folder}/: ILUO_SYNC_CONTROL_DB={control_url} "
        f"iluo-sync events {TENANT}"
    )
    return 0


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _fresh_folder(folder: Path) -> None:
    """Each demo starts from fresh data (the sandbox's ids are new each time)."""
    folder.mkdir(parents=True, exist_ok=True)
    for pattern in ("control.db*", "erp.db*"):
        for path in folder.glob(pattern):
            path.unlink()


def _seed_erp(erp_url: str, shop_url: str, interval: int) -> None:
    engine = make_engine(erp_url)
    try:
        create_erp_schema(engine)
        fill_demo(engine, base_url=shop_url, api_key=CONSUMER_KEY, api_secret=CONSUMER_SECRET,
                  operations=demo_operations(interval))
    finally:
        engine.dispose()


def _registry(erp_url: str) -> Any:
    from shared.control.registry import Registry
    from shared.control.runtime import use_registry

    registry = Registry()
    registry.add(TENANT, erp_url)
    use_registry(registry)
    return registry


def _start_worker(threads: int) -> tuple[Any, Any]:
    import dramatiq
    from dramatiq import Worker

    from shared.broker import build_stub_broker

    broker = build_stub_broker()
    dramatiq.set_broker(broker)
    # Declared now, on the stub broker (their modules bind to the global broker on import).
    import producers.clock  # noqa: F401
    import workers.actors  # noqa: F401

    worker = Worker(broker, worker_threads=threads)
    worker.queue_prefetch = threads  # as `dramatiq_queue_prefetch` does for real workers
    worker.start()
    return broker, worker


def _thread(name: str, target: Any, *args: Any) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread


def _clock(tick: Any, stop: threading.Event) -> None:
    """periodiq's job in the demo: a tick at once, then one on every minute."""
    while not stop.is_set():
        tick.send()
        now = time.time()
        stop.wait(60 - now % 60 + 0.5)


# -- the shop's side -----------------------------------------------------------------------------

_SKUS = [f"DEMO-{n:04d}" for n in range(1, 41) if n % 10 != 0]


def _seed_orders(sandbox: Any, count: int) -> None:
    rnd = random.Random(11)
    now = datetime.now(UTC)
    for _ in range(count):
        created = now - timedelta(days=rnd.randint(0, 20), minutes=rnd.randint(0, 1440))
        sandbox.add_order(_lines(rnd), status=rnd.choice(["processing", "pending", "completed"]),
                          created=created, modified=created + timedelta(minutes=5))


def _customer(sandbox: Any, every: float, stop: threading.Event) -> None:
    """Somebody buys something now and then, so the next import has work to do."""
    rnd = random.Random()
    while not stop.wait(every):
        try:
            sandbox.add_order(_lines(rnd), status="processing")
        except Exception:  # the demo must not die because of its pretend customer
            log.warning("demo customer could not place an order", exc_info=True)


def _lines(rnd: random.Random) -> list[tuple[str, int, str]]:
    return [(sku, rnd.randint(1, 3), f"{rnd.randint(900, 19900) / 100:.2f}")
            for sku in rnd.sample(_SKUS, k=rnd.randint(1, 3))]
