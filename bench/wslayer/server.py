"""Minimal Pusher-speaking WebSocket servers, one per WebSocket layer, for the layer's memory per connection.

    python -m bench.wslayer.server --layer websockets|wsproto|aiohttp --host 127.0.0.1 --port P

Every one does the same thing above its layer: after the handshake it sends ``pusher:connection_established``;
it answers ``pusher:subscribe`` with ``pusher_internal:subscription_succeeded`` and files the connection under
the channel (one dict per channel, as the floor does), ``pusher:ping`` with ``pusher:pong``, WebSocket pings with
pongs; the rest is ignored. Any request path is accepted. No compression (permessage-deflate is off in all three:
the sans-I/O layers offer no extension unless given one, aiohttp gets ``compress=False``).

- ``websockets``: ``websockets.server.ServerProtocol`` (sans-I/O) in an ``asyncio.Protocol`` on uvloop. It
  parses the HTTP upgrade itself and answers WebSocket pings on its own.
- ``websockets-lean``: the same, emptying the handshake's headers once it is answered (see WebsocketsLeanConn).
- ``wsproto``: ``wsproto.WSConnection(SERVER)`` (sans-I/O; h11 for the upgrade) in an ``asyncio.Protocol``.
- ``aiohttp``: ``aiohttp.web`` on uvloop, a handler that holds a ``WebSocketResponse(compress=False,
  autoping=True, heartbeat=None)`` and sits in ``async for msg in ws``: what Tidings does today.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from typing import cast

import orjson
import uvloop
from aiohttp import WSMsgType, web
from websockets.frames import Frame, Opcode
from websockets.http11 import Request as WsRequest
from websockets.server import ServerProtocol
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Message, Ping, TextMessage
from wsproto.events import Request as WsprotoRequest

from bench.fanout.common import connection_established, subscription_succeeded

MAX_MESSAGE = 10_240  # Pusher's message size limit
PONG = '{"event":"pusher:pong","data":"{}"}'
CHANNELS: dict[str, dict[object, None]] = {}
_ids = itertools.count(1)


def established() -> str:
    n = next(_ids)
    return connection_established(f"{n}.{n * 7919 % 1000003}").decode()


def on_text(conn: object, channels: list[str], text: str) -> str | None:
    """The application above the layer: the answer to a text message, if any."""
    if '"pusher:subscribe"' in text:
        ch = orjson.loads(text)["data"]["channel"]
        CHANNELS.setdefault(ch, {})[conn] = None
        channels.append(ch)
        return subscription_succeeded(ch).decode()
    if '"pusher:ping"' in text:
        return PONG
    return None


def forget(conn: object, channels: list[str]) -> None:
    for ch in channels:
        CHANNELS.get(ch, {}).pop(conn, None)


class WebsocketsConn(asyncio.Protocol):
    __slots__ = ("channels", "transport", "ws")
    LEAN = False  # clear the handshake's headers once it is done (see WebsocketsLeanConn)

    def __init__(self) -> None:
        self.ws = ServerProtocol(max_size=MAX_MESSAGE)
        self.channels: list[str] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        ws.receive_data(data)
        for ev in ws.events_received():
            if isinstance(ev, Frame):
                if ev.opcode is Opcode.TEXT:
                    answer = on_text(self, self.channels, str(ev.data, "utf-8"))
                    if answer is not None:
                        ws.send_text(answer.encode())
            elif isinstance(ev, WsRequest):
                resp = ws.accept(ev)
                ws.send_response(resp)
                if resp.status_code == 101:
                    ws.send_text(established().encode())
                if self.LEAN:
                    ev.headers.clear()
                    resp.headers.clear()
        self._flush()

    def eof_received(self) -> bool | None:
        self.ws.receive_eof()
        self._flush()
        return None

    def _flush(self) -> None:
        tr = self.transport
        assert tr is not None
        for chunk in self.ws.data_to_send():
            if chunk:
                tr.write(chunk)
            else:  # the layer asks to half-close: close
                tr.close()

    def connection_lost(self, exc: Exception | None) -> None:
        forget(self, self.channels)


class WebsocketsLeanConn(WebsocketsConn):
    """The same, clearing the request's and the response's headers after the handshake.

    ``ServerProtocol.parse()`` is a generator that keeps the parsed ``Request`` in a local for the whole life of
    the connection (it goes on to parse frames in the same frame), so its ``Headers`` stay in memory; emptying
    them once the handshake is answered frees about 1.8 KB per connection (tracemalloc).
    """

    __slots__ = ()
    LEAN = True


class WsprotoConn(asyncio.Protocol):
    __slots__ = ("channels", "transport", "ws")

    def __init__(self) -> None:
        self.ws = WSConnection(ConnectionType.SERVER)
        self.channels: list[str] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        tr = self.transport
        assert tr is not None
        ws = self.ws
        ws.receive_data(data)
        out: list[bytes] = []
        close = False
        for ev in ws.events():
            if isinstance(ev, TextMessage):
                answer = on_text(self, self.channels, ev.data)
                if answer is not None:
                    out.append(ws.send(Message(data=answer)))
            elif isinstance(ev, Ping):
                out.append(ws.send(ev.response()))
            elif isinstance(ev, WsprotoRequest):
                out.append(ws.send(AcceptConnection()))
                out.append(ws.send(Message(data=established())))
            elif isinstance(ev, CloseConnection):
                out.append(ws.send(ev.response()))
                close = True
        if out:
            tr.write(b"".join(out))
        if close:
            tr.close()

    def eof_received(self) -> bool | None:
        self.ws.receive_data(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        forget(self, self.channels)


async def serve_protocol(factory: type[asyncio.Protocol], host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, host, port, backlog=4096)
    async with server:
        await server.serve_forever()


async def serve_aiohttp(host: str, port: int) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(compress=False, autoping=True, heartbeat=None, max_msg_size=MAX_MESSAGE + 1)
        await ws.prepare(request)
        channels: list[str] = []
        await ws.send_str(established())
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    answer = on_text(ws, channels, msg.data)
                    if answer is not None:
                        await ws.send_str(answer)
        finally:
            forget(ws, channels)
        return ws

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layer", choices=["websockets", "websockets-lean", "wsproto", "aiohttp"], required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    if args.layer == "aiohttp":
        uvloop.run(serve_aiohttp(args.host, args.port))
    else:
        factory = {"websockets": WebsocketsConn, "websockets-lean": WebsocketsLeanConn}.get(args.layer, WsprotoConn)
        uvloop.run(serve_protocol(factory, args.host, args.port))


if __name__ == "__main__":
    main()
