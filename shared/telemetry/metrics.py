"""Prometheus metrics of a worker or producer (ILUO_SYNC_METRICS_PORT).

A worker group is several processes; with PROMETHEUS_MULTIPROC_DIR set (the `worker` command
sets it, see `prepare_multiprocess_dir`) every process writes its samples there and whichever
process binds the port first serves the sum of all of them, so one scrape target shows the
whole group. The variable must be set before a process imports prometheus_client, which is why
the command sets it for dramatiq's processes rather than each process for itself.

Where each series comes from:
- runs, durations, items and shop calls: the sync actor after each run (workers.reporting);
- schedule lag, ticks, claimed rows, the longest failure streak: the tick (producers.tick);
- lease takeovers: the engine, when it takes over an expired lease (workers.engine.leases);
- messages by queue and result: the Metrics middleware (workers.middleware.metrics).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

RUNS = Counter("iluo_sync_runs_total", "Operation runs by outcome.", ["operation", "outcome"])
RUN_SECONDS = Histogram(
    "iluo_sync_run_duration_seconds", "Duration of operation runs.", ["operation"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200),
)
ITEMS = Counter(
    "iluo_sync_items_total", "Items synced by operation and kind.", ["operation", "kind"]
)
SHOP_CALLS = Counter("iluo_sync_shop_api_calls_total", "Shop API calls by platform.", ["platform"])
SHOP_THROTTLED = Counter(
    "iluo_sync_shop_api_throttled_total", "Shop API 429 answers.", ["platform"]
)
SCHEDULE_LAG = Histogram(
    "iluo_sync_schedule_lag_seconds", "Claim time minus due time of scheduled work.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
WEBHOOKS = Counter("iluo_sync_webhooks_total",
                   "Shop webhooks received, by what the receiver answered.", ["result"])
LEASE_TAKEOVERS = Counter("iluo_sync_lease_takeovers_total", "Expired leases taken over.")
FAILING = Gauge(
    "iluo_sync_consecutive_failures_max",
    "The highest consecutive-failure count of any scheduled operation (last tick).",
    multiprocess_mode="max",
)
MESSAGES = Counter(
    "iluo_sync_messages_total", "dramatiq messages by queue and result.", ["queue", "result"]
)
TICKS = Counter("iluo_sync_ticks_total", "Ticks handled.")
CLAIMED = Counter("iluo_sync_claimed_total", "Schedule rows claimed and published.")


def observe_run(operation: str, outcome: str, seconds: float, counts: dict[str, int]) -> None:
    RUNS.labels(operation, outcome).inc()
    RUN_SECONDS.labels(operation).observe(seconds)
    for kind, value in counts.items():
        if value and kind != "read":
            ITEMS.labels(operation, kind).inc(value)


def observe_shop_calls(platform: str, stats: dict[str, Any]) -> None:
    SHOP_CALLS.labels(platform).inc(int(stats.get("calls", 0)))
    SHOP_THROTTLED.labels(platform).inc(int(stats.get("throttled", 0)))


def prepare_multiprocess_dir(port: int, configured: str | None = None) -> str:
    """The directory a worker group's processes share: `configured` (an operator's
    PROMETHEUS_MULTIPROC_DIR) or one per port under the temp dir. Emptied first: the files of a
    group that ran before would add its old counts to this one's."""
    folder = Path(configured) if configured else Path(tempfile.gettempdir()) / (
        f"iluo-sync-metrics-{port}")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for old in folder.glob("*.db"):
        old.unlink(missing_ok=True)
    return str(folder)


_server: Any = None


def start_metrics(port: int | None, addr: str = "0.0.0.0") -> bool:
    """Serve /metrics on `addr`:`port` if a port is given; False when another process of the
    group serves it already (or it is off)."""
    global _server
    if not port:
        return False
    registry: CollectorRegistry | None = None
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # unannotated in prometheus_client
    try:
        if registry is not None:
            served = start_http_server(port, addr=addr, registry=registry)
        else:
            served = start_http_server(port, addr=addr)
    except OSError:
        log.debug("metrics port %s already served by another process of this group", port)
        return False
    _server = served[0] if isinstance(served, tuple) else served
    log.info("metrics on %s:%s/metrics", addr, port)
    return True


def stop_metrics() -> None:
    """Close this process's metrics server (tests, and processes that outlive their service)."""
    global _server
    if _server is not None:
        _server.shutdown()
        _server.server_close()
        _server = None
