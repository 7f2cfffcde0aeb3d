"""Sentry for ops: initialised before the broker, tagged per run, scrubbed of every secret.

`sentry_sdk.init` with the dramatiq integration must run before the broker is built (the
integration patches `Broker.__init__`). The dramatiq integration copies whole messages into
`contexts.dramatiq.data` and the default scrubber does not look there; our messages carry ids
only, but `before_send` still deletes that copy and masks anything that looks like a secret.

One failing run, one event. The actor wraps the run in `run_scope`, so everything reported
inside carries the tenant, integration and operation tags. A run that failed for a reason the
engine caught is reported by `report_failed_run` (or, when it opened an alert episode, by
`report_alert` instead); an exception that escapes the actor is reported by the dramatiq
integration alone, after the actor returned and `run_scope` closed, so `run_scope` leaves its
tags on the exception and `scrub_event` puts them on that event.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import sentry_sdk
from sentry_sdk.integrations.dramatiq import DramatiqIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber
from sentry_sdk.transport import Transport
from sentry_sdk.types import Event, Hint

from shared.redact import redact_obj

DENYLIST = [
    *DEFAULT_DENYLIST,
    "pwd", "conn_str", "connection_string", "db_url", "db_password", "api_secret",
    "consumer_key", "consumer_secret", "access_token", "broker_url", "dsn",
]
# Exceptions that are outcomes, not bugs: recorded in the history, not reported.
IGNORED = ["dramatiq.middleware.shutdown.Shutdown"]


#: The attribute on an exception escaping `run_scope` that carries the run's tags.
RUN_TAGS_ATTR = "_iluo_sync_run_tags"


def scrub_event(event: Event, hint: Hint | None = None) -> Event:
    contexts = event.get("contexts") or {}
    dramatiq_ctx = contexts.get("dramatiq")
    if isinstance(dramatiq_ctx, dict):
        dramatiq_ctx.pop("data", None)
    exc_info = (hint or {}).get("exc_info")
    carried = getattr(exc_info[1], RUN_TAGS_ATTR, None) if exc_info else None
    if isinstance(carried, dict):
        tags = event.get("tags")
        event["tags"] = {**carried, **tags} if isinstance(tags, dict) else dict(carried)
    return cast(Event, redact_obj(event))


def init_sentry(
    dsn: str | None,
    *,
    transport: Transport | None = None,
    environment: str | None = None,
    release: str | None = None,
) -> bool:
    """Initialise Sentry when a DSN (or a test transport) is given; returns whether it is on."""
    if not dsn and transport is None:
        return False
    sentry_sdk.init(
        dsn=dsn or "https://public@sentry.invalid/1",
        transport=transport,
        environment=environment,
        release=release,
        integrations=[DramatiqIntegration(), LoggingIntegration(event_level=None)],
        include_local_variables=False,
        max_request_body_size="never",
        event_scrubber=EventScrubber(denylist=DENYLIST, recursive=True),
        before_send=scrub_event,
        ignore_errors=IGNORED,
    )
    return True


def run_tags(tenant: str, integration_id: int, operation: str) -> dict[str, str]:
    return {"tenant": tenant, "integration": str(integration_id), "operation": operation}


@contextmanager
def run_scope(tenant: str, integration_id: int, operation: str) -> Iterator[None]:
    """Tag everything reported inside with the tenant, integration and operation; an exception
    leaving the block takes the tags along for whoever reports it outside (see above)."""
    tags = run_tags(tenant, integration_id, operation)
    with sentry_sdk.new_scope() as scope:
        scope.set_tags(tags)
        try:
            yield
        except BaseException as exc:
            if not hasattr(exc, RUN_TAGS_ATTR):  # the innermost scope names the run
                try:
                    setattr(exc, RUN_TAGS_ATTR, tags)
                except AttributeError:  # an exception type with __slots__: untagged, still sent
                    pass
            raise


def report_failed_run(tenant: str, integration_id: int, operation: str, error: str) -> None:
    """A run that failed for a reason the engine caught (shop down, lease lost): one event,
    grouped per tenant, integration and operation (error texts vary: ids, times)."""
    with run_scope(tenant, integration_id, operation), sentry_sdk.new_scope() as scope:
        scope.fingerprint = ["iluo-sync-run-failed", tenant, str(integration_id), operation]
        sentry_sdk.capture_message(f"{operation} failed: {error}", level="error")


def report_alert(tenant: str, integration_id: int, operation: str, reason: str, text: str) -> None:
    """An alert (shared.control.alerts): one event per episode, its own issue per reason."""
    with run_scope(tenant, integration_id, operation), sentry_sdk.new_scope() as scope:
        scope.set_tag("alert", reason)
        scope.fingerprint = ["iluo-sync-alert", reason, tenant, str(integration_id), operation]
        sentry_sdk.capture_message(f"alert: tenant {tenant}: {text}", level="error")
