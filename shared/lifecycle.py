"""The process's stop flag, set once its dramatiq worker has been asked to stop.

workers.middleware.GracefulStop sets it (one dramatiq Worker per process); a sync run checks it
at each item boundary, and the tick's later passes of a minute wait on it, so a stopping tick
worker returns at once instead of sleeping out the minute.
"""

from __future__ import annotations

import threading

stopping = threading.Event()
