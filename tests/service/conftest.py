"""Fixtures for the service: control databases on every backend, tenants, a private RabbitMQ vhost.

Every RabbitMQ test gets its own vhost (tests/rabbit.py: made and deleted through the
management API), so queue names can stay the real ones and parallel test runs never see each
other's messages.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, select, update

from shared.control.registry import Registry, Tenant
from shared.control.runtime import use_registry
from shared.control.tables import schedules
from shared.db import make_engine
from shared.erp.demo import create_erp_schema, fill_demo
from shared.erp.retry_set import Summary
from shared.erp.schema import orders, shop_integration_operations, shop_integrations
from shared.settings import Settings
from tests.rabbit import RABBIT, private_vhost
from workers.domain import Operation

ROOT = Path(__file__).resolve().parents[2]
CK, CS = "ck_service_test", "cs_service_test"
PYTHON = sys.executable

# Intervals of one minute for every operation but product import (which would conflict).
ONE_MINUTE = {
    "import_orders": (True, 1),
    "update_order_statuses": (True, 1),
    "export_products": (True, 1),
    "import_products": (False, 1),
    "update_stock": (True, 1),
}


@dataclass
class Control:
    """A control database with its registry, and helpers to add tenants to it."""

    url: str
    settings: Settings
    registry: Registry
    make_database: Callable[[str], str]
    tenants: list[Tenant] = field(default_factory=list)
    engines: list[Engine] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a subprocess using this control DB."""
        env = dict(os.environ)
        env.update(
            ILUO_SYNC_CONTROL_DB=self.url,
            ILUO_SYNC_SECRET_KEY=self.settings.secret_key.get_secret_value(),  # type: ignore[union-attr]
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def add_tenant(
        self,
        name: str,
        *,
        backend: str = "sqlite",
        operations: dict[str, tuple[bool, int]] | None = None,
        base_url: str = "http://127.0.0.1:9",
        api_key: str = "ck_demo",
        api_secret: str = "cs_demo",
        products: int = 10,
    ) -> tuple[Tenant, Engine]:
        url = self.make_database(backend)
        engine = make_engine(url)
        create_erp_schema(engine)
        fill_demo(engine, base_url=base_url, api_key=api_key, api_secret=api_secret,
                  products=products, operations=operations or ONE_MINUTE)
        tenant = self.registry.add(name, url)
        self.tenants.append(tenant)
        self.engines.append(engine)
        return tenant, engine


def set_operation(engine: Engine, operation: str, *, enabled: bool | None = None,
                  interval: int | None = None) -> None:
    values: dict[str, Any] = {}
    if enabled is not None:
        values["enabled"] = enabled
    if interval is not None:
        values["interval_minutes"] = interval
    with engine.begin() as conn:
        conn.execute(update(shop_integration_operations)
                     .where(shop_integration_operations.c.operation == operation).values(**values))


def set_integration(engine: Engine, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(update(shop_integrations).values(**values))


def _control(url: str, make_database: Callable[[str], str]) -> Iterator[Control]:
    settings = Settings(control_db=url, secret_key=Fernet.generate_key().decode())
    registry = Registry(settings)
    control = Control(url, settings, registry, make_database)
    use_registry(registry)
    try:
        yield control
    finally:
        use_registry(None)
        registry.close()
        for engine in control.engines:
            engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def any_control(
    request: pytest.FixtureRequest, make_database: Callable[[str], str]
) -> Iterator[Control]:
    """A control DB on each backend the claim must work on."""
    yield from _control(make_database(request.param), make_database)


@pytest.fixture
def control(make_database: Callable[[str], str]) -> Iterator[Control]:
    """A SQLite control DB (file): fast, and what the demo uses."""
    yield from _control(make_database("sqlite"), make_database)


@pytest.fixture
def pg_control(make_database: Callable[[str], str]) -> Iterator[Control]:
    """A PostgreSQL control DB: what several processes share in the end-to-end tests."""
    yield from _control(make_database("postgresql"), make_database)


# -- RabbitMQ -------------------------------------------------------------------------------------


def rabbitmqctl(*args: str, check: bool = True) -> str:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)
    if check and done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@pytest.fixture
def vhost() -> Iterator[str]:
    """The AMQP URL of a fresh, private vhost."""
    with private_vhost("iluo_test") as name:
        yield f"{RABBIT}{name}"


def queue_depths(vhost_url: str) -> dict[str, int]:
    """Messages ready + unacknowledged per queue of a vhost."""
    name = vhost_url.rsplit("/", 1)[1]
    out = rabbitmqctl("list_queues", "-p", name, "name", "messages")
    depths = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            depths[parts[0]] = int(parts[1])
    return depths


def wait_for(check: Callable[[], Any], timeout: float, every: float = 0.2, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        time.sleep(every)


# -- service processes ----------------------------------------------------------------------------

ILUO_SYNC = str(Path(PYTHON).parent / "iluo-sync")


class Proc:
    """A service process (producer, worker group) with its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def children(self) -> list[int]:
        """Direct children (dramatiq's worker processes)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.pid:
                found.append(int(stat.parent.name))
        return found

    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait; SIGKILL the whole group if it does not stop in time."""
        if self.running():
            self.popen.terminate()
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not stop within {timeout}s") from None

    def kill(self) -> None:
        try:
            os.killpg(self.pid, 9)
        except ProcessLookupError:
            pass
        self.popen.wait(10)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.running():
            self.kill()
        self._log.close()


class Service:
    """Start producers and workers against one control DB and one RabbitMQ vhost."""

    def __init__(self, control: Control, vhost_url: str, log_dir: Path) -> None:
        self.control = control
        self.vhost_url = vhost_url
        self.log_dir = log_dir
        self.procs: list[Proc] = []
        self._broker: Any = None

    def env(self, threads: int = 4) -> dict[str, str]:
        from shared.broker import prefetch_env

        return self.control.env(ILUO_SYNC_BROKER_URL=self.vhost_url, **prefetch_env(threads))

    def producer(self, name: str = "producer") -> Proc:
        proc = Proc(name, [ILUO_SYNC, "producer"], self.env(), self.log_dir)
        self.procs.append(proc)
        return proc

    def worker(self, *queues: str, threads: int = 4, name: str = "worker",
               extra_modules: tuple[str, ...] = (), shutdown_timeout: int = 60) -> Proc:
        from app.cli.service import worker_argv, worker_queues

        argv = worker_argv(worker_queues(list(queues)), 1, threads, shutdown_timeout,
                           extra_modules=extra_modules)
        proc = Proc(name, argv, self.env(threads), self.log_dir)
        self.procs.append(proc)
        return proc

    @property
    def broker(self) -> Any:
        """A publishing broker on the vhost, for driving ticks from the test (compressed time)."""
        if self._broker is None:
            from shared.broker import build_broker

            self._broker = build_broker(self.control.settings, url=self.vhost_url)
        return self._broker

    def tick(self, now: Any = None) -> Any:
        from producers.tick import run_tick

        return run_tick(self.control.registry, self.broker, now=now)

    def logs(self) -> str:
        return "\n".join(f"===== {p.name} =====\n{p.output()[-6000:]}" for p in self.procs)

    def close(self) -> None:
        for proc in self.procs:
            proc.close()
        if self._broker is not None:
            self._broker.close()


@pytest.fixture
def service(
    request: pytest.FixtureRequest, vhost: str, tmp_path: Path
) -> Iterator[Callable[[Control], Service]]:
    made: list[Service] = []

    def make(control: Control) -> Service:
        made.append(Service(control, vhost, tmp_path))
        return made[-1]

    yield make
    failed = getattr(request.node, "rep_call", None)
    for svc in made:
        if failed is not None and failed.failed:
            print(svc.logs())
        svc.close()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# -- the shop and the tenant's history -----------------------------------------------------------


@pytest.fixture
def shop() -> Iterator[Any]:
    """A WooCommerce sandbox on a free port (`shop.base_url`)."""
    from workers.shops.woocommerce.sandbox import WooCommerceSandbox

    sandbox = WooCommerceSandbox(CK, CS, site_timezone="Europe/Warsaw")
    handle = sandbox.serve("127.0.0.1", 0)
    sandbox.base_url = handle.base_url  # type: ignore[attr-defined]
    try:
        yield sandbox
    finally:
        handle.stop()


def seed_orders(shop: Any, count: int) -> None:
    """`count` orders of a product the demo ERP knows, half a minute apart, two days ago."""
    from datetime import UTC, datetime, timedelta

    start = datetime.now(UTC) - timedelta(days=2)
    for index in range(count):
        moment = start + timedelta(seconds=30 * index)
        shop.add_order([("DEMO-0001", 1, "19.99")], created=moment, modified=moment)


def runs(engine: Engine, **where: Any) -> list[Any]:
    from shared.erp.sync_tables import sync_runs

    stmt = select(sync_runs).order_by(sync_runs.c.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(sync_runs.c, name) == value)
    with engine.connect() as conn:
        return conn.execute(stmt).all()


def finished(engine: Engine) -> list[Any]:
    return [r for r in runs(engine) if r.outcome != "running"]


# -- real-time rounds -----------------------------------------------------------------------------

ENABLED = ("import_orders", "update_order_statuses", "export_products", "update_stock")


def ok_runs(erp: Engine) -> list[Any]:
    return [r for r in finished(erp) if r.outcome == "ok"]


def round_done(erp: Engine, since: datetime) -> bool:
    """Every enabled operation has finished an ok run that started at or after `since`."""
    return {r.operation for r in ok_runs(erp) if r.started_at >= since} >= set(ENABLED)


def next_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def no_overlap_per_resource(erp: Engine) -> None:
    by_resource: dict[str, list[Any]] = defaultdict(list)
    for run in finished(erp):
        if run.outcome != "skipped":  # a skipped run never held the lease
            by_resource[Operation(run.operation).resource].append(run)
    for resource, runs in by_resource.items():
        runs.sort(key=lambda r: (r.started_at, r.id))
        for before, after in itertools.pairwise(runs):
            assert after.started_at >= before.finished_at, (resource, before.id, after.id)


def shop_orders_arrived(erp: Engine, shop: Any) -> bool:
    with erp.connect() as conn:
        imported = set(conn.execute(select(orders.c.external_id)).scalars())
    return imported == {str(order_id) for order_id in shop.orders}


# -- the schedule, seen from a test -------------------------------------------------------------


def schedule_rows(control: Control) -> dict[str, Any]:
    with control.registry.engine.connect() as conn:
        return {r.operation: r for r in conn.execute(select(schedules))}


def settled(control: Control) -> bool:
    """No row queued or running: every published message has been carried out."""
    rows = schedule_rows(control).values()
    return all(r.queued_at is None and r.running_since is None for r in rows)


@dataclass
class FakeResult:
    """What a stand-in for run_operation answers (the fields the actor reads of a RunResult)."""

    outcome: str
    error: str | None
    finished_at: datetime
    counts: dict[str, int] = field(default_factory=dict)
    config: Any = None
    config_read: bool = False  # False: the actor reads the settings itself
    kept: Summary | None = None  # the retry set after an import run
    safety_stop: bool = False
    config_error: bool = False
