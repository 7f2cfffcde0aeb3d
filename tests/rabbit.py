"""A private RabbitMQ vhost for one test, made and removed through the management API.

rabbitmqctl starts an Erlang VM for every call (~0.5 s on a quiet machine, seconds on a busy
one), and each vhost took three of them; the management API (enabled by
scripts/setup-test-services.sh) answers in milliseconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

RABBIT = "amqp://guest:guest@127.0.0.1:5672/"
MANAGEMENT = "http://127.0.0.1:15672/api"


@contextmanager
def private_vhost(prefix: str) -> Iterator[str]:
    """A fresh vhost named `prefix_<random>`, guest allowed everything; deleted afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=MANAGEMENT, auth=("guest", "guest"), timeout=30) as api:
        api.put(f"/vhosts/{name}").raise_for_status()
        api.put(f"/permissions/{name}/guest",
                json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
        try:
            yield name
        finally:
            try:
                api.delete(f"/vhosts/{name}")
            except httpx.HTTPError:
                pass  # a test that stopped RabbitMQ; the vhost is an empty leftover
