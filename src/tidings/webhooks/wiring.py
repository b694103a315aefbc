"""Start the webhook outbox and the products' webhook listeners on one event stream (`serve`, `worker`).

    webhooks = start_webhooks(stream, storage, metrics=metrics, apps=ctx.registry.known, instances=ctx.instances)
    ...
    await webhooks.close()

`apps` is None where no Channels runtime runs (`tidings worker`): only Beams webhooks are sent there.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import aiohttp

from tidings.beams import events as bev
from tidings.beams.models import Instance
from tidings.beams_webhooks.wiring import start_listener
from tidings.events import Event, EventStream
from tidings.metrics import Metrics
from tidings.realtime import events as cev
from tidings.storage import Storage
from tidings.ttlcache import TTLCache
from tidings.webhooks.channels import AppLookup, ChannelsWebhooks
from tidings.webhooks.outbox import Limits, Target, identity
from tidings.webhooks.runner import OutboxRunner, aiohttp_post


@dataclass
class Webhooks:
    outbox: OutboxRunner
    http: aiohttp.ClientSession
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        """Stop listening and sending; requests still queued or waiting to retry are abandoned."""
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.http.close()


def start_webhooks(
    stream: EventStream,
    storage: Storage,
    *,
    metrics: Metrics | None = None,
    apps: AppLookup | None = None,
    instances: TTLCache[Instance] | None = None,
    limits: Limits | None = None,
) -> Webhooks:
    # A session of its own without aiohttp's default pool (100 connections over all hosts): a shared pool is a
    # shared limit, and slow endpoints filling it would delay every other target. The outbox bounds the
    # connections per target instead.
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    outbox = OutboxRunner(
        aiohttp_post(http),
        limits=limits,
        on_drop=metrics.webhook_dropped if metrics else None,
        on_sent=metrics.webhook_sent if metrics else None,
        on_answer=lambda target, status, events: stream.emit(_sent_event(target, status, events)),
    )
    if metrics is not None:
        metrics.watch_outbox(outbox.outbox)
    loop = asyncio.get_running_loop()
    webhooks = Webhooks(outbox, http, [loop.create_task(outbox.run(), name="webhook-outbox")])
    if apps is not None:
        channels = ChannelsWebhooks(apps, outbox)
        stream.subscribe(channels.on_event)
        webhooks.tasks.append(loop.create_task(channels.run(), name="channels-webhooks"))
    webhooks.tasks.append(start_listener(stream, storage, outbox, instances=instances))
    return webhooks


def _sent_event(target: Target, status: int, events: int) -> Event:
    """What the stream (the console) is told of an answered request: the URL's host only, never its credentials."""
    if target.product == "beams":
        return bev.BeamsWebhookSent(target.scope, identity(target.url), status, events)
    return cev.WebhookSent(target.scope, identity(target.url), status, events)
