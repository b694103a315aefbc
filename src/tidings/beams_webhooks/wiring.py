"""Build the Beams webhook listener over the real storage and the outbox, and start it.

`tidings serve` and `tidings worker` both start one (through webhooks/wiring.py): reports (Acknowledgement, Open)
are emitted where the reporting API runs, publish results (PublishToUsersAttempt) where the delivery workers run,
and each process only sees its own event stream.

    task = start_listener(stream, storage, outbox)   # subscribes to the stream, runs until cancelled
"""

from __future__ import annotations

import asyncio

from tidings.beams.models import Instance
from tidings.beams_webhooks.listener import BeamsWebhooks
from tidings.events import EventStream
from tidings.storage import Storage
from tidings.ttlcache import TTLCache
from tidings.webhooks.outbox import Sink


def build_listener(
    storage: Storage, outbox: Sink, *, instances: TTLCache[Instance] | None = None, cache_ttl: float = 5.0
) -> BeamsWebhooks:
    """A listener reading settings through `instances` (the web layer's cache when given: CLI changes show
    within its TTL)."""
    cache = instances or TTLCache(storage.instances.get, cache_ttl)

    async def user_devices(instance_id: str, user_id: str) -> int:
        return sum((await storage.devices.count_for_user(instance_id, user_id)).values())

    return BeamsWebhooks(
        cache.get, storage.publishes.get, storage.devices.get, user_devices, outbox,
        routes=storage.delivery.routes.routes,
    )


def start_listener(
    stream: EventStream, storage: Storage, outbox: Sink, *, instances: TTLCache[Instance] | None = None
) -> asyncio.Task[None]:
    """Subscribe a listener to `stream` and run it; cancel the task to stop."""
    listener = build_listener(storage, outbox, instances=instances)
    stream.subscribe(listener.on_event)
    return asyncio.get_running_loop().create_task(listener.run(), name="beams-webhooks")
