"""POSTing an alert as JSON to the operator's webhook (ILUO_SYNC_ALERT_WEBHOOK).

A webhook is a courtesy, never a dependency: a short timeout, no retries (the alert is already
in the history, the log and Sentry), redirects not followed, and any failure is one log line.
Webhook URLs often carry their token in the path or query (Slack, Teams), so a log line names
the host only.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)

#: Seconds for connect, read, write and pool: a slow receiver must not hold a worker thread.
TIMEOUT = httpx.Timeout(5.0)


def shown(url: str) -> str:
    """The URL as it may appear in a log: scheme and host, nothing that could be a token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}"


def post_alert(url: str, payload: dict[str, Any], *, timeout: httpx.Timeout = TIMEOUT) -> bool:
    """Send one alert; True when the receiver answered 2xx. Never raises."""
    try:
        response = httpx.post(url, json=payload, timeout=timeout, follow_redirects=False,
                              headers={"User-Agent": "iluo-sync"})
    except Exception as exc:  # the receiver is down or the URL is wrong: say so and go on
        log.warning("alert webhook %s failed: %s", shown(url), type(exc).__name__)
        return False
    if not response.is_success:
        log.warning("alert webhook %s answered HTTP %s", shown(url), response.status_code)
        return False
    return True
