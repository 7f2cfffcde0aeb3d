"""Our dramatiq middleware, one concern per module (in the style of dramatiq/middleware)."""

from workers.middleware.delivery_limit import DeliveryLimit
from workers.middleware.graceful_stop import GracefulStop, StopRequested
from workers.middleware.heartbeat import WorkerHeartbeat
from workers.middleware.metrics import Metrics
from workers.middleware.prefetch import PrefetchFit

__all__ = [
    "DeliveryLimit", "GracefulStop", "Metrics", "PrefetchFit", "StopRequested", "WorkerHeartbeat",
]
