"""`tidings worker`: Beams delivery workers without the HTTP server, for scale-out.

Any number of these (and of `tidings serve`) may share one database: they share the queue, never
deliver a publish twice, and take over the publishes of a worker that died once its lease runs out.
SIGTERM or SIGINT: the sends in flight are recorded, unfinished publishes go back to the queue, exit 0.

Routed publishes (a `channels` object, docs/user-first-delivery.md) need the Channels side: with `redis_url` set, the
workers read who is signed in from Redis and send socket routes over its bus (a hub without connections);
without Redis they cannot see any signed-in user, so every user of such a publish is pushed (said once at start).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tidings.config import Settings
from tidings.errors import TidingsError

if TYPE_CHECKING:
    from tidings.adapters.redis import RedisAdapter
    from tidings.delivery import HubChannels
    from tidings.events import EventStream

log = logging.getLogger("tidings.worker")


@click.command("worker")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Workers in this process [TIDINGS_DELIVERY_WORKERS; at least 1]")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="Embedded SQLite lives here")
@click.option("--database-url", default=None, help="SQLAlchemy URL, e.g. postgresql+asyncpg://...")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None, help="TOML settings file")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
@click.option("--log-format", type=click.Choice(["console", "json"]), default=None)
def worker(workers: int | None, data_dir: Path | None, database_url: str | None, config_file: Path | None,
           log_level: str | None, log_format: str | None) -> None:
    """Run Beams delivery workers (no HTTP server) until SIGTERM."""
    from tidings import log as logs
    from tidings.config import load_settings

    try:
        settings = load_settings(
            {"data_dir": data_dir, "database_url": database_url, "log_level": log_level, "log_format": log_format},
            config_file,
        )
        logs.configure(settings.log_level, settings.log_format)
        count = workers if workers is not None else max(settings.delivery_workers, 1)
        _run(run_workers(settings, count))
    except TidingsError as exc:
        click.echo(f"tidings: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        pass


async def run_workers(settings: Settings, count: int) -> None:
    from tidings.console.setup import start_console
    from tidings.delivery import start_delivery
    from tidings.events import EventStream
    from tidings.storage import open_storage
    from tidings.webhooks.wiring import start_webhooks

    storage = await open_storage(settings.resolved_database_url)
    await storage.migrate()
    stream = EventStream()
    # Publish-to-users webhooks are sent where the results are: by the process that delivers.
    webhooks = start_webhooks(stream, storage)
    adapter, channels = await _channels_view(settings, stream)
    # The console's timelines and the cluster's live stream hear of this process's deliveries through Redis.
    node = f"worker-{socket.gethostname()}-{os.getpid()}"
    console = await start_console(settings, stream, node) if settings.redis_url else None
    delivery = start_delivery(settings, storage, stream, workers=count, channels=channels)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("%d delivery worker(s) running; SIGTERM to stop", count)
    try:
        await stop.wait()
    finally:
        log.info("stopping: recording the sends in flight, giving unfinished publishes back")
        await delivery.close()
        if adapter is not None:
            await adapter.close()
        await webhooks.close()
        if console is not None:
            await console.close()
        await storage.close()


async def _channels_view(settings: Settings, stream: EventStream) -> tuple[RedisAdapter | None, HubChannels | None]:
    """(the Redis adapter, the routing view through a hub without connections), or (None, None) without Redis."""
    from tidings.adapters import AdapterUnavailable
    from tidings.delivery import HubChannels
    from tidings.errors import ConfigError
    from tidings.realtime.hub import Hub

    if not settings.redis_url:
        log.warning("no redis_url: these workers cannot see who is signed in on Channels, so every user of a "
                    "publish with `channels` is pushed (docs/user-first-delivery.md)")
        return None, None
    from tidings.adapters.redis import RedisAdapter

    adapter = RedisAdapter(
        settings.redis_url, prefix=settings.redis_prefix, cache_ttl=settings.cache_ttl,
        heartbeat_interval=settings.node_heartbeat_interval, dead_after=settings.node_dead_after,
        timeout=settings.redis_timeout, buffer_messages=settings.bus_buffer_messages,
        buffer_bytes=settings.bus_buffer_bytes,
    )
    try:
        await adapter.start(lambda message, own: None)  # no connections here: other nodes' messages are not ours
    except AdapterUnavailable as exc:
        raise ConfigError(f"cannot start the Redis adapter: {exc}") from exc
    return adapter, HubChannels(Hub(stream, adapter))


def _run(main: Coroutine[Any, Any, None]) -> None:
    if sys.platform != "win32":
        import uvloop

        uvloop.install()
    asyncio.run(main)
