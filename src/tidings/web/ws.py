"""`/app/{key}` when aiohttp sees it: a WebSocket upgrade sent on an HTTP connection already kept alive.

A connection whose first request is the upgrade never reaches aiohttp (web/listener.py). A later upgrade on
a kept-alive connection (a proxy reusing upstream connections) is answered with a JSON 400 asking for a new
connection; clients open one per WebSocket.
"""

from __future__ import annotations

from aiohttp import web

from tidings.errors import BadRequest


async def websocket(request: web.Request) -> web.StreamResponse:
    raise BadRequest("Open a new connection for the WebSocket: it must be the first request on its connection")
