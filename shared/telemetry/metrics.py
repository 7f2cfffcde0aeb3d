"""Prometheus metrics of a worker or producer (ILUO_SYNC_METRICS_PORT).

A worker group is several processes; with PROMETHEUS_MULTIPROC_DIR set (the `worker` command
sets it) every process writes its samples there and whichever process binds the port first
serves the sum of all of them, so one scrape target shows the whole group.
"""

from __future__ import annotations

import logging
import os
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

RUNS = Counter("iluo_sync_runs_total", "Operation runs by outcome.", ["operation", "outcome"])
RUN_SECONDS = Histogram(
    "iluo_sync_run_duration_seconds", "Duration of operation runs.", ["operation"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200),
)
ITEMS = Counter("iluo_sync_items_total", "Items synced by operation and kind.", ["operation", "kind"])
SHOP_CALLS = Counter("iluo_sync_shop_api_calls_total", "Shop API calls by platform.", ["platform"])
SHOP_THROTTLED = Counter("iluo_sync_shop_api_throttled_total", "Shop API 429 answers.", ["platform"])
SCHEDULE_LAG = Histogram(
    "iluo_sync_schedule_lag_seconds", "Claim time minus due time of scheduled work.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
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


def start_metrics(port: int | None) -> bool:
    """Serve /metrics on `port` if given; False when another process of the group serves it."""
    if not port:
        return False
    registry: CollectorRegistry | None = None
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    try:
        if registry is not None:
            start_http_server(port, registry=registry)
        else:
            start_http_server(port)
    except OSError:
        log.debug("metrics port %s already served by another process of this group", port)
        return False
    log.info("metrics on :%s/metrics", port)
    return True
