"""Beams delivery: workers that take stored publishes off the queue and push them to every target device.

    delivery = start_delivery(settings, storage, stream)   # settings.delivery_workers workers, real providers
    ...
    await delivery.close()                                 # in-flight sends recorded, the rest given back

See worker.py for the scheduling and the guarantees (at least once, across crashes; bounded duplicates).
"""

from tidings.delivery.policy import DeliveryConfig, backoff
from tidings.delivery.pool import WorkerPool
from tidings.delivery.routing import HubChannels, UserChannels
from tidings.delivery.service import DeliveryService, start_delivery
from tidings.delivery.worker import DeliveryWorker, new_worker_id

__all__ = [
    "DeliveryConfig",
    "DeliveryService",
    "DeliveryWorker",
    "HubChannels",
    "UserChannels",
    "WorkerPool",
    "backoff",
    "new_worker_id",
    "start_delivery",
]
