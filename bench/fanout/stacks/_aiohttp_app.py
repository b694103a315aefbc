"""The aiohttp fan-out server; the two candidates differ only in how one event reaches every subscriber."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import cast

from aiohttp import WSMsgType, web

from bench.fanout.common import (
    AppCreds,
    connection_established,
    event_from_trigger_body,
    subscription_succeeded,
    verify_signed,
)

# channel -> {WebSocketResponse: its transport}
Channels = dict[str, dict[web.WebSocketResponse, asyncio.Transport]]


def make_app(creds: AppCreds, fan_out: Callable[[Channels, list[str], bytes], object]) -> web.Application:
    channels: Channels = {}
    ids = itertools.count(1)

    async def ws_handler(request: web.Request) -> web.StreamResponse:
        if request.match_info["key"] != creds.key:
            raise web.HTTPNotFound()
        ws = web.WebSocketResponse(compress=False, autoping=True)
        await ws.prepare(request)
        transport = cast(asyncio.Transport, request.transport)
        mine: list[str] = []
        await ws.send_str(connection_established(f"{next(ids)}.{id(ws) % 1000000}").decode())
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                event = data.get("event")
                if event == "pusher:subscribe":
                    ch = data["data"]["channel"]
                    channels.setdefault(ch, {})[ws] = transport
                    mine.append(ch)
                    await ws.send_str(subscription_succeeded(ch).decode())
                elif event == "pusher:ping":
                    await ws.send_str('{"event":"pusher:pong","data":"{}"}')
        finally:
            for ch in mine:
                channels.get(ch, {}).pop(ws, None)
        return ws

    async def trigger(request: web.Request) -> web.Response:
        body = await request.read()
        if request.match_info["app_id"] != creds.app_id or not verify_signed(
            "POST", request.path, request.query_string, body, creds
        ):
            return web.json_response({"error": "bad signature"}, status=401)
        chans, message = event_from_trigger_body(body)
        result = fan_out(channels, chans, message)
        if asyncio.iscoroutine(result):
            await result
        return web.json_response({})

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_get("/app/{key}", ws_handler)
    app.router.add_post("/apps/{app_id}/events", trigger)
    app.router.add_get("/", ready)
    app.router.add_get("/ready", ready)
    return app


async def serve(app: web.Application, host: str, port: int) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def run(app: web.Application, host: str, port: int, loop: str) -> None:
    factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    if loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as r:
        r.run(serve(app, host, port))
