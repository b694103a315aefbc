"""The Channels WebSocket endpoint `/app/{key}`, served without aiohttp after the first bytes.

A connection whose first request line is `GET /app/...` is handed by the listener (web/listener.py) to a
`Handshake`: websockets' sans-I/O server protocol parses and answers the upgrade, the app is looked up,
and a `WsConnection` takes the transport over for the socket's life. A WsConnection is one asyncio
protocol object holding the WebSocket layer, the Channels session (channels/protocol.py) and the write
path (realtime/connection.py): no task, handler coroutine or request object is kept per idle connection.

Refusals at connect send a `pusher:error` frame, then close with the same code (as soketi does; pusher-js
acts on the close code). Errors after the upgrade are answered in the protocol's own terms, never as HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from contextlib import AbstractContextManager
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from aiohttp import web
from websockets.exceptions import InvalidState
from websockets.frames import Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from tidings.channels import messages
from tidings.channels import protocol as p
from tidings.channels.apps import App
from tidings.channels.codes import Code
from tidings.log import bound
from tidings.realtime.connection import SLOW_CONSUMER, Connection
from tidings.web.context import Context

log = logging.getLogger("tidings.ws")

SUPPORTED_PROTOCOLS = range(4, 8)
CLOSE_TIMEOUT = 5.0  # seconds a client has to answer our close frame before the socket is dropped
HANDSHAKE_TIMEOUT = 10.0  # seconds from the first byte to an open (or refused) WebSocket


class WsServer:
    """What every WebSocket connection of this process shares (one object, not one per socket)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        s = ctx.settings
        self.timing = p.Timing(float(s.activity_timeout), s.pong_timeout, s.user_authentication_timeout)
        self.max_size = s.max_message_bytes
        self.write_limit = s.write_buffer_limit
        self.stall_timeout = s.pong_timeout  # a client that reads nothing for this long is as gone as a silent one
        self._tasks: set[asyncio.Task[None]] = set()

    def handshake(self) -> Handshake:
        return Handshake(self)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for removals and handshakes in flight, so their leaves reach the adapter."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def refusal(self, path: str) -> tuple[int, str] | App:
        ctx = self.ctx
        if ctx.shutting_down:
            return Code.GENERIC_RECONNECT, "Server is shutting down"
        url = urlsplit(path)
        parts = url.path.split("/")
        if len(parts) != 3 or parts[1] != "app" or not parts[2]:
            return Code.PATH_NOT_FOUND, "Path not found: connect to /app/{key}"
        raw = parse_qs(url.query).get("protocol", [None])[-1]
        if raw is None:
            return Code.NO_PROTOCOL, "No protocol version supplied"
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 3:  # "²".isdigit() is True, int("²") raises
            return Code.INVALID_VERSION, f"Invalid protocol version {raw[:20]!r}"
        if int(raw) not in SUPPORTED_PROTOCOLS:
            return Code.UNSUPPORTED_PROTOCOL, f"Unsupported protocol version {raw}"
        try:
            app = await ctx.registry.by_key(unquote(parts[2]))
        except Exception as exc:  # storage down and the app never read: the client backs off and retries
            log.warning("app lookup at connect failed: %s: %s", type(exc).__name__, exc)
            return Code.OVER_CAPACITY, "Server temporarily unavailable, try again"
        if app is None:
            return Code.APP_NOT_FOUND, "App key does not exist"
        if not app.enabled:
            return Code.APP_DISABLED, "App is disabled"
        if not await ctx.hub.admit(app):  # max_connections, counted across the cluster
            return Code.OVER_CONNECTION_QUOTA, "Over connection quota"
        return app


WS_SERVER: web.AppKey[WsServer] = web.AppKey("tidings_ws_server", WsServer)


class Handshake(asyncio.Protocol):
    """From the first byte to the 101 and the app lookup; then the transport goes to a WsConnection."""

    def __init__(self, server: WsServer) -> None:
        self.server = server
        self.ws = ServerProtocol(max_size=server.max_size)
        self.transport: asyncio.Transport | None = None
        self.started = False
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        # A client that never completes its upgrade (slowloris) does not keep a socket for ever.
        self.deadline = asyncio.get_running_loop().call_later(HANDSHAKE_TIMEOUT, self._drop_now)

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        ws.receive_data(data)
        events = ws.events_received()
        if ws.handshake_exc is not None:  # websockets answered (400/414/431) or will close
            self._flush()
            self._drop()
            return
        if self.started:  # refused: the client's answer to our close frame
            self._flush()
        elif events and isinstance(events[0], Request):
            self.started = True
            assert self.transport is not None
            self.transport.pause_reading()  # a client sends nothing more before the 101
            self.server.spawn(self._open(events[0]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.deadline is not None:
            self.deadline.cancel()

    def _drop_now(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def _open(self, request: Request) -> None:
        try:
            await self._upgrade(request)
        except Exception as exc:
            log.error("unexpected error opening a connection: %s: %s", type(exc).__name__, exc)
            if self.transport is not None:
                self.transport.abort()

    async def _upgrade(self, request: Request) -> None:
        server = self.server
        response = self.ws.accept(request)
        self.ws.send_response(response)
        if response.status_code != 101:  # not a valid upgrade: websockets' 4xx answer
            self._flush()
            self._drop()
            return
        refused = await server.refusal(request.path)
        transport = self.transport
        if transport is None:  # the client left while the app was looked up
            if not isinstance(refused, tuple):
                await server.ctx.hub.unadmit(refused)
            return
        self._flush()
        if isinstance(refused, tuple):
            code, message = refused
            server.ctx.metrics.ws_rejected.labels(str(code)).inc()
            self.ws.send_text(messages.error(code, message))
            self.ws.send_close(code, message[:120])
            self._flush()
            transport.resume_reading()
            # Let the client read the close frame; the socket goes when it answers or after the timeout.
            asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, transport.abort)
            return
        # websockets' parser keeps the handshake request for the socket's life (a local of its generator):
        # its headers are ~1.5 KB per idle connection, and nothing reads them after this.
        request.headers.clear()
        ctx = server.ctx
        session = p.Session(refused, ctx.hub.new_socket_id(refused.id), time.monotonic(), server.timing)
        if self.deadline is not None:
            self.deadline.cancel()
        conn = WsConnection(server, self.ws, session, transport)
        with log_ids(conn):
            transport.set_protocol(conn)
            ctx.hub.add(conn)
            conn.apply(session.opened())
            transport.resume_reading()

    def _flush(self) -> None:
        if self.transport is not None:
            for chunk in self.ws.data_to_send():
                if chunk:
                    self.transport.write(chunk)
                else:  # the end of the stream
                    self.transport.close()

    def _drop(self) -> None:
        if self.transport is not None:
            self.transport.close()


def log_ids(conn: Connection) -> AbstractContextManager[None]:
    """The connection's ids on every line logged inside the block. Protocol callbacks run, call after call,
    in one context the event loop keeps for the transport, not in a task: an id bound there and not reset
    would stay on every later line of that context, so each callback binds for its own duration only."""
    user = conn.user
    return bound(app_id=conn.app_id, socket_id=conn.socket_id, user_id=user.id if user is not None else None)


class WsConnection(Connection, asyncio.Protocol):
    __slots__ = ("_backlog", "_busy", "_closer", "_frag", "_paused", "_server", "_stalled_at", "_ws")

    def __init__(self, server: WsServer, ws: ServerProtocol, session: p.Session, transport: Any) -> None:
        super().__init__(session, transport, write_limit=server.write_limit)
        self._server = server
        self._ws = ws
        self._busy = False  # an action of the current frame is awaiting shared state
        self._backlog: list[Any] | None = None  # frames read while busy
        self._frag: bytearray | None = None  # a fragmented text message being assembled
        self._paused = False  # reading paused for backpressure (our output is not being read)
        self._stalled_at: float | None = None
        self._closer: asyncio.TimerHandle | None = None
        transport.set_write_buffer_limits(high=max(64 * 1024, self.write_limit // 4))

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        # Bound for this call only: see log_ids. The frame's awaited actions (tasks spawned here) inherit it.
        with log_ids(self):
            self._ws.receive_data(data)
            self.session.touch(time.monotonic())
            self._pump()

    def eof_received(self) -> bool | None:
        self._ws.receive_eof()
        self._flush()
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.session.closing = True
        if self._closer is not None:
            self._closer.cancel()
        reason = "closed" if exc is None else f"error: {type(exc).__name__}"
        if self.close_code is None and self._ws.close_rcvd is not None:  # the client closed first
            self.close_code = self._ws.close_rcvd.code
        with log_ids(self):  # the removal task inherits the ids
            self._server.spawn(self._server.ctx.hub.remove(self, reason))

    def pause_writing(self) -> None:
        # The client does not read what we send: stop reading what it sends (each request makes more
        # output) until it catches up, or is cut after stall_timeout (see tick).
        self._stalled_at = time.monotonic()
        self._set_reading(paused=True)

    def resume_writing(self) -> None:
        self._stalled_at = None
        if not self._busy:
            self._set_reading(paused=False)

    # -- time --------------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        if self.closing:
            return
        if self._stalled_at is not None and now - self._stalled_at >= self._server.stall_timeout:
            self.abort(SLOW_CONSUMER)
            return
        super().tick(now)

    # -- frames in ---------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Handle what websockets parsed, one frame at a time; a frame whose action awaits shared state
        holds the rest back (reading paused) until it is done."""
        self._flush()
        if self._busy:
            return
        events = self._backlog or []
        self._backlog = None
        events += self._ws.events_received()
        for i, frame in enumerate(events):
            if self.closing:
                return
            try:
                actions = self._on_frame(frame)
            except Exception as exc:
                self._internal_error(exc)
                return
            if actions and not self._run(actions, events[i + 1 :]):
                return
        if self._ws.close_expected():
            self._flush()

    def _on_frame(self, frame: Any) -> list[p.Action]:
        opcode = frame.opcode
        now = time.monotonic()
        if opcode is Opcode.TEXT or opcode is Opcode.CONT:
            if opcode is Opcode.TEXT and frame.fin:
                return self.session.receive_text(frame.data, now)
            if opcode is Opcode.TEXT:
                self._frag = bytearray(frame.data)
                return []
            if self._frag is None:  # continuation of a binary message
                return [] if not frame.fin else self.session.receive_binary(now)
            self._frag += frame.data  # websockets bounds the whole message by max_size
            if not frame.fin:
                return []
            text, self._frag = bytes(self._frag), None
            return self.session.receive_text(text, now)
        if opcode is Opcode.BINARY:
            return self.session.receive_binary(now) if frame.fin else []
        return []  # ping (answered by websockets), pong, close (answered by websockets)

    def _run(self, actions: list[p.Action], rest: list[Any]) -> bool:
        """Carry out a frame's actions; False when one must wait (the rest resumes in a task)."""
        for j, action in enumerate(actions):
            if isinstance(action, p.Send):
                self.send(action.payload)
            elif isinstance(action, p.Close):
                self.close(action.code, action.reason)
            else:
                self._busy = True
                self._set_reading(paused=True)
                self._backlog = rest
                self._server.spawn(self._await(action, actions[j + 1 :]))
                return False
        return True

    async def _await(self, action: p.Join | p.Leave | p.SignInUser | p.Relay, after: list[p.Action]) -> None:
        try:
            await self._server.ctx.hub.perform(self, action)
        except Exception as exc:
            self._internal_error(exc)
        self._busy = False
        if self.closing:
            return
        if after and not self._run(after, self._backlog or []):
            return
        if self._stalled_at is None:
            self._set_reading(paused=False)
        self._pump()

    def _internal_error(self, exc: Exception) -> None:
        # One line, no traceback per frame: a hostile client must not be able to flood the log.
        log.error("unexpected error on a connection of app %s: %s: %s", self.app_id, type(exc).__name__, exc)
        self.fail(Code.GENERIC_RECONNECT, "Internal server error, reconnect")

    # -- frames out --------------------------------------------------------------------------------

    def _flush(self) -> None:
        """What websockets has to send (pongs, close frames), through the same limit as everything else."""
        for chunk in self._ws.data_to_send():
            if chunk:
                try:
                    self.transport.write(chunk)
                except Exception:
                    self.abort("write failed")
                    return
            else:  # the end of the stream (a close handshake, or websockets failed the connection: 1009, 1002)
                self._end_stream()
                return
        if self.transport.get_write_buffer_size() > self.write_limit:
            self.abort(SLOW_CONSUMER)

    def _set_reading(self, *, paused: bool) -> None:
        if paused == self._paused or self.transport.is_closing():
            return
        self._paused = paused
        if paused:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def _close_socket(self, code: int, reason: str) -> None:
        if self._ws.state is State.OPEN:
            try:
                self._ws.send_close(code, reason.encode()[:120].decode(errors="ignore"))
            except InvalidState:
                pass
        self._flush()
        # Keep reading: the client's close frame completes the handshake.
        self._stalled_at = None
        self._set_reading(paused=False)
        self._closer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self._abort_socket)

    def _end_stream(self) -> None:
        """Half-close and read on until the client closes (or CLOSE_TIMEOUT): closing outright while the client
        is still writing makes the kernel answer with a reset, and the client may lose our close frame."""
        self.closing = True
        self.session.closing = True
        t = self.transport
        if not t.can_write_eof():  # TLS: no half-close
            t.close()
            return
        try:
            t.write_eof()
        except Exception:  # already half-closed, or the transport is going
            t.close()
            return
        self._stalled_at = None
        self._set_reading(paused=False)
        if self._closer is None:
            self._closer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self._abort_socket)

    def _abort_socket(self) -> None:
        self.transport.abort()
