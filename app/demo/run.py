"""`iluo-sync demo`: the whole service in one process, with nothing else running.

The same actors, tick and middleware as in production, on dramatiq's in-process StubBroker
with a Worker thread pool; a clock thread instead of periodiq (first tick at once, then on
every minute); SQLite control and ERP databases with demo data in ./demo/; the WooCommerce
sandbox on a free 127.0.0.1 port, where a "customer" places a new order now and then; and a
live table of runs on the terminal.
"""

from __future__ import annotations

import importlib
import logging
import os
import random
import secrets
import shlex
import shutil
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import dramatiq
import orjson
import uvicorn
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker
from rich.console import Console

from app.console.accounts import add_user
from app.console.web import create_app
from app.demo.live_table import LiveRuns
from shared.control.registry import Registry
from shared.control.runtime import use_registry
from shared.control.schedule import now_s
from shared.db import make_engine
from shared.erp.demo import create_erp_schema, fill_demo
from shared.jobs import TICK_ACTOR
from shared.settings import get_settings
from workers.broker import build_stub_broker
from workers.shops.sandbox import SandboxRequest, SandboxResponse, json_response
from workers.shops.woocommerce.sandbox import WooCommerceSandbox

log = logging.getLogger(__name__)

TENANT = "demo"
CONSUMER_KEY, CONSUMER_SECRET = "ck_demo", "cs_demo"
#: The actors' modules, imported once the demo's broker exists (as a worker's command line does).
ACTOR_MODULES = ("producers.clock", "workers.actors")
#: The console's account in the demo (its password is made anew at each start).
DEMO_USER = "demo"
#: The demo shop's endpoint for a person at a terminal (see DemoShop).
ORDER_PATH = "/__sandbox/order"


@dataclass(frozen=True, slots=True)
class DemoOptions:
    folder: Path = Path("demo")
    minutes: float | None = None  # None: until Ctrl-C
    interval: int = 1  # minutes, every operation
    threads: int = 4
    orders: int = 12  # orders already in the shop
    new_order_every: float = 40.0  # seconds between the demo customer's new orders (0: none)
    console_port: int | None = 8080  # the web console's port (0: any free one; None: none)


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
    get_settings.cache_clear()

    sandbox = DemoShop(CONSUMER_KEY, CONSUMER_SECRET, site_timezone="Europe/Warsaw")
    handle = sandbox.serve("127.0.0.1", 0)
    signal.signal(signal.SIGTERM, _interrupt)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    worker: Worker | None = None
    broker: StubBroker | None = None
    registry: Registry | None = None
    web: WebConsole | None = None
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
        if options.console_port is not None:
            web, login = _start_console(registry, broker, options.console_port)
            console.print(f"Konfigurator (the web console): {web.url} — log in as "
                          f"{DEMO_USER} / {login} (made for this demo run)",
                          highlight=False, markup=False, soft_wrap=True)
        _print_hints(console, folder, handle.base_url, options.interval, options.new_order_every)
        threads.append(_thread("demo-clock", _clock, broker.get_actor(TICK_ACTOR), stop))
        if options.new_order_every > 0:
            threads.append(
                _thread("demo-customer", _customer, sandbox, options.new_order_every, stop)
            )
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
        if web is not None:
            web.stop()
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


class DemoShop(WooCommerceSandbox):
    """The demo's WooCommerce sandbox, plus one control endpoint for a person at a terminal:
    `POST /__sandbox/order` with `{"sku": "DEMO-0003", "quantity": 2}` places an order as a
    customer would. (The REST API itself wants OAuth 1.0a signatures over plain HTTP, with a
    fresh timestamp and nonce each time: no command that could be printed once would do.)"""

    def process(self, request: SandboxRequest) -> SandboxResponse:
        if request.method == "POST" and request.path.rstrip("/") == ORDER_PATH:
            return self._order_from_terminal(request.body)
        return super().process(request)

    def _order_from_terminal(self, body: bytes) -> SandboxResponse:
        try:
            data = orjson.loads(body or b"{}")
            sku = str(data["sku"])
            quantity = int(data.get("quantity", 1))
            price = Decimal(str(data["price"])) if "price" in data else self._price(sku)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError,
                InvalidOperation):
            return json_response(400, {"error": 'expected JSON {"sku": "DEMO-0003", '
                                                '"quantity": 2} (quantity and "price" optional)'})
        if quantity < 1:
            return json_response(400, {"error": "quantity must be 1 or more"})
        order = self.add_order([(sku, quantity, price)], status="processing")
        return json_response(201, {"id": order["id"], "number": order["number"],
                                   "status": order["status"], "total": order["total"]})

    def _price(self, sku: str) -> Decimal:
        """The shop's own price once the export has sent the product, else a made-up one."""
        with self.lock:
            for product in self.products.values():
                if product.get("sku") == sku and product.get("regular_price"):
                    return Decimal(str(product["regular_price"]))
        return Decimal("19.99")


def hints(folder: Path, shop_url: str, cwd: Path | None = None) -> list[tuple[str, str]]:
    """(what to try, the command) for the first screen; each command works as printed, typed in
    `cwd` (default: the current directory) while the demo runs."""
    cwd = cwd or Path.cwd()
    program = _program(cwd)
    erp_url = shlex.quote(f"sqlite:///{_shown(folder / 'erp.db', cwd)}")
    control_url = shlex.quote(f"sqlite:///{_shown(folder / 'control.db', cwd)}")
    order = orjson.dumps({"sku": "DEMO-0003", "quantity": 2}).decode()
    if shutil.which("curl"):
        place = f"curl -s -X POST {shop_url}{ORDER_PATH} -d {shlex.quote(order)}"
    else:  # a machine without curl still has the venv's httpx
        code = (f"import httpx; print(httpx.post({shop_url + ORDER_PATH!r}, "
                f"content={order!r}).text)")
        place = f"{shlex.quote(_shown(Path(sys.executable), cwd))} -c {shlex.quote(code)}"
    return [
        ("change a stock level in the ERP; the next update-stock run sends it (its upd count)",
         f"{program} erp set-stock {erp_url} DEMO-0001 7"),
        ("change a price in the ERP; the next export-products run sends it (its upd count)",
         f"{program} erp set-price {erp_url} DEMO-0002 49.99"),
        ("place an order in the shop; the next import-orders run brings it into the ERP (new)",
         place),
        ("open the event history (runs, item errors, alerts; add --errors for failures only)",
         f"ILUO_SYNC_CONTROL_DB={control_url} {program} events {TENANT}"),
    ]


def _print_hints(
    console: Console, folder: Path, shop_url: str, interval: int, new_order_every: float
) -> None:
    every = "once a minute" if interval == 1 else f"every {interval} minutes"
    customer = (f"; a pretend customer also orders every {new_order_every:g} s"
                if new_order_every > 0 else "")
    lines = [f"Try while it runs, in another terminal in {Path.cwd()}:"]
    for what, command in hints(folder, shop_url):
        lines += [f"  - {what}:", f"      {command}"]
    lines.append(f"Every operation runs {every}{customer}. "
                 "`iluo-sync demo --help` explains the parts.")
    for line in lines:
        # soft_wrap: no newline is ever inserted, so a command copies and pastes whole.
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def _program(cwd: Path) -> str:
    """How to call this installation's `iluo-sync` from `cwd`: by name when PATH finds it,
    else by its path (`.venv/bin/iluo-sync` after `make demo`)."""
    script = Path(sys.executable).parent / "iluo-sync"
    on_path = shutil.which("iluo-sync")
    if on_path and Path(on_path).resolve() == script.resolve():
        return "iluo-sync"
    return shlex.quote(_shown(script, cwd))


def _shown(path: Path, cwd: Path) -> str:
    """`path` relative to `cwd` when inside it (shorter to read and type), else absolute."""
    path = Path(os.path.abspath(path))
    try:
        return str(path.relative_to(Path(os.path.abspath(cwd))))
    except ValueError:
        return str(path)


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


def _registry(erp_url: str) -> Registry:
    registry = Registry()
    registry.add(TENANT, erp_url)
    use_registry(registry)
    return registry


def _start_worker(threads: int) -> tuple[StubBroker, Worker]:
    broker = build_stub_broker()
    dramatiq.set_broker(broker)
    # Declared now, on the stub broker (their modules bind to the global broker on import).
    for module in ACTOR_MODULES:
        importlib.import_module(module)

    worker = Worker(broker, worker_threads=threads)
    worker.queue_prefetch = threads  # as `dramatiq_queue_prefetch` does for real workers
    worker.start()
    return broker, worker


class WebConsole:
    """The console served by uvicorn on a thread of the demo's process (its Run now publishes
    on the demo's in-process broker)."""

    def __init__(self, registry: Registry, broker: StubBroker, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(
            create_app(registry, broker), host="127.0.0.1", port=port, log_level="warning"))
        self.url = f"http://127.0.0.1:{port}/"
        self.thread = _thread("demo-console", self.server.run)

    def wait_started(self, seconds: float = 30) -> bool:
        deadline = time.monotonic() + seconds
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        return bool(self.server.started)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _port(wanted: int) -> int:
    """`wanted` when it is free on 127.0.0.1, else any free port."""
    for port in (wanted, 0) if wanted else (0,):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free port for the console")


def _start_console(registry: Registry, broker: StubBroker, port: int) -> tuple[WebConsole, str]:
    """The console and a login made for this run (the demo's folder starts afresh each time,
    so the account is gone with it)."""
    password = secrets.token_urlsafe(9)
    with registry.engine.begin() as conn:
        add_user(conn, DEMO_USER, password, tenant_id=None, now=now_s())
    web = WebConsole(registry, broker, _port(port))
    if not web.wait_started():
        raise OSError(f"the console could not start on {web.url}")
    return web, password


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
