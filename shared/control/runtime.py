"""The registry of a service process: built on first use, once per process.

Actors and middleware run in dramatiq's forked worker processes, where a connection pool made
before the fork must not be reused; so the registry is created lazily and again after a fork.
The demo and tests install their own with `use_registry`.
"""

from __future__ import annotations

import os
import threading

from shared.control.registry import Registry

_lock = threading.Lock()
_registry: Registry | None = None
_pid: int | None = None


def get_registry() -> Registry:
    global _registry, _pid
    with _lock:
        if _registry is None or _pid != os.getpid():
            _registry = Registry()
            _pid = os.getpid()
        return _registry


def use_registry(registry: Registry | None) -> None:
    """Install `registry` for this process (None: build from settings on next use)."""
    global _registry, _pid
    with _lock:
        _registry, _pid = registry, os.getpid() if registry is not None else None
