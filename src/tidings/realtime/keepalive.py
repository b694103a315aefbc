"""Time for every connection: one task ticks them all every second or so, instead of a timer each.

A tick runs the session's deadlines (activity ping, pong 4201, sign-in 4009) and the driver's (a client
that stopped reading). Every `app_cache_ttl` seconds the apps with open connections are read again, so a
rotated secret, a disabled app (closed with 4003), a deleted one (4001) or changed limits reach them.
"""

from __future__ import annotations

import asyncio
import logging
import time

from tidings.channels.codes import Code
from tidings.realtime.hub import Hub
from tidings.realtime.registry import AppRegistry

log = logging.getLogger("tidings.keepalive")


def tick(hub: Hub, now: float) -> None:
    for conn in hub.all_connections():
        try:
            conn.tick(now)
        except Exception as exc:  # one connection's failure must not stop the others' clocks
            log.error("tick of a connection failed: %s: %s", type(exc).__name__, exc,
                      extra={"app_id": conn.app_id, "socket_id": conn.socket_id})


async def refresh_apps(hub: Hub, registry: AppRegistry) -> None:
    for app_id, st in list(hub.index.apps.items()):
        if not st.connections:
            continue
        try:
            app = await registry.by_id(app_id)
        except Exception as exc:  # storage down and nothing cached: keep what the connections have
            log.warning("app not re-read: %s: %s", type(exc).__name__, exc, extra={"app_id": app_id})
            continue
        conns = list(st.connections.values())
        if app is None:
            for conn in conns:
                conn.fail(Code.APP_NOT_FOUND, "App no longer exists")
            continue
        for conn in conns:
            if conn.session.app is not app:
                conn.set_app(app)


async def run(hub: Hub, registry: AppRegistry, activity_timeout: float, pong_timeout: float, app_ttl: float) -> None:
    # Two loops: a storage read that hangs (a paused database) must not stop the connections' clocks.
    await asyncio.gather(_ticks(hub, activity_timeout, pong_timeout), _refreshes(hub, registry, app_ttl))


async def _ticks(hub: Hub, activity_timeout: float, pong_timeout: float) -> None:
    interval = max(0.05, min(1.0, activity_timeout / 4, pong_timeout / 4))
    while True:
        await asyncio.sleep(interval)
        tick(hub, time.monotonic())


async def _refreshes(hub: Hub, registry: AppRegistry, app_ttl: float) -> None:
    while True:
        await asyncio.sleep(max(0.5, app_ttl))
        await refresh_apps(hub, registry)
