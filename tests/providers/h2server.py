"""A scriptable HTTP/2 server over TLS on 127.0.0.1, for testing the gateway client against misbehaving peers.

    async def handler(exchange: Exchange) -> None:       # called once a request's body is complete
        await exchange.respond(200, body=b"ok")          # or send_headers / send_data / reset / stall ...

    async with H2Server(handler, max_concurrent_streams=5) as server:
        client = Http2Client(server.client_context(), timeout=2)
        await client.request(server.url, "/path", [("x", "y")], b"body")
        server.requests[-1].body, server.connections, server.in_flight_max

What a real gateway may do and APNs sometimes does: answer, stall, trickle, stream a huge body, reset a stream,
say GOAWAY while answering older streams, drop the connection. `goaway` writes the GOAWAY frame itself, behind
h2's back, so the server can go on answering the streams at or below last_stream_id as RFC 9113 allows (h2
would refuse to send anything after its own GOAWAY).
"""

from __future__ import annotations

import asyncio
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import trustme
from hyperframe.frame import GoAwayFrame

Handler = Callable[["Exchange"], Awaitable[None]]


async def answer_ok(exchange: Exchange) -> None:
    await exchange.respond(200, [("x-echo-path", exchange.path)], b"")


@dataclass
class Exchange:
    """One request as the server got it, and the means to answer it."""

    connection: ServerConnection
    stream_id: int
    headers: dict[str, str]
    body: bytes = b""
    received: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def path(self) -> str:
        return self.headers.get(":path", "")

    def send_headers(self, status: int, headers: list[tuple[str, str]] | None = None, *, end: bool = False) -> None:
        self.connection.h2.send_headers(
            self.stream_id, [(":status", str(status)), *(headers or [])], end_stream=end
        )
        self.connection.flush()

    async def send_data(self, data: bytes, *, end: bool = False) -> None:
        """Send `data`, waiting for flow-control window as a real server must."""
        view = memoryview(data)
        while True:
            window = self.connection.h2.local_flow_control_window(self.stream_id)
            size = min(window, self.connection.h2.max_outbound_frame_size, len(view))
            if size == 0 and len(view):
                await self.connection.window_opened()
                continue
            chunk, view = view[:size], view[size:]
            self.connection.h2.send_data(self.stream_id, bytes(chunk), end_stream=end and not len(view))
            self.connection.flush()
            if not len(view):
                return

    async def respond(self, status: int, headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> None:
        self.send_headers(status, headers, end=not body)
        if body:
            await self.send_data(body, end=True)

    def reset(self, code: h2.errors.ErrorCodes = h2.errors.ErrorCodes.INTERNAL_ERROR) -> None:
        self.connection.h2.reset_stream(self.stream_id, code)
        self.connection.flush()

    @property
    def cancelled(self) -> bool:
        """The client reset this stream."""
        return self.stream_id in self.connection.reset_by_client


class ServerConnection(asyncio.Protocol):
    def __init__(self, server: H2Server) -> None:
        self.server = server
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.h2 = h2.connection.H2Connection(config)
        self.transport: asyncio.Transport | None = None
        self.exchanges: dict[int, Exchange] = {}
        self.reset_by_client: set[int] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._window = asyncio.Event()
        self.lost = asyncio.Event()
        self.goaway_from_client = False

    # -- what a handler can do to the whole connection ---------------------------------------------------
    def goaway(self, last_stream_id: int, code: int = 0, data: bytes = b"") -> None:
        frame = GoAwayFrame(0)
        frame.last_stream_id = last_stream_id
        frame.error_code = code
        frame.additional_data = data
        self.flush()
        assert self.transport is not None
        self.transport.write(frame.serialize())

    def drop(self) -> None:
        """Close the TCP connection at once (an RST to the client), mid-stream or not."""
        assert self.transport is not None
        self.transport.abort()

    async def window_opened(self) -> None:
        self._window.clear()
        await self._window.wait()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    # -- asyncio.Protocol ----------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's TLS transport does not subclass it
        self.server.connections.append(self)
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values=self.server.settings)
        self.h2.initiate_connection()
        self.flush()

    def data_received(self, data: bytes) -> None:
        for event in self.h2.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                headers = dict(event.headers or [])  # type: ignore[arg-type]
                exchange = Exchange(self, event.stream_id or 0, headers)  # type: ignore[arg-type]
                self.exchanges[exchange.stream_id] = exchange
                self.server.requests.append(exchange)
                self.server.note_in_flight()
                if event.stream_ended is not None:
                    self._start(exchange)
            elif isinstance(event, h2.events.DataReceived):
                exchange = self.exchanges[event.stream_id or 0]
                exchange.body += event.data or b""
                if self.server.ack_data:
                    self.h2.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id or 0)
                if event.stream_ended is not None:
                    self._start(exchange)
            elif isinstance(event, h2.events.StreamEnded):
                pass  # handled with the request or data event that carried END_STREAM
            elif isinstance(event, h2.events.StreamReset):
                self.reset_by_client.add(event.stream_id or 0)
                self._window.set()
            elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
                self._window.set()
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.goaway_from_client = True
        self.flush()

    def _start(self, exchange: Exchange) -> None:
        exchange.received.set()
        task = asyncio.ensure_future(self._handle(exchange))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _handle(self, exchange: Exchange) -> None:
        try:
            await self.server.handler(exchange)
        except Exception:  # the client went away or reset the stream: nothing to answer any more
            pass
        finally:
            self.server.done(exchange)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()
        self._window.set()
        for task in self.tasks:
            task.cancel()


class H2Server:
    def __init__(
        self,
        handler: Handler = answer_ok,
        *,
        max_concurrent_streams: int = 100,
        initial_window_size: int = 65535,
        alpn: tuple[str, ...] = ("h2",),
        ack_data: bool = True,
    ) -> None:
        self.handler = handler
        self.settings: dict[int, int] = {
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_concurrent_streams,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: initial_window_size,
        }
        self.alpn = alpn
        self.ack_data = ack_data  # False: never give the client window back (it must stop at the window)
        self.connections: list[ServerConnection] = []
        self.requests: list[Exchange] = []
        self.in_flight = 0
        self.in_flight_max = 0
        self._ca = trustme.CA()
        self._tmp = tempfile.TemporaryDirectory(prefix="h2server-")
        self._server: asyncio.Server | None = None
        self.port = 0

    def note_in_flight(self) -> None:
        self.in_flight += 1
        self.in_flight_max = max(self.in_flight_max, self.in_flight)

    def done(self, exchange: Exchange) -> None:
        self.in_flight -= 1

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        path = Path(self._tmp.name) / "ca.pem"
        if not path.exists():
            self._ca.cert_pem.write_to_path(str(path))
        return path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    async def start(self) -> H2Server:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        context.set_alpn_protocols(list(self.alpn))
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: ServerConnection(self), "127.0.0.1", 0, ssl=context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for connection in self.connections:
            if connection.transport is not None:
                connection.transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._tmp.cleanup()

    async def __aenter__(self) -> H2Server:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


async def stream_forever(exchange: Exchange, status: int = 200, chunk: int = 16384, total: int = 200 << 20) -> None:
    """Headers, then `total` bytes (200 MB by default) made on the fly, as fast as the client's window allows."""
    exchange.send_headers(status, [("content-type", "application/json")])
    block = b"x" * chunk
    sent = 0
    while sent < total and not exchange.cancelled:
        await exchange.send_data(block)
        sent += chunk
