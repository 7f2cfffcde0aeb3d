"""The webhook receiver: `POST /hooks/<token>` pokes one integration's `import_orders`.

A hook never carries data into the ERP: once its signature checks, it makes the schedule row
due now (shared.control.schedule.poke) and answers; the import itself is the ordinary run, with
its lease, that the polling schedule would have made a few minutes later. Answers, in the
order checked: 404 unknown or malformed token; 429 too many hooks on this token (a bucket per
token, so one flooding shop cannot starve the others); 413 a body over 1 MiB; 401 a missing or
wrong signature (WooCommerce's `X-WC-Webhook-Signature`, or Shoper's `X-Webhook-SHA1` when
that header is present — either needs the integration's secret); 200 `replay` for a replay
(the same topic and signature seen in the last REPLAY_WINDOW: nothing is poked, but a shop
that retries a delivery whose answer it lost must not count it as a failure and disable the
webhook); 200 otherwise — also for WooCommerce's creation ping (it needs exactly 200) and for
an integration the schedule does not run automatically (a 4xx would only get the webhook
disabled). Nothing is written for a refused hook but a counter, and never a traceback; a
valid hook also records `last_received_at`, at most once per TOUCH_EVERY per integration and
after the answer has gone.

Coalescing: a run must start at least SETTLE after a hook, or its read window (which ends
END_LAG before it starts, in whole seconds) stops short of the order the hook announced. So
the publish waits until the last hook of a burst has settled (at most MAX_WAIT after the
first): a burst is one run. A message queued and not yet started then covers every hook so
far; a run under way may have read the shop before them, so one more is asked for when it
ends — at most two runs per burst. Publishing goes through the tick's own claim, so two
receivers (or the tick) can never queue the same row twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from dramatiq.broker import Broker
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.webhooks import store
from app.webhooks.signatures import SHOPER_SIGNATURE, WOO_SIGNATURE, valid
from producers.tick import PublishFailed, publish_due
from shared.control.registry import Registry
from shared.control.schedule import Poke, ScheduleConfig, now_s, poke
from shared.errors import UserError
from shared.operation import Operation
from shared.telemetry.metrics import WEBHOOKS
from workers.engine.watermarks import END_LAG

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
REPLAY_WINDOW = 600.0  # seconds a (topic, signature) pair is remembered
LOOKUP_TTL = 30.0  # seconds a token's row is cached (a re-registered token works within it)
#: A run reads orders modified up to END_LAG before it starts, in whole seconds: one started
#: sooner after the hook would stop short of the very order the hook announced.
SETTLE = END_LAG.total_seconds() + 1.0
MAX_WAIT = 10.0  # seconds from an integration's first pending hook to its publish, at most
#: `last_received_at` is written at most this often per integration (not one write per hook).
TOUCH_EVERY = 5.0

Key = tuple[int, int]  # (tenant id, integration id)


@dataclass
class Limits:
    """Tunable per receiver; the defaults let a burst of 100 orders (200 hooks) through."""

    debounce: float = 1.0
    rate_per_second: float = 50.0
    burst: float = 300.0


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class Receiver:
    registry: Registry
    broker: Broker
    limits: Limits = field(default_factory=Limits)
    config: ScheduleConfig = field(default_factory=ScheduleConfig.from_env)
    #: key -> (first hook, latest hook + wait_s), monotonic; one entry however many hooks came.
    pending: dict[Key, tuple[float, float]] = field(default_factory=dict)
    buckets: dict[str, _Bucket] = field(default_factory=dict)
    seen: OrderedDict[str, float] = field(default_factory=OrderedDict)
    hooks: dict[str, tuple[float, int, store.Hook | None]] = field(default_factory=dict)
    touched: dict[Key, float] = field(default_factory=dict)  # key -> last write, monotonic
    flushing: int = 0  # publishes under way (see idle)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def idle(self) -> bool:
        """Nothing waiting to be published and no publish under way."""
        return not self.pending and self.flushing == 0

    # -- the checks ----------------------------------------------------------------------------

    def allow(self, token: str, now: float) -> bool:
        bucket = self.buckets.get(token)
        if bucket is None:
            if len(self.buckets) > 10_000:  # forget idle buckets rather than grow without end
                self.buckets.clear()
            bucket = self.buckets[token] = _Bucket(self.limits.burst, now)
        bucket.tokens = min(self.limits.burst,
                            bucket.tokens + (now - bucket.at) * self.limits.rate_per_second)
        bucket.at = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def replayed(self, key: str, now: float) -> bool:
        while self.seen and next(iter(self.seen.values())) < now - REPLAY_WINDOW:
            self.seen.popitem(last=False)
        if key in self.seen:
            return True
        self.seen[key] = now
        return False

    def lookup(self, token: str, tenant_id: int, now: float) -> store.Hook | None:
        """The token's row (cached LOOKUP_TTL; unknown tokens too, so a flood of made-up
        tokens for one tenant costs one query per token per TTL). Runs in a thread."""
        cached = self.hooks.get(token)
        if cached is not None and cached[0] > now:
            return cached[2]
        tenant = self.registry.get_by_id(tenant_id)
        hook = None
        if tenant is not None:
            with self.registry.tenant_engine(tenant).connect() as conn:
                hook = store.find(conn, self.registry.box, token)
        if len(self.hooks) > 10_000:
            self.hooks.clear()
        self.hooks[token] = (now + LOOKUP_TTL, tenant_id, hook)
        return hook

    # -- the poke and the publisher ------------------------------------------------------------

    def record(self, key: Key, settle: float = SETTLE) -> Poke:
        """Make the row due once the announced order is inside a run's window (in a thread);
        what it found decides whether to publish."""
        with self.registry.engine.begin() as conn:
            return poke(conn, key[0], key[1], Operation.IMPORT_ORDERS,
                        now_s() + timedelta(seconds=settle), config=self.config)

    def due_touch(self, key: Key, now: float) -> bool:
        """Whether this hook should write `last_received_at` (one write per TOUCH_EVERY)."""
        if self.touched.get(key, now - TOUCH_EVERY) > now - TOUCH_EVERY:
            return False
        if len(self.touched) > 10_000:
            self.touched.clear()
        self.touched[key] = now
        return True

    def touch(self, key: Key) -> None:
        """Write `last_received_at` (in a thread, after the answer went); a failure only logs:
        the column is for people, the poke already happened."""
        try:
            tenant = self.registry.get_by_id(key[0])
            if tenant is not None:
                with self.registry.tenant_engine(tenant).begin() as conn:
                    store.touch(conn, key[1], now_s())
        except (SQLAlchemyError, OSError, UserError) as exc:
            log.warning("webhook last_received_at for tenant %s: %s", key[0], exc)

    @property
    def wait_s(self) -> float:
        # +1: now_s() truncates, so the due second is reached only a full second later.
        return max(self.limits.debounce, SETTLE + 1.0)

    def after(self, key: Key, found: Poke, now: float) -> None:
        """Arm the key: a run must start no sooner than wait_s after this hook (its order is
        then inside the run's window). Every hook pushes that moment on (a burst is one run),
        but never more than MAX_WAIT after the first, so a steady stream cannot starve it."""
        if found is Poke.OFF:
            return
        first, _ = self.pending.get(key, (now, 0.0))
        self.pending[key] = (first, now + self.wait_s)
        self.wake.set()

    @staticmethod
    def _when(first: float, latest: float) -> float:
        return min(latest, first + MAX_WAIT)

    def flush(self, key: Key, latest: float) -> None:
        """Publish the row (in a thread) through the tick's own claim. A message already queued
        and not started runs after every hook so far: nothing more to do. A run under way may
        have read the shop before them: ask again after it."""
        found = self.record(key, settle=0.0)  # wait_s has passed since the last hook
        if found is Poke.DUE:
            try:
                publish_due(self.registry.engine, self.broker, now_s(), self.config,
                            tenant_id=key[0])
            except PublishFailed:  # the row is due again: the next poke or tick sends it
                log.warning("webhook publish for tenant %s failed; the tick will send it", key[0])
        now = time.monotonic()
        if found is Poke.RUNNING:
            latest = max(latest, now + self.wait_s)
        if latest > now:  # hooks came after the cap: one more run for them
            first, newer = self.pending.get(key, (now, latest))
            self.pending[key] = (first, max(newer, latest))

    async def publisher(self) -> None:
        while True:
            now = time.monotonic()
            ready = [(key, latest) for key, (first, latest) in self.pending.items()
                     if self._when(first, latest) <= now]
            for key, latest in ready:
                del self.pending[key]
                self.flushing += 1
                try:
                    await run_in_threadpool(self.flush, key, latest)
                except (SQLAlchemyError, OSError, UserError) as exc:
                    # The schedule row stays due: the tick publishes it within a minute.
                    log.warning("webhook publish for tenant %s: %s", key[0], exc)
                finally:
                    self.flushing -= 1
            self.wake.clear()
            soonest = min((self._when(*times) for times in self.pending.values()),
                          default=now + 3600)
            try:
                await asyncio.wait_for(self.wake.wait(),
                                       timeout=max(0.01, soonest - time.monotonic()))
            except TimeoutError:
                pass

    # -- the endpoint ----------------------------------------------------------------------------

    async def hook(self, request: Request) -> Response:
        token = request.path_params["token"]
        result, status, received = await self._hook(request, token)
        WEBHOOKS.labels(result).inc()
        later = None if received is None else BackgroundTask(self.touch, received)
        return JSONResponse({"result": result}, status_code=status, background=later)

    async def _hook(self, request: Request, token: str) -> tuple[str, int, Key | None]:
        """(result, HTTP status, the key whose `last_received_at` to write now or None)."""
        tenant_id = store.tenant_of_token(token)
        if tenant_id is None:
            return "unknown", 404, None
        now = time.monotonic()
        if not self.allow(token, now):
            return "rate_limited", 429, None
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            return "too_large", 413, None
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return "too_large", 413, None
        try:
            hook = await run_in_threadpool(self.lookup, token, tenant_id, now)
        except (SQLAlchemyError, OSError, UserError) as exc:
            log.warning("webhook token lookup for tenant %s: %s", tenant_id, exc)
            return "unavailable", 503, None
        if hook is None:
            return "unknown", 404, None
        unsigned = WOO_SIGNATURE not in request.headers and SHOPER_SIGNATURE not in request.headers
        if unsigned and bytes(body).startswith(b"webhook_id="):
            return "ping", 200, None  # WooCommerce's creation ping: unsigned, needs exactly 200
        good, signature = valid(hook.secret, bytes(body), request.headers)
        if not good:
            return "bad_signature", 401, None
        topic = request.headers.get("x-wc-webhook-topic") or request.headers.get(
            "x-webhook-name", "")
        seen = f"{tenant_id}:{topic}:{signature}"
        if self.replayed(seen, now):
            return "replay", 200, None
        key = (tenant_id, hook.integration_id)
        try:
            found = await run_in_threadpool(self.record, key)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("webhook poke for tenant %s: %s", tenant_id, exc)
            self.seen.pop(seen, None)  # the shop may send it again: that is no replay
            return "unavailable", 503, None
        self.after(key, found, time.monotonic())
        return found.value, 200, key if self.due_touch(key, now) else None


async def _health(request: Request) -> Response:
    return Response("ok\n", media_type="text/plain")


def create_app(registry: Registry, broker: Broker, limits: Limits | None = None) -> Starlette:
    receiver = Receiver(registry, broker, limits or Limits())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        receiver.wake = asyncio.Event()  # bound to the serving loop
        task = asyncio.create_task(receiver.publisher())
        try:
            yield
        finally:
            task.cancel()

    app = Starlette(
        routes=[Route("/hooks/{token}", receiver.hook, methods=["POST"]),
                Route("/health", _health)],
        lifespan=lifespan,
    )
    app.state.receiver = receiver
    return app

