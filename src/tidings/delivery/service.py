"""Delivery as a process runs it: providers built from the settings, a pool of workers, and a clean stop.

`tidings serve` starts `settings.delivery_workers` of them beside the HTTP server (0: none, run
`tidings worker` instead); `tidings worker` starts at least one and nothing else.
"""

from __future__ import annotations

import logging

from tidings.beams.models import Platform
from tidings.config import Settings
from tidings.delivery.policy import DeliveryConfig
from tidings.delivery.pool import WorkerPool
from tidings.delivery.routing import UserChannels
from tidings.events import EventStream
from tidings.outbox.keeper import OutboxKeeper
from tidings.providers.base import Provider
from tidings.providers.registry import build_providers, close_providers
from tidings.storage import Storage

log = logging.getLogger("tidings.delivery")

# Seconds a stopping worker gets to finish its sends in flight (a gateway request times out in about 10).
STOP_GRACE = 15.0


class DeliveryService:
    def __init__(self, pool: WorkerPool, providers: dict[Platform, Provider]) -> None:
        self.pool = pool
        self.providers = providers

    async def wait(self) -> None:
        await self.pool.wait()

    async def close(self, grace: float = STOP_GRACE) -> None:
        """Stop the workers (their publishes go back to the queue) and close the gateway connections."""
        await self.pool.stop(grace)
        await close_providers(self.providers)


def start_delivery(
    settings: Settings,
    storage: Storage,
    stream: EventStream,
    *,
    workers: int | None = None,
    channels: UserChannels | None = None,
) -> DeliveryService:
    """Start `workers` (default `settings.delivery_workers`) delivery workers on the running loop. `channels`
    (the hub, through routing.HubChannels) lets them route publishes carrying `channels` to signed-in users;
    without it every user of such a publish is pushed."""
    count = settings.delivery_workers if workers is None else workers
    keeper = OutboxKeeper(storage.outbox, max_per_instance=settings.outbox_max_notifications,
                          retention=settings.outbox_retention, stream=stream)
    providers = build_providers(settings, storage.gateway_tokens, outbox=keeper) if count else {}
    pool = WorkerPool(
        storage, providers, count, DeliveryConfig.from_settings(settings), stream=stream, channels=channels
    )
    pool.start()
    return DeliveryService(pool, providers)
