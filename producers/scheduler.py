"""`iluo-sync producer`: periodiq's own Scheduler, made to survive a broker outage.

periodiq's entry point exits with "Unhandled error" when a send fails (dramatiq gives up after
six attempts), which would leave the service without a clock until something restarts it. A
tick is not precious — the schedule lives in the control DB and the next tick catches up — so
our Scheduler logs a failed send and goes on; dramatiq reconnects at the next send.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

import pendulum
from dramatiq.broker import Broker
from periodiq import Scheduler

log = logging.getLogger(__name__)


class ResilientScheduler(Scheduler):  # type: ignore[misc]  # periodiq has no type hints
    """periodiq's Scheduler whose failed sends are logged, not fatal."""

    def send_actors(self, actors: list[Any], now: Any) -> None:
        for actor in actors:
            try:
                actor.send_with_options(scheduled_at=str(now))
                log.info("sent %s for %s", actor.actor_name, now)
            except Exception as exc:
                log.error("could not send %s for %s (%s: %s); the next one catches up",
                          actor.actor_name, now, type(exc).__name__, exc)


def periodic_actors(broker: Broker) -> list[Any]:
    return [actor for actor in broker.actors.values() if "periodic" in actor.options]


def run_clock(broker: Broker) -> int:
    """Send each periodic actor on its cron spec until SIGTERM/SIGINT. Main thread only
    (periodiq sleeps with signal.alarm)."""
    actors = periodic_actors(broker)
    if not actors:
        log.error("no periodic actor to schedule")
        return 1

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    scheduler = ResilientScheduler(actors=actors)
    for actor in actors:
        log.info("clock: %s on %s every '%s'", actor.actor_name, actor.queue_name,
                 actor.options["periodic"])
    if pendulum.now().second > 55:  # as periodiq does: a start late in a minute waits for the next
        time.sleep(60 - pendulum.now().second)
    try:
        scheduler.schedule()  # fires the current minute at once
        scheduler.loop()
    except (SystemExit, KeyboardInterrupt):
        log.info("clock stopped")
    finally:
        broker.close()
    return 0
