"""Soak: the whole service on one box for a while, at N tenants — where does it stop keeping up?

    .venv/bin/python bench/bench_soak.py [--tenants 1000 --tenants 3000] [--minutes 15]
        [--interval 5] [--png docs/soak.png] [--code DIR] [--json]

`--code DIR` runs the service processes on another checkout of the code (e.g. a worktree of an
older commit), for a before/after comparison on the same machine.

Per N (each its own control database and RabbitMQ vhost, deleted afterwards):
- N tenants, each its own ERP: a SQLite file (copies of one template: 3 products in two
  warehouses, one WooCommerce integration running import_orders, update_order_statuses,
  export_products and update_stock every `--interval` minutes; product import stays off, it
  would fight the export);
- every tenant its own WooCommerce sandbox site, all served by one HTTP server on 127.0.0.1
  (`ShopFarm`), each a copy of the template site the template ERP was exported to, with quiet
  traffic: a new order in some tenant's shop every 15 s and a stock change in some tenant's
  ERP every 15 s;
- the real processes: `iluo-sync producer` (the clock), a tick worker group (1 process × 2
  threads: ticks and settings refreshes) and the default sync worker group (2 × 4).
The schedule starts in its steady state (every row at its own next slot, as a settings
refresh would put it), so the figures are those of a fleet that has been running for a while.

Every 10 s it samples: which rows started (the control DB's `last_started_at`; a row's due
time is its slot, so start lag = start − the slot at or before it), CPU seconds of all service
processes, the sync workers' RSS, database connections held (PostgreSQL sessions on the
control DB, open tenant database files), RabbitMQ queue depth (management API), and the
service's ERROR log lines. Reported: start lag p50/p95/p99, runs/s, CPU seconds per run (all
service processes, and split: producer, ticks, sync, PostgreSQL's and RabbitMQ's processes, the
bench process with the shops), the machine's busy share, RSS, connections, queue depth — a
table, and a PNG over time. The knee is the smallest N whose p99
start lag passes one minute.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import matplotlib.pyplot as plt
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, insert, select, text

from shared.control.registry import Registry
from shared.control.schedule import now_s
from shared.control.slots import last_slot, next_slot, offset_for
from shared.control.tables import schedules, tenants
from shared.db import make_engine
from shared.erp.demo import create_erp_schema, fill_demo
from shared.migrate import TENANT, upgrade
from shared.redact import quiet_libraries
from shared.settings import Settings
from workers.domain import Operation
from workers.runner import run_operation
from workers.shops.sandbox import Sandbox, SandboxRequest, SandboxResponse, json_response
from workers.shops.woocommerce.sandbox import WooCommerceSandbox

RABBIT = "amqp://guest:guest@127.0.0.1:5672/"
MANAGEMENT = "http://127.0.0.1:15672/api"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"
KEY, SECRET = "ck_soak", "cs_soak"
OPERATIONS = ("import_orders", "update_order_statuses", "export_products", "update_stock")
SKUS = ("DEMO-0001", "DEMO-0002", "DEMO-0003")
ILUO_SYNC = str(Path(sys.executable).parent / "iluo-sync")
SAMPLE_S = 10


@dataclass
class Sample:
    t: float  # seconds since the start
    started: int  # runs started since the last sample
    lag_p99: float | None
    cpu_s: float  # all service processes, cumulative
    rss_mb: float  # sync workers, summed
    pg_sessions: int
    tenant_files: int
    queue_depth: int


@dataclass
class Soak:
    tenants: int
    minutes: float
    runs: int = 0
    lags: list[float] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu_by_part: dict[str, float] = field(default_factory=dict)  # CPU s over the whole soak
    machine_busy: float = 0.0  # share of both cores busy over the whole soak (/proc/stat)

    def pct(self, q: float) -> float | None:
        if not self.lags:
            return None
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def row(self) -> dict[str, Any]:
        cpu = self.samples[-1].cpu_s - self.samples[0].cpu_s if len(self.samples) > 1 else 0.0
        span = self.samples[-1].t - self.samples[0].t if len(self.samples) > 1 else 1.0
        return {
            "tenants": self.tenants, "minutes": self.minutes, "runs": self.runs,
            "runs_per_s": round(self.runs / max(span, 1.0), 1),
            "lag_p50_s": self.pct(0.50), "lag_p95_s": self.pct(0.95), "lag_p99_s": self.pct(0.99),
            "cpu_ms_per_run": round(1000 * cpu / self.runs, 1) if self.runs else None,
            "rss_mb_max": max((s.rss_mb for s in self.samples), default=0),
            "pg_sessions_max": max((s.pg_sessions for s in self.samples), default=0),
            "tenant_files_max": max((s.tenant_files for s in self.samples), default=0),
            "queue_depth_max": max((s.queue_depth for s in self.samples), default=0),
            "error_lines": len(self.errors),
            "machine_busy_pct": round(100 * self.machine_busy),
            **{f"cpu_ms_per_run_{part}": round(1000 * seconds / self.runs, 1) if self.runs
               else None for part, seconds in self.cpu_by_part.items()},
        }


# -- set-up ---------------------------------------------------------------------------------------


def admin(sql: str) -> None:
    with create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(sql))


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


class ShopFarm(Sandbox):
    """Every tenant its own WooCommerce shop, all on one HTTP server: `/t<N>/wp-json/…` is
    tenant N's site (a WordPress site in a sub-folder, as real ones often are). A shop shared
    by the fleet would have every tenant import every order placed in it — thousands of times
    the quiet traffic asked for. A site is made at its first request as a copy of the template
    site (`/t0`), which holds what the template ERP exported, so every tenant's bindings,
    fingerprints and cursor hold in its own shop: the fleet starts in its steady state."""

    platform = "woocommerce"
    #: The sandbox's data (what its `_clear_data` makes), copied from the template site.
    DATA = ("orders", "products", "variations", "_next_post_id", "_next_item_id",
            "_next_meta_id", "_sku_ids", "_gtin_ids", "_slug_ids")

    def __init__(self) -> None:
        super().__init__()
        self.sites: dict[int, WooCommerceSandbox] = {}
        self.template: WooCommerceSandbox | None = None

    def site(self, n: int) -> WooCommerceSandbox:
        with self.lock:
            found = self.sites.get(n)
            if found is None:
                found = self.sites[n] = WooCommerceSandbox(KEY, SECRET)
                if self.template is not None:
                    with self.template.lock:
                        for name in self.DATA:
                            setattr(found, name, copy.deepcopy(getattr(self.template, name)))
            return found

    def process(self, request: SandboxRequest) -> SandboxResponse:
        head, _, rest = request.path.lstrip("/").partition("/")
        if not (head.startswith("t") and head[1:].isdigit()):
            return json_response(404, {"code": "rest_no_route", "message": "no such site"})
        return self.site(int(head[1:])).process(replace(
            request, path="/" + rest, base_url=f"{request.base_url}/{head}"))


def template_erp(folder: Path, interval: int, farm: ShopFarm, base_url: str) -> Path:
    """The ERP every tenant copies, its products exported, stock sent and orders read once
    through the real operations against the template site, which the farm then copies."""
    path = folder / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    create_erp_schema(engine)
    fill_demo(engine, products=len(SKUS), base_url=f"{base_url}/t0", api_key=KEY,
              api_secret=SECRET, operations=dict.fromkeys(OPERATIONS, (True, interval)))
    upgrade(engine, TENANT)  # the sync_* tables, as `tenant add` would create them
    for operation in OPERATIONS:
        result = run_operation(engine, 1, Operation(operation))
        assert result.outcome == "ok", (operation, result.error)
    engine.dispose()
    farm.template = farm.site(0)
    return path


def seed(registry: Registry, folder: Path, count: int, farm: ShopFarm, base_url: str,
         interval: int) -> None:
    """N copies of the template, registered, with their schedule in its steady state."""
    template = template_erp(folder, interval, farm, base_url)
    now = now_s()
    tenant_rows, schedule_rows = [], []
    for tid in range(1, count + 1):
        path = folder / f"t{tid}.db"
        shutil.copyfile(template, path)
        with sqlite3.connect(path) as db:
            db.execute("UPDATE shop_integrations SET base_url = ?", (f"{base_url}/t{tid}",))
        offset = offset_for(tid, interval)
        tenant_rows.append(dict(
            id=tid, name=f"t{tid}", db_url=f"sqlite:///{path}", db_password=None,
            is_active=True, event_history=True, created_at=now, updated_at=now,
            settings_due_at=next_slot(now, 3, offset_for(tid, 3))))
        # Every operation has its row, as a settings refresh writes them (product import off).
        schedule_rows += [dict(
            tenant_id=tid, integration_id=1, operation=op.value, interval_minutes=interval,
            enabled=op.value in OPERATIONS, next_due_at=next_slot(now, interval, offset),
            slot_offset=offset, consecutive_failures=0) for op in Operation]
    with registry.engine.begin() as conn:
        for start in range(0, count, 2000):
            conn.execute(insert(tenants), tenant_rows[start:start + 2000])
        for start in range(0, len(schedule_rows), 8000):
            conn.execute(insert(schedules), schedule_rows[start:start + 8000])


def traffic(farm: ShopFarm, folder: Path, count: int, stop: threading.Event) -> None:
    """A few new orders and stock changes a minute across the fleet: every 15 s an order in
    one tenant's shop and a stock change in another tenant's ERP."""
    rnd = random.Random(5)
    while not stop.wait(15):
        try:
            shop = farm.site(rnd.randint(1, count))
            with shop.lock:
                shop.add_order([(rnd.choice(SKUS), rnd.randint(1, 2), "49.90")],
                               status="processing")
            with sqlite3.connect(folder / f"t{rnd.randint(1, count)}.db", timeout=30) as db:
                db.execute("UPDATE stock_levels SET quantity = ?, updated_at = ? "
                           "WHERE product_id = ? AND warehouse_id = 1",
                           (str(Decimal(rnd.randint(0, 40))),
                            datetime.now(UTC).replace(tzinfo=None).isoformat(" "),
                            rnd.randint(1, len(SKUS))))
        except Exception as exc:  # the soak goes on; the next change comes in 15 s
            print(f"traffic: {exc}", file=sys.stderr)


# -- measuring ------------------------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """A process and all its descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return found


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def open_db_files(pid: int, folder: Path) -> int:
    try:
        return sum(1 for fd in Path(f"/proc/{pid}/fd").iterdir()
                   if os.readlink(fd).startswith(str(folder)) and os.readlink(fd).endswith(".db"))
    except OSError:
        return 0


def cpu_by_part(procs: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each service part (a process tree), of PostgreSQL's and RabbitMQ's
    processes, and of this bench process (the sandboxes, the traffic and the sampling)."""
    parts = {label: sum(cpu_s(p) for p in tree(pid)) for label, pid in procs.items()}
    servers = {"postgres": 0.0, "rabbitmq": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm == "postgres":
            servers["postgres"] += cpu_s(int(entry.name))
        elif comm in ("beam.smp", "erl_child_setup", "epmd"):
            servers["rabbitmq"] += cpu_s(int(entry.name))
    return {**parts, **servers, "bench_and_sandboxes": cpu_s(os.getpid())}


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def lag_s(started: datetime, interval: int, offset: int) -> float:
    """Start − the row's slot at or before the start (a row runs once per slot)."""
    return (started - last_slot(started, interval, offset)).total_seconds()


def queue_depth(vhost: str) -> int:
    try:
        answer = httpx.get(f"{MANAGEMENT}/queues/{vhost}", auth=("guest", "guest"), timeout=10)
        return sum(int(q.get("messages", 0) or 0) for q in answer.json())
    except (httpx.HTTPError, ValueError):
        return -1


# -- one soak -------------------------------------------------------------------------------------


def soak(count: int, minutes: float, interval: int, threads: int, processes: int, logs: Path,
         code: Path | None = None) -> Soak:
    name = f"iluo_soak_{uuid.uuid4().hex[:8]}"
    folder = Path(tempfile.mkdtemp(prefix=name))
    admin(f'CREATE DATABASE "{name}"')
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    settings = Settings(control_db=PG + name, secret_key=Fernet.generate_key().decode())
    registry = Registry(settings)
    farm = ShopFarm()
    shops = farm.serve("127.0.0.1", 0)
    stop = threading.Event()
    procs: list[subprocess.Popen[bytes]] = []
    result = Soak(count, minutes)
    try:
        seed(registry, folder, count, farm, shops.base_url, interval)
        env = {**os.environ, "ILUO_SYNC_CONTROL_DB": settings.control_db,
               "ILUO_SYNC_SECRET_KEY": settings.secret_key.get_secret_value(),  # type: ignore[union-attr]
               "ILUO_SYNC_BROKER_URL": RABBIT + name, "PYTHONUNBUFFERED": "1"}
        if code is not None:  # ahead of the installed (editable) checkout
            env["PYTHONPATH"] = str(code.resolve())
        logs.mkdir(parents=True, exist_ok=True)
        for label, argv in (
            ("producer", [ILUO_SYNC, "producer"]),
            ("ticks", [ILUO_SYNC, "worker", "-p", "1", "-t", "2", "--queues", "ticks"]),
            ("sync", [ILUO_SYNC, "worker", "-p", str(processes), "-t", str(threads),
                      "--queues", "orders", "stock", "catalog"]),
        ):
            out = (logs / f"{count}-{label}.log").open("wb")
            procs.append(subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        feeder = threading.Thread(target=traffic, args=(farm, folder, count, stop),
                                  daemon=True)
        feeder.start()
        seen: dict[int, datetime] = {}
        labelled = dict(zip(("producer", "ticks", "sync"), (p.pid for p in procs), strict=True))
        cpu_before, ticks_before = cpu_by_part(labelled), machine_ticks()
        began = time.monotonic()
        pg = create_engine(PG_ADMIN, pool_size=1)
        while True:
            elapsed = time.monotonic() - began
            with registry.engine.connect() as conn:
                rows = conn.execute(select(
                    schedules.c.id, schedules.c.last_started_at, schedules.c.interval_minutes,
                    schedules.c.slot_offset).where(schedules.c.last_started_at.is_not(None))).all()
            fresh = [r for r in rows if seen.get(r.id) != r.last_started_at]
            for r in fresh:
                seen[r.id] = r.last_started_at
            lags = [lag_s(r.last_started_at, r.interval_minutes, r.slot_offset) for r in fresh]
            result.lags += lags
            result.runs += len(fresh)
            pids = [p for proc in procs for p in tree(proc.pid)]
            workers = [p for p in tree(procs[2].pid) if p != procs[2].pid]
            with pg.connect() as conn:
                sessions = int(conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
                    .scalar() or 0)
            result.samples.append(Sample(
                t=round(elapsed, 1), started=len(fresh),
                lag_p99=sorted(lags)[int(0.99 * (len(lags) - 1))] if lags else None,
                cpu_s=sum(cpu_s(p) for p in pids), rss_mb=round(sum(map(rss_mb, workers)), 1),
                pg_sessions=sessions,
                tenant_files=sum(open_db_files(p, folder) for p in pids),
                queue_depth=queue_depth(name)))
            if elapsed >= minutes * 60 or any(p.poll() is not None for p in procs):
                break
            time.sleep(SAMPLE_S)
        cpu_after, ticks_after = cpu_by_part(labelled), machine_ticks()
        result.cpu_by_part = {k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after}
        result.machine_busy = ((ticks_after[0] - ticks_before[0])
                               / max(1, ticks_after[1] - ticks_before[1]))
        pg.dispose()
    finally:
        stop.set()
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        shops.stop()
        registry.close()
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True)
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(folder, ignore_errors=True)
    for label in ("producer", "ticks", "sync"):
        text_ = (logs / f"{count}-{label}.log").read_text(errors="replace")
        result.errors += [line for line in text_.splitlines()
                          if " ERROR " in line or "[ERROR]" in line]
    return result


# -- report ---------------------------------------------------------------------------------------


def plot(results: list[Soak], path: Path) -> None:
    plt.switch_backend("Agg")  # a file, no display
    fig, axes = plt.subplots(2, 2, figsize=(12, 7), sharex=True)
    for r in results:
        t = [s.t / 60 for s in r.samples]
        label = f"{r.tenants} tenants"
        axes[0][0].plot(t, [s.lag_p99 if s.lag_p99 is not None else float("nan")
                            for s in r.samples], label=label)
        axes[0][1].plot(t, [s.queue_depth for s in r.samples], label=label)
        axes[1][0].plot(t, [s.rss_mb for s in r.samples], label=label)
        axes[1][1].plot(t, [s.pg_sessions + s.tenant_files for s in r.samples], label=label)
    for ax, title in zip(
        [a for row in axes for a in row],
        ["start lag p99 per 10 s sample (s)", "RabbitMQ queue depth (messages)",
         "sync workers' RSS (MiB)", "DB connections held (control sessions + tenant files)"],
        strict=True,
    ):
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[1][0].set_xlabel("minutes")
    axes[1][1].set_xlabel("minutes")
    axes[0][0].axhline(60, color="red", linestyle=":", linewidth=1)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, action="append")
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--interval", type=int, default=5)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--png", type=Path, default=Path("docs/soak.png"))
    parser.add_argument("--logs", type=Path, default=Path(tempfile.gettempdir()) / "iluo-soak")
    parser.add_argument("--code", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    quiet_libraries()
    results = [soak(n, args.minutes, args.interval, args.threads, args.processes,
                    args.logs, args.code) for n in (args.tenants or [1000])]
    plot(results, args.png)
    rows = [r.row() for r in results]
    if args.json:
        print(json.dumps({"rows": rows, "samples": {r.tenants: [asdict(s) for s in r.samples]
                                                    for r in results}}, indent=2, default=str))
    else:
        keys = list(rows[0])
        print(" | ".join(keys))
        for row in rows:
            print(" | ".join(str(row[k]) for k in keys))
    for r in results:
        for line in r.errors[:5]:
            print(f"ERROR line ({r.tenants} tenants): {line[:300]}")
    knee = next((r.tenants for r in results if (r.pct(0.99) or 0) > 60), None)
    print(f"knee (p99 start lag > 60 s): {knee if knee else 'not reached'}; plot: {args.png}")


if __name__ == "__main__":
    main()
