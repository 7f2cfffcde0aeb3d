"""Queue depths from the RabbitMQ management API (ILUO_SYNC_RABBITMQ_API), for `status`.

dramatiq gives every queue two companions: `Q.DQ` holds delayed messages (retries waiting for
their backoff, kept unacked in worker memory) and `Q.XQ` the dead letters (failed for good, or
parked by DeliveryLimit; RabbitMQ drops them after 7 days). One GET lists them all for the
broker URL's vhost.

The API URL usually carries the management user's password: it is taken out of the URL and
sent as HTTP Basic auth, and every text this module returns shows the URL with `***` instead.
One short timeout; an unreachable API is an answer (`reachable=False` and one line), never a
traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from shared.redact import redact, register_secret

#: Seconds for the whole request: `status` is a health check and must answer quickly.
TIMEOUT = httpx.Timeout(5.0)
COLUMNS = "name,messages,messages_ready,messages_unacknowledged,consumers"


@dataclass(frozen=True, slots=True)
class QueueDepth:
    name: str
    declared: bool
    ready: int = 0
    unacked: int = 0
    consumers: int = 0
    delayed: int = 0  # messages in `name.DQ`
    dead: int = 0  # messages in `name.XQ`


@dataclass(slots=True)
class BrokerQueues:
    api: str  # the API URL as it may be shown (no password)
    vhost: str
    reachable: bool
    error: str | None = None
    queues: list[QueueDepth] = field(default_factory=list)

    @property
    def dead_letters(self) -> int:
        return sum(q.dead for q in self.queues)

    def to_dict(self) -> dict[str, Any]:
        return {
            "api": self.api, "vhost": self.vhost, "reachable": self.reachable,
            "error": self.error, "dead_letters": self.dead_letters,
            "queues": [asdict(q) for q in self.queues],
        }


def split_credentials(api_url: str) -> tuple[str, tuple[str, str] | None, str]:
    """(URL without user info, (user, password) or None, URL safe to show)."""
    parts = urlsplit(api_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    bare = urlunsplit(parts._replace(netloc=netloc))
    if parts.username is None:
        return bare, None, bare
    user, password = unquote(parts.username), unquote(parts.password or "")
    register_secret(password)
    shown = urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:***@{netloc}"))
    return bare, (user, password), shown


def vhost_of(broker_url: str) -> str:
    """The vhost an AMQP URL names: its path, `/` when empty (pika's rule)."""
    path = urlsplit(broker_url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def read_queues(
    api_url: str,
    broker_url: str,
    queues: Sequence[str],
    *,
    timeout: httpx.Timeout = TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> BrokerQueues:
    bare, auth, shown = split_credentials(api_url)
    vhost = vhost_of(broker_url)
    answer = BrokerQueues(api=shown, vhost=vhost, reachable=False)
    url = f"{bare.rstrip('/')}/queues/{quote(vhost, safe='')}"
    try:
        with httpx.Client(timeout=timeout, transport=transport, follow_redirects=False) as client:
            response = client.get(url, params={"columns": COLUMNS}, auth=auth)
    except httpx.HTTPError as exc:
        answer.error = redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        return answer
    if response.status_code == 404:  # the vhost does not exist (yet): nothing declared
        answer.reachable = True
        answer.queues = [QueueDepth(name, declared=False) for name in queues]
        return answer
    if response.status_code != 200:
        hint = " (wrong user or password?)" if response.status_code in (401, 403) else ""
        answer.error = f"HTTP {response.status_code}{hint}"
        return answer
    try:
        listed = {q["name"]: q for q in response.json() if isinstance(q, dict) and "name" in q}
    except (ValueError, TypeError):
        answer.error = "the answer is not a JSON list of queues"
        return answer
    answer.reachable = True
    answer.queues = [_depth(name, listed) for name in queues]
    return answer


def _depth(name: str, listed: dict[str, dict[str, Any]]) -> QueueDepth:
    main = listed.get(name)

    def count(entry: dict[str, Any] | None, key: str) -> int:
        value = (entry or {}).get(key)
        return int(value) if isinstance(value, int | float) else 0

    return QueueDepth(
        name=name,
        declared=main is not None,
        ready=count(main, "messages_ready"),
        unacked=count(main, "messages_unacknowledged"),
        consumers=count(main, "consumers"),
        delayed=count(listed.get(f"{name}.DQ"), "messages"),
        dead=count(listed.get(f"{name}.XQ"), "messages"),
    )
