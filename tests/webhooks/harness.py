"""The pieces of a live webhook set-up that the tests' fixtures (tests/webhooks/conftest.py)
and the latency benchmark (bench/bench_webhook_latency.py) share: a dramatiq worker running
the real sync actors on a private RabbitMQ vhost, and the receiver under uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import dramatiq
import uvicorn
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from starlette.applications import Starlette

from shared.jobs import SYNC_QUEUES
from shared.settings import Settings
from workers import actors
from workers import broker as worker_broker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RealWorker:
    """An in-process worker consuming the sync queues with the real actors."""

    broker: RabbitmqBroker
    worker: dramatiq.Worker

    @classmethod
    def start(cls, settings: Settings, url: str, threads: int = 2) -> RealWorker:
        consuming = worker_broker.build_broker(settings, url=url)
        real = {"orders": actors.sync_orders, "stock": actors.sync_stock,
                "catalog": actors.sync_catalog}
        for queue in SYNC_QUEUES:
            dramatiq.actor(real[queue].fn, broker=consuming, actor_name=real[queue].actor_name,
                           queue_name=queue)
        worker = dramatiq.Worker(consuming, worker_threads=threads, worker_timeout=200)
        worker.start()
        return cls(consuming, worker)

    def stop(self) -> None:
        self.worker.stop()
        self.broker.close()


@dataclass
class Served:
    """An ASGI app under uvicorn on 127.0.0.1, in a daemon thread."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    @classmethod
    def start(cls, app: Starlette, timeout: float = 30.0) -> Served:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning"))
        thread = threading.Thread(target=server.run, name="webhooks", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the receiver did not start")
            time.sleep(0.01)
        return cls(f"http://127.0.0.1:{port}", server, thread)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
