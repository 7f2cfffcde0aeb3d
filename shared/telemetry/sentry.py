"""Sentry for ops: initialised before the broker, tagged per run, scrubbed of every secret.

`sentry_sdk.init` with the dramatiq integration must run before the broker is built (the
integration patches `Broker.__init__`). The dramatiq integration copies whole messages into
`contexts.dramatiq.data` and the default scrubber does not look there; our messages carry ids
only, but `before_send` still deletes that copy and masks anything that looks like a secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.dramatiq import DramatiqIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber
from sentry_sdk.transport import Transport

from shared.redact import redact_obj

DENYLIST = [
    *DEFAULT_DENYLIST,
    "pwd", "conn_str", "connection_string", "db_url", "db_password", "api_secret",
    "consumer_key", "consumer_secret", "access_token", "broker_url", "dsn",
]
# Exceptions that are outcomes, not bugs: recorded in the history, not reported.
IGNORED = ["dramatiq.middleware.shutdown.Shutdown"]


def scrub_event(event: dict[str, Any], _hint: dict[str, Any] | None = None) -> dict[str, Any]:
    contexts = event.get("contexts") or {}
    dramatiq_ctx = contexts.get("dramatiq")
    if isinstance(dramatiq_ctx, dict):
        dramatiq_ctx.pop("data", None)
    return redact_obj(event)


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


@contextmanager
def run_scope(tenant: str, integration_id: int, operation: str) -> Iterator[None]:
    """Tag everything reported inside with the tenant, integration and operation."""
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("tenant", tenant)
        scope.set_tag("integration", str(integration_id))
        scope.set_tag("operation", operation)
        yield


def report_failed_run(tenant: str, integration_id: int, operation: str, error: str) -> None:
    """A run that failed for a reason the engine caught (shop down, lease lost): one event."""
    with run_scope(tenant, integration_id, operation):
        sentry_sdk.capture_message(f"{operation} failed: {error}", level="error")
