"""The clock: periodiq sends `tick` once a minute on the `ticks` queue; the tick serves that
minute's slots (a pass on the minute, then at :15, :30 and :45: producers.tick.run_minute).

Import this module in the producer (it finds the periodic actor) and in the tick worker group
(it runs it, and the per-tenant `refresh_settings` messages the tick fans out). Both actors are
thin: the work is in producers.tick and shared.control.refresh.
"""

from __future__ import annotations

import dramatiq
from periodiq import cron

from producers.tick import refresh_and_publish, run_minute
from shared.broker import ensure_broker
from shared.control.runtime import get_registry
from shared.jobs import REFRESH_ACTOR, SETTINGS, TICK_ACTOR, TICKS
from shared.lifecycle import stopping

ensure_broker()  # the periodiq middleware must be on the broker before `periodic` is used

#: Every minute, on the minute. Never a day-of-week spec: periodiq 0.14 cannot fire on Sundays.
EVERY_MINUTE = "* * * * *"


@dramatiq.actor(
    actor_name=TICK_ACTOR,
    queue_name=TICKS,
    periodic=cron(EVERY_MINUTE),
    max_retries=0,  # the next minute's tick is the retry
    time_limit=5 * 60 * 1000,
)
def tick() -> None:
    run_minute(get_registry(), tick.broker, wait=stopping.wait)


@dramatiq.actor(actor_name=REFRESH_ACTOR, queue_name=SETTINGS, max_retries=1,
                time_limit=5 * 60 * 1000)
def refresh_settings(tenant_id: int) -> None:
    refresh_and_publish(get_registry(), refresh_settings.broker, tenant_id)
