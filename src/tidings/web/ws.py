"""`/app/{key}` when aiohttp sees it: a WebSocket upgrade sent on an HTTP connection already kept alive.

A connection whose first request is the upgrade never reaches aiohttp (web/listener.py). A proxy that
reuses kept-alive upstream connections may send the upgrade later on one: then the connection is taken
from aiohttp (which is told it was lost, so it neither writes nor closes it) and given to the same
handshake, as if the upgrade had been its first request.
"""

from __future__ import annotations

from aiohttp import web

from tidings.web.wsconn import WS_SERVER


async def websocket(request: web.Request) -> web.StreamResponse:
    transport, handler = request.transport, request.protocol
    if transport is None or transport.is_closing():
        return web.Response(status=400)
    head = [f"{request.method} {request.raw_path} HTTP/{request.version.major}.{request.version.minor}".encode()]
    head += [name + b": " + value for name, value in request.raw_headers]
    # aiohttp lets go of the transport: with no transport it neither writes the response below nor closes it.
    handler.transport = None
    handler.connection_lost(None)
    handshake = request.app[WS_SERVER].handshake()
    transport.set_protocol(handshake)
    handshake.connection_made(transport)
    handshake.data_received(b"\r\n".join(head) + b"\r\n\r\n")
    return web.Response(status=101)  # never written: aiohttp has no transport for it any more
