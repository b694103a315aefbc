"""`tidings serve`: wire storage, hub and web layer together, run until SIGINT/SIGTERM, shut down cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from tidings.adapters import Adapter, AdapterUnavailable, open_adapter
from tidings.adapters.mailbox import DatabaseMailbox, Mailbox
from tidings.banner import app_secret_source, banner, beams_banner, console_banner, instance_secret_source, link_banner
from tidings.beams.instances import new_instance
from tidings.beams.models import Instance
from tidings.channels.apps import App
from tidings.config import Settings
from tidings.console import web as console_web
from tidings.console.setup import ConsoleRuntime, start_console
from tidings.delivery import HubChannels, queue_metrics, start_delivery
from tidings.errors import ConfigError
from tidings.events import EventStream
from tidings.metrics import Metrics
from tidings.outbox.defaults import apply_default_outbox
from tidings.realtime import drain, keepalive, remote
from tidings.realtime import mailbox as user_mailbox
from tidings.realtime.hub import Hub
from tidings.realtime.registry import AppRegistry
from tidings.storage import MailboxStore, Storage, open_storage
from tidings.storage.bootstrap import apply_default_links, ensure_default_app, ensure_default_instance
from tidings.ttlcache import TTLCache
from tidings.web.app import build_app
from tidings.web.beams.common import RateLimiter
from tidings.web.context import Context
from tidings.web.listener import Dispatch
from tidings.web.wsconn import WS_SERVER, WsServer
from tidings.webhooks.wiring import start_webhooks

log = logging.getLogger("tidings.server")


def _display_host(settings: Settings) -> str:
    if settings.public_host:
        return settings.public_host
    return "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host


@dataclass
class Stack:
    """The running server `start` returns: its context, the port it listens on, the default app and
    instance (and whether they were created now); `stop()` shuts it down as SIGINT/SIGTERM do in `serve`."""

    ctx: Context
    port: int
    app: App
    created: bool
    instance: Instance
    instance_created: bool
    stop: Callable[[], Awaitable[None]]
    console: ConsoleRuntime | None = None  # the live console, when a token is configured (or generated)
    # Set to cut a drain in progress short (a second Ctrl-C / SIGTERM): the remaining connections close now.
    hurry: asyncio.Event = field(default_factory=asyncio.Event)


async def serve(settings: Settings) -> None:
    stack = await start(settings)
    app, created, instance, instance_created = stack.app, stack.created, stack.instance, stack.instance_created
    port = stack.port
    where = "sqlite" if settings.resolved_database_url.startswith("sqlite") else "database"
    storage_desc = (
        f"SQLite file {settings.data_dir / 'tidings.db'}" if not settings.database_url and where == "sqlite"
        else "configured database"
    )
    scheme = "https" if settings.tls_cert else "http"
    host = _display_host(settings)
    print(banner(app, created=created, host=host, port=port, storage=storage_desc, tls=bool(settings.tls_cert),
                 secret_from=app_secret_source(settings)), flush=True)
    print(beams_banner(instance, created=instance_created, base_url=f"{scheme}://{host}:{port}",
                       allow_private_push=settings.push_allow_private_networks,
                       secret_from=instance_secret_source(settings)), flush=True)
    if link := link_banner(app):
        print(link, flush=True)
    if stack.console is not None:
        print(console_banner(f"{scheme}://{host}:{port}", stack.console.token), flush=True)
    log.info("listening on %s:%s", settings.host, port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal: do not wait out the drain
            loop.add_signal_handler(sig, stack.hurry.set)
    finally:
        await stack.stop()


async def start(settings: Settings) -> Stack:
    """Everything `serve` runs (storage, hub, web layer on settings.host:settings.port, where port 0 picks a
    free one, keepalive, webhooks, delivery), without the banner and the signal handlers: for `serve` and
    for tests that run the whole server in their own process."""
    storage = await open_storage(settings.resolved_database_url)
    await storage.migrate()
    app, created = await ensure_default_app(settings, storage.apps)
    instance, instance_created = await ensure_default_instance(
        settings, storage.instances, make=lambda i, k: new_instance(i, k, name="default")
    )
    app = await apply_default_links(settings, storage.apps, app, instance, created_both=created and instance_created)
    instance = await apply_default_outbox(settings, storage.instances, instance)

    stream = EventStream()
    metrics = Metrics()
    stream.subscribe(metrics.on_event)
    if settings.node_dead_after <= settings.node_heartbeat_interval:
        raise ConfigError("node_dead_after must be longer than node_heartbeat_interval")
    adapter = open_adapter(
        settings.redis_url, prefix=settings.redis_prefix, cache_ttl=settings.cache_ttl,
        heartbeat_interval=settings.node_heartbeat_interval, dead_after=settings.node_dead_after,
        timeout=settings.redis_timeout, buffer_messages=settings.bus_buffer_messages,
        buffer_bytes=settings.bus_buffer_bytes,
    )
    mailbox = _mailbox(settings, storage, adapter)
    hub = Hub(stream, adapter, mailbox=mailbox)
    try:
        await adapter.start(lambda message, own: remote.on_message(hub, message, own))
    except AdapterUnavailable as exc:
        await mailbox.close()
        await storage.close()
        raise ConfigError(f"cannot start the Redis adapter: {exc}") from exc
    ctx = Context(
        settings,
        storage,
        AppRegistry(storage.apps, settings.app_cache_ttl),
        hub,
        stream,
        metrics,
        instances=TTLCache(storage.instances.get, settings.app_cache_ttl),
        beams_rate=RateLimiter(settings.beams_publish_rate),
    )

    webhooks = start_webhooks(stream, storage, metrics=metrics, apps=ctx.registry.known, instances=ctx.instances)

    ws_server = WsServer(ctx)
    console = await start_console(settings, stream, adapter.node_id)
    application = build_app(ctx)
    if console is not None:
        console_web.register(application, console.console, console.auth)
    application[WS_SERVER] = ws_server  # for upgrades on kept-alive connections (web/ws.py)
    runner = web.AppRunner(application, access_log=None, handle_signals=False)
    await runner.setup()
    http_server = runner.server
    assert http_server is not None
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Dispatch(http_server, ws_server.handshake), settings.host, settings.port, backlog=4096,
        ssl=_tls(settings), reuse_port=settings.reuse_port or None,
    )
    sockets = list(server.sockets or ())
    port = sockets[0].getsockname()[1] if sockets else settings.port
    pinger = loop.create_task(
        keepalive.run(hub, ctx.registry, settings.activity_timeout, settings.pong_timeout, settings.app_cache_ttl)
    )
    # Beams delivery workers (settings.delivery_workers); the hub lets them route to signed-in users.
    delivery = start_delivery(settings, storage, stream, channels=HubChannels(hub))
    sweeper = loop.create_task(user_mailbox.sweep_forever(mailbox, stream))
    sampler = loop.create_task(queue_metrics.sample_forever(storage, metrics))

    hurry = asyncio.Event()

    async def stop() -> None:
        log.info("shutting down")
        ctx.shutting_down = True
        loops = (pinger, sweeper, sampler)
        for task in loops:
            task.cancel()
        # Awaited, not only cancelled: a query cancelled mid-way still cleans up its connection, and it must do so
        # before the storage closes under it (a cleanup left for later waited forever on the closed database).
        await asyncio.gather(*loops, return_exceptions=True)
        # Connections leave over drain_seconds (refused meanwhile: shutting_down), then the port closes.
        await drain.run(hub, settings.drain_seconds, settings.shutdown_grace, hurry=hurry)
        server.close()
        await ws_server.drain(5.0 + drain.HOLD)
        if console is not None:
            console.console.close_all()  # open streams end, so the HTTP server's shutdown does not wait for them
        await runner.cleanup()
        await delivery.close()  # after the HTTP server: no publish is accepted while workers wind down
        await mailbox.close()
        await adapter.close()  # after the connections: their leaves are recorded, then our share is removed
        await webhooks.close()
        if console is not None:
            await console.close()
        await storage.close()

    return Stack(ctx, port, app, created, instance, instance_created, stop, console, hurry)


def _mailbox(settings: Settings, storage: Storage, adapter: Adapter) -> Mailbox:
    """The offline user mailbox (docs/user-first-delivery.md): in Redis next to the shared counts when there is Redis,
    in the database for a single process."""
    if settings.redis_url:
        from tidings.adapters.mailbox_redis import RedisMailbox  # only scale-out setups import redis

        return RedisMailbox(settings.redis_url, prefix=settings.redis_prefix, timeout=settings.redis_timeout)
    return DatabaseMailbox(MailboxStore(storage.engine), adapter)


def _tls(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert is None and settings.tls_key is None:
        return None
    if settings.tls_cert is None or settings.tls_key is None:
        raise ConfigError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load TLS certificate/key: {exc}") from exc
    return context


def run(settings: Settings) -> None:
    if sys.platform != "win32":
        import uvloop

        uvloop.install()
    asyncio.run(serve(settings))
