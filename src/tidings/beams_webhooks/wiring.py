"""Build the Beams webhook sender over the real storage and HTTP client, and start it.

Both `tidings serve` and `tidings worker` call `start_sender`: reports (Acknowledgement, Open) are emitted where
the reporting API runs, publish results (PublishToUsersAttempt) where the delivery workers run, and each process
only sees its own event stream.

    http = aiohttp.ClientSession()
    task = start_sender(stream, storage, http, metrics=metrics)   # subscribes to the stream, runs until cancelled
    ...
    task.cancel()
"""

from __future__ import annotations

import asyncio

import aiohttp

from tidings.beams.models import Instance
from tidings.beams_webhooks.sender import BeamsWebhookSender, Post
from tidings.metrics import Metrics
from tidings.realtime.events import EventStream
from tidings.storage import Storage
from tidings.ttlcache import TTLCache


def aiohttp_post(http: aiohttp.ClientSession) -> Post:
    async def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        # No redirects: Pusher counts any non-2xx as a failure, and a redirect must not carry the body elsewhere.
        async with http.post(
            url, data=body, headers=headers, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            return response.status

    return post


def build_sender(
    storage: Storage,
    http: aiohttp.ClientSession,
    *,
    instances: TTLCache[Instance] | None = None,
    metrics: Metrics | None = None,
    cache_ttl: float = 5.0,
) -> BeamsWebhookSender:
    """A sender reading settings through `instances` (the web layer's cache when given: CLI changes show
    within its TTL) and reporting to `metrics`."""
    cache = instances or TTLCache(storage.instances.get, cache_ttl)

    async def user_devices(instance_id: str, user_id: str) -> int:
        return sum((await storage.devices.count_for_user(instance_id, user_id)).values())

    return BeamsWebhookSender(
        cache.get,
        storage.publishes.get,
        storage.devices.get,
        user_devices,
        aiohttp_post(http),
        on_drop=(lambda reason: metrics.beams_webhooks_dropped.labels(reason).inc()) if metrics else None,
        on_sent=(lambda status: metrics.beams_webhooks_sent.labels(str(status)).inc()) if metrics else None,
    )


def start_sender(
    stream: EventStream,
    storage: Storage,
    http: aiohttp.ClientSession,
    *,
    instances: TTLCache[Instance] | None = None,
    metrics: Metrics | None = None,
) -> asyncio.Task[None]:
    """Subscribe a sender to `stream` and run it; cancel the task to stop (pending retries are abandoned)."""
    sender = build_sender(storage, http, instances=instances, metrics=metrics)
    stream.subscribe(sender.on_event)
    return asyncio.get_running_loop().create_task(sender.run(), name="beams-webhooks")
