"""The tick at scale: claim and publish a whole minute for many tenants, against RabbitMQ's rate.

    .venv/bin/python bench/bench_tick.py [--tenants 10000] [--db postgresql|mariadb|sqlite]
        [--json]

10,000 tenants x 5 operations = 50,000 schedule rows, all due. Measured in the same run, on the
same RabbitMQ (a private vhost, deleted afterwards) and the same broker set-up as production
(confirm_delivery, orjson), publishing the same bytes (a sync message of ~200 bytes):
- ceiling:   pika `basic_publish` without confirms, 50,000 times (before and after the tick;
             the mean is used) — what RabbitMQ takes from one publisher;
- confirm/1: pika with a confirm per message (`confirm_delivery()`), 5,000 times;
- dramatiq:  `broker.enqueue`, dramatiq's own publish (a confirm per message), 5,000 times;
- claim:     the tick's atomic claims alone (batches of 1,000), no publishing;
- tick:      `publish_due`, what the tick does: claim a batch, publish it, claim the next.
The ratio tick/ceiling says how much of the broker's publish rate the schedule costs (aim ≥ 0.5).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pika
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, insert, text, update

from producers.tick import publish_due
from shared.broker import build_broker
from shared.control.registry import Registry
from shared.control.schedule import ScheduleConfig, claim_due, now_s
from shared.control.slots import offset_for
from shared.control.tables import schedules, tenants
from shared.jobs import SyncJob
from shared.settings import Settings
from workers.domain import Operation

RABBIT = "amqp://guest:guest@127.0.0.1:5672/"
ADMIN = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/",
}


@dataclass
class Result:
    db: str
    tenants: int
    rows: int
    ceiling_rate: float  # msg/s, pika without confirms
    confirm_each_rate: float  # msg/s, pika with a confirm per message
    dramatiq_rate: float  # msg/s, broker.enqueue
    claim_s: float
    tick_s: float

    @property
    def claim_rate(self) -> float:
        return self.rows / self.claim_s

    @property
    def tick_rate(self) -> float:
        return self.rows / self.tick_s

    @property
    def ratio(self) -> float:
        return self.tick_rate / self.ceiling_rate


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def control_url(db: str, name: str, folder: Path) -> str:
    if db == "sqlite":
        return f"sqlite:///{folder / (name + '.db')}"
    with create_engine(ADMIN[db], isolation_level="AUTOCOMMIT").connect() as conn:
        quoted = f'"{name}"' if db == "postgresql" else f"`{name}`"
        conn.execute(text(f"CREATE DATABASE {quoted}"))
    if db == "postgresql":
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    return f"mysql+pymysql://root@127.0.0.1:3306/{name}"


def drop(db: str, name: str) -> None:
    if db == "sqlite":
        return
    with create_engine(ADMIN[db], isolation_level="AUTOCOMMIT").connect() as conn:
        if db == "postgresql":
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))


def seed(registry: Registry, count: int) -> None:
    now = now_s()
    with registry.engine.begin() as conn:
        for start in range(1, count + 1, 5000):
            ids = range(start, min(count, start + 4999) + 1)
            conn.execute(insert(tenants), [
                dict(id=i, name=f"t{i}", db_url="sqlite:///unused.db", db_password=None,
                     is_active=True, event_history=True, created_at=now, updated_at=now,
                     settings_due_at=now + timedelta(hours=1)) for i in ids])
            conn.execute(insert(schedules), [
                dict(tenant_id=i, integration_id=1, operation=op.value, interval_minutes=5,
                     enabled=True, next_due_at=now - timedelta(minutes=1),
                     slot_offset=offset_for(i, 5), consecutive_failures=0)
                for i in ids for op in Operation])


def purge(url: str, queues: Any) -> None:
    """Empty the queues declared so far (the bench's messages are never consumed)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for queue in queues:
        channel.queue_purge(queue)
    connection.close()


def make_due(registry: Registry) -> None:
    with registry.engine.begin() as conn:
        conn.execute(update(schedules).values(
            queued_at=None, queued_due_at=None, next_due_at=now_s() - timedelta(minutes=1)))


def run(db: str, count: int) -> Result:
    name = f"iluo_bench_{uuid.uuid4().hex[:8]}"
    folder = Path("/tmp")
    url = control_url(db, name, folder)
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    settings = Settings(control_db=url, secret_key=Fernet.generate_key().decode())
    registry = Registry(settings)
    broker = build_broker(settings, url=RABBIT + name)
    try:
        seed(registry, count)
        rows = count * len(Operation)
        config = ScheduleConfig(max_claims_per_tick=rows)

        def noop(tenant_id: int, integration_id: int, operation: str, due_at: str) -> None:
            """Never run: only published."""

        body = SyncJob(1, 1, Operation.IMPORT_ORDERS, now_s()).message()
        broker.declare_queue(body.queue_name, ensure=True)
        def connect() -> Any:
            # A connection per use: one left idle through a long tick misses its heartbeats.
            return pika.BlockingConnection(pika.URLParameters(RABBIT + name))

        def pika_rate(count: int, confirm: bool) -> float:
            connection = connect()
            channel = connection.channel()
            if confirm:
                channel.confirm_delivery()
            data = body.encode()
            props = pika.BasicProperties(delivery_mode=2)
            started = time.perf_counter()
            for _ in range(count):
                channel.basic_publish("", body.queue_name, data, props)
            connection.process_data_events(0)
            took = time.perf_counter() - started
            channel.queue_purge(body.queue_name)
            connection.close()
            return count / took

        def dramatiq_rate(count: int) -> float:
            started = time.perf_counter()
            for _ in range(count):
                broker.enqueue(body)
            took = time.perf_counter() - started
            purge(RABBIT + name, broker.get_declared_queues())
            return count / took

        ceiling_before = pika_rate(rows, confirm=False)
        confirm_each = pika_rate(min(rows, 5000), confirm=True)
        via_dramatiq = dramatiq_rate(min(rows, 5000))

        make_due(registry)
        started = time.perf_counter()
        claimed = 0
        while True:
            with registry.engine.begin() as conn:
                batch = claim_due(conn, now_s(), limit=config.claim_batch, config=config)
            claimed += len(batch)
            if len(batch) < config.claim_batch:
                break
        claim_s = time.perf_counter() - started
        assert claimed == rows, (claimed, rows)

        make_due(registry)
        started = time.perf_counter()
        claimed, published = publish_due(registry.engine, broker, now_s(), config)
        tick_s = time.perf_counter() - started
        assert claimed == published == rows, (claimed, published, rows)
        purge(RABBIT + name, broker.get_declared_queues())
        # The ceiling again after the tick, so a broker that speeds up or slows down during the
        # run (other load on the machine) weighs on both sides alike.
        ceiling = (ceiling_before + pika_rate(rows, confirm=False)) / 2
        return Result(db, count, rows, ceiling, confirm_each, via_dramatiq, claim_s, tick_s)
    finally:
        broker.close()
        registry.close()
        rabbitmqctl("delete_vhost", name)
        drop(db, name)
        if db == "sqlite":
            for path in folder.glob(name + ".db*"):
                path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--db", choices=("postgresql", "mariadb", "sqlite"), action="append")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [run(db, args.tenants) for db in (args.db or ["postgresql"])]
    if args.json:
        print(json.dumps([asdict(r) | {"ratio": r.ratio} for r in results], indent=2))
        return
    print(f"{'control DB':<11} {'rows':>7} {'pika, no confirm':>17} {'confirm/msg':>12} "
          f"{'dramatiq':>10} {'claim only':>12} {'tick (claim+publish)':>22} {'tick/ceiling':>12}")
    for r in results:
        print(f"{r.db:<11} {r.rows:>7} {r.ceiling_rate:>13.0f} m/s {r.confirm_each_rate:>8.0f} m/s "
              f"{r.dramatiq_rate:>6.0f} m/s {r.claim_rate:>8.0f} r/s "
              f"{r.tick_rate:>11.0f} m/s ({r.tick_s:5.1f} s) {r.ratio:>12.2f}")


if __name__ == "__main__":
    main()
