"""One port for HTTP and WebSockets: the first request line of a connection decides who serves it.

`GET /app/...` (a Channels WebSocket) goes to the lean connection (web/wsconn.py); anything else to aiohttp's
request handler, which serves the connection as if it had accepted it itself. Clients open a new connection
for a WebSocket (browsers, pusher-js in Node, pysher), so the first request is the upgrade; an upgrade sent
later on a kept-alive HTTP connection reaches aiohttp's route, which hands the connection over (web/ws.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

FIRST_LINE_TIMEOUT = 10.0  # seconds
MAX_FIRST_LINE = 8192  # longer request lines go to aiohttp, which refuses them in HTTP's terms
WS_PREFIX = b"GET /app/"

Factory = Callable[[], asyncio.Protocol]


class Dispatch(asyncio.Protocol):
    __slots__ = ("_buffer", "_deadline", "_http", "_transport", "_ws")

    def __init__(self, http: Factory, ws: Factory) -> None:
        self._http = http
        self._ws = ws
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        # A connection that never completes its first request line does not keep a socket for ever.
        self._deadline = asyncio.get_running_loop().call_later(FIRST_LINE_TIMEOUT, self._transport.abort)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data
        end = buffer.find(b"\r\n")
        if end < 0 and len(buffer) < MAX_FIRST_LINE and WS_PREFIX.startswith(buffer[: len(WS_PREFIX)]):
            self._buffer = buffer  # the request line is not complete yet
            return
        ws = end >= 0 and buffer.startswith(WS_PREFIX)
        self._hand_over(self._ws() if ws else self._http(), buffer)

    def eof_received(self) -> bool | None:
        if self._transport is not None:
            self._transport.close()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._deadline is not None:
            self._deadline.cancel()

    def _hand_over(self, protocol: asyncio.Protocol, buffer: bytes) -> None:
        transport = self._transport
        assert transport is not None
        self._transport = None
        self._buffer = b""
        if self._deadline is not None:
            self._deadline.cancel()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(buffer)
