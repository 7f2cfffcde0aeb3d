"""Our dramatiq middleware, one concern per module (in the style of dramatiq/middleware)."""

from workers.middleware.delivery_limit import DeliveryLimit
from workers.middleware.graceful_stop import GracefulStop, StopRequested, stopping
from workers.middleware.heartbeat import WorkerHeartbeat
from workers.middleware.metrics import Metrics

__all__ = [
    "DeliveryLimit", "GracefulStop", "Metrics", "StopRequested", "WorkerHeartbeat", "stopping",
]
