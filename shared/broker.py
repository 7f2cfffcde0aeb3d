"""The dramatiq broker of every process (producer, tick workers, sync workers, the demo).

Built in one place so every process agrees on what matters (lessons.md part b):
- the orjson encoder, set globally before any message is sent or decoded;
- the periodiq middleware, on the broker before any actor is declared (producer and workers);
- `confirm_delivery=True`: a publish that RabbitMQ did not take raises instead of vanishing
  (the tick publishes its batches through shared.publisher: many in flight, one wait);
- a thread's publishing connection that sat idle longer than its heartbeat is re-opened
  quietly before the next publish (`ServiceBroker`): RabbitMQ may have dropped it meanwhile,
  and reconnecting through pika's failure path logs tracebacks at ERROR for a publish that
  then works;
- prefetch fitted to 2 × threads over the queues (workers.middleware.prefetch): a prefetched
  message waits unacked, and RabbitMQ's 30-minute consumer timeout counts from delivery, not
  from the start of work;
- a time limit of 20 minutes, well under that timeout (a run limits itself to 15);
- few retries with short backoff (the next scheduled run is the real retry; a backoff held in
  worker memory past 30 minutes would trip the consumer timeout);
- what a worker adds around these (parking, graceful stop, heartbeats, metrics) is the
  workers' own: workers.broker.

Log redaction and error reporting (Sentry) start in `init_error_reporting`, which every entry
point calls before the broker exists: sentry's dramatiq integration patches `Broker.__init__`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dramatiq
import orjson
from dramatiq import broker as broker_module
from dramatiq.broker import Broker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.encoder import Encoder, MessageData
from dramatiq.errors import DecodeError
from dramatiq.middleware import Middleware, Retries, TimeLimit
from periodiq import PeriodiqMiddleware

from shared.redact import install_log_redaction, quiet_libraries
from shared.settings import Settings, get_settings
from shared.telemetry.sentry import init_sentry

log = logging.getLogger(__name__)

#: dramatiq's hard stop for one message (ms): well under RabbitMQ's 30-minute consumer timeout.
TIME_LIMIT_MS = 20 * 60 * 1000
#: Attempts after the first; then the message goes to the dead-letter queue (the schedule
#: retries at the next slot anyway).
MAX_RETRIES = 3
MIN_BACKOFF_MS = 5_000
MAX_BACKOFF_MS = 10 * 60 * 1000
#: periodiq drops a tick older than this (a stale minute; the next tick catches up).
TICK_SKIP_DELAY_S = 30
#: pika connection options added to the broker URL unless it sets them itself.
CONNECTION_DEFAULTS = {
    "heartbeat": "60",
    "connection_attempts": "3",
    "retry_delay": "1",
    "blocked_connection_timeout": "30",
    "socket_timeout": "10",
}

_error_reporting_ready = False

#: Seconds a thread's publishing connection may sit unused before it is re-opened rather than
#: used: RabbitMQ drops a connection that sent no heartbeat for about twice the heartbeat
#: (60 s), and a BlockingConnection sends none while its thread does not publish.
PUBLISH_IDLE_S = 45.0


class OrjsonEncoder(Encoder):
    """Messages as compact JSON via orjson (ids and ISO strings only: see shared.jobs)."""

    def encode(self, data: MessageData) -> bytes:
        return orjson.dumps(data)

    def decode(self, data: bytes) -> MessageData:
        try:
            decoded: MessageData = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(  # type: ignore[no-untyped-call]  # dramatiq leaves it unannotated
                f"failed to decode message {data[:200]!r}", data, exc) from None
        return decoded


class _Closing(threading.local):
    stale = False


_closing = _Closing()


class _WhileClosingStale(logging.Filter):
    """Drops pika's records in the thread that is closing a connection it knows may be dead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _closing.stale


@contextmanager
def _quiet_pika() -> Iterator[None]:
    _closing.stale = True
    try:
        yield
    finally:
        _closing.stale = False


def _install_quiet_filter() -> None:
    # On every pika logger (a logger's filters see only its own records), once per process.
    names = [n for n in logging.Logger.manager.loggerDict if n == "pika" or n.startswith("pika.")]
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _WhileClosingStale) for f in logger.filters):
            logger.addFilter(_WhileClosingStale())


class ServiceBroker(RabbitmqBroker):
    """dramatiq's RabbitMQ broker whose per-thread publishing connection is re-opened before a
    publish when it sat idle past `idle_s` (closed quietly: it may be dead already)."""

    def __init__(self, *, idle_s: float = PUBLISH_IDLE_S, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.idle_s = idle_s
        _install_quiet_filter()

    def enqueue(self, message: Any, *, delay: int | None = None) -> Any:
        last = getattr(self.state, "last_publish", None)
        if last is not None and time.monotonic() - last > self.idle_s:
            self._drop_thread_connection()
        try:
            return super().enqueue(message, delay=delay)
        finally:
            self.state.last_publish = time.monotonic()

    def close(self) -> None:
        # At shutdown too: the main thread's connection (used once, to declare the queues)
        # has usually been dropped by RabbitMQ long before; closing it is no error.
        with _quiet_pika():
            super().close()

    def _drop_thread_connection(self) -> None:
        channel = self.state.__dict__.pop("channel", None)
        connection = self.state.__dict__.pop("connection", None)
        self.channels.discard(channel)
        self.connections.discard(connection)
        if connection is None or not connection.is_open:
            return
        with _quiet_pika():
            try:
                connection.close()
            except Exception:  # dead already: that is why it is being replaced
                log.debug("closing an idle publishing connection failed", exc_info=True)


def init_error_reporting(settings: Settings | None = None) -> None:
    """Every process's first step, before any broker is created: secrets are masked in every
    log record from here on, and Sentry starts when SENTRY_DSN is set (its dramatiq
    integration patches `Broker.__init__`, so it must come first)."""
    global _error_reporting_ready
    install_log_redaction()
    settings = settings or get_settings()
    if not _error_reporting_ready:
        dsn = settings.sentry_dsn.get_secret_value() if settings.sentry_dsn else None
        init_sentry(dsn)
    _error_reporting_ready = True


def message_middleware() -> list[Middleware]:
    """What every process's broker carries: the options our actors declare (`time_limit`,
    `max_retries`, `periodic`) and how messages are retried and ticks skipped. A worker puts
    its own middleware around these (workers.broker); a publisher (the producer, the console's
    Run now) needs only these."""
    return [
        TimeLimit(time_limit=TIME_LIMIT_MS),
        Retries(max_retries=MAX_RETRIES, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS),
        PeriodiqMiddleware(skip_delay=TICK_SKIP_DELAY_S),
    ]


def connection_url(url: str) -> str:
    """The broker URL with our pika connection defaults added where it sets none."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for key, value in CONNECTION_DEFAULTS.items():
        query.setdefault(key, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def build_broker(
    settings: Settings | None = None, *, url: str | None = None,
    middleware: list[Middleware] | None = None,
) -> ServiceBroker:
    """The RabbitMQ broker of a process (not yet made the global one); `middleware` defaults to
    a publisher's (`message_middleware`)."""
    settings = settings or get_settings()
    if not _error_reporting_ready:
        init_error_reporting(settings)
    dramatiq.set_encoder(OrjsonEncoder())
    return ServiceBroker(
        url=connection_url(url or settings.broker_url.get_secret_value()),
        confirm_delivery=True,
        middleware=message_middleware() if middleware is None else middleware,
    )


def build_stub_broker(middleware: list[Middleware] | None = None) -> StubBroker:
    """dramatiq's in-process broker with our encoder and middleware: no RabbitMQ needed."""
    if not _error_reporting_ready:
        init_error_reporting()
    dramatiq.set_encoder(OrjsonEncoder())
    return StubBroker(middleware=message_middleware() if middleware is None else middleware)


def setup(middleware: list[Middleware] | None = None) -> None:
    """The process's global broker: the producer's; a worker's comes from workers.broker."""
    init_error_reporting()
    quiet_libraries()
    dramatiq.set_broker(build_broker(middleware=middleware))


def ensure_broker() -> Broker:
    """The global broker, built from settings if no entry point has set one yet.

    Actor modules call this before declaring actors, so importing them anywhere gives actors
    bound to a broker that knows their options (periodiq's `periodic` included). A process
    that consumes sets its broker first (workers.broker.setup).
    """
    if broker_module.global_broker is None:
        setup()
    return dramatiq.get_broker()


def prefetch_env(threads: int) -> dict[str, str]:
    """Environment for a dramatiq worker process: prefetch equal to threads, which PrefetchFit
    then divides over the queues the worker consumes (see above)."""
    return {"dramatiq_queue_prefetch": str(max(1, threads))}


def declare_queues(broker: Broker, queues: Any) -> None:
    for name in queues:
        broker.declare_queue(name)
