"""A lean HTTP/2 client for push gateways: one TLS connection per origin, many concurrent streams on it.

    client = Http2Client(ssl_context, timeout=10.0)
    response = await client.request("https://api.push.apple.com", "/3/device/<token>", headers, body)
    response.status, response.headers["apns-id"], response.body      # body: at most max_body bytes
    await client.aclose()

Why not httpx: its HTTP/2 path (httpcore's pool, anyio streams, per-request locks and events) cost 3.6-4.5x the
CPU of this client per APNs send, the `h2` state machine under an asyncio Protocol (bench/beams/apns_cpu.py,
bench/RESULTS.md "APNs client: decision"), and it does not reset a stream it stops reading (encode/httpcore#943).
This client does only what a push gateway needs: POST-style requests with small bodies, answers of a status,
headers and a short body.

What it guarantees, each a rule of RFC 9113 or a lesson of running against real gateways:

- One connection per origin (scheme, host, port), opened on first use with ALPN "h2", shared by every request;
  requests wait for a free stream when the peer's SETTINGS_MAX_CONCURRENT_STREAMS are all in use, and request
  bodies respect the peer's flow-control windows.
- Every request finishes within `timeout` seconds in all: connecting (or waiting for another request's connect),
  waiting for a free stream, sending, the headers and the body. Then it raises RequestTimeout and its stream is
  cancelled (RST_STREAM CANCEL); the connection stays for the others, but is sent a PING: one not answered
  within `timeout` means a dead connection (a TCP path dropped silently), which is closed, so later requests
  reconnect instead of timing out on it too.
- At most `max_body` bytes of an answer are kept; past that the stream is cancelled and the answer returned
  truncated, so a peer streaming a huge body costs neither memory nor the deadline.
- GOAWAY: requests the peer will not process (stream id above its last_stream_id) fail with StreamRefused, safe
  to send again; streams at or below it may still complete on the old connection; requests not yet sent go to a
  new connection. A lost connection fails its in-flight requests with ConnectionClosed; the next request
  reconnects.

Every failure is an Http2Error subclass, each meaning "try again later": the caller maps them to Retry.
A request the client refuses to put on the wire (a header value HTTP/2 forbids) raises InvalidRequest instead,
before anything is sent.
"""

from __future__ import annotations

import asyncio
import collections
import os
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack

from tidings.errors import ProviderError
from tidings.providers.limits import MAX_RESPONSE_BODY, REQUEST_TIMEOUT

# Bytes queued for a peer that does not read them (ping or settings acks to a flood, headers of streams it never
# answers) before the connection is dropped: memory per connection stays bounded whatever the peer does.
MAX_WRITE_BUFFER = 1 << 20
# Cap on streams in flight per connection when the peer announces no limit (RFC 9113: then it is unlimited).
MAX_STREAMS = 1000
# Tries to find a usable connection for one request: a peer that answers every new connection with GOAWAY must
# not keep a request reconnecting until its deadline.
MAX_CONNECTION_ATTEMPTS = 3



class _Encoder(hpack.Encoder):
    """HPACK without Huffman coding: the path (unique per device) is sent as a literal every time, and Huffman-
    coding its ~80 bytes in pure Python costs ~70 us, a quarter of a send, to save ~20 bytes."""

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        return super().encode(headers, huffman=False)


class _StateMachine(h2.connection.H2ConnectionStateMachine):
    """h2's connection states, except that a GOAWAY received leaves the connection open.

    RFC 9113 section 6.8: streams up to the GOAWAY's last_stream_id may still complete. h2 moves to CLOSED on
    receiving one and then refuses every frame after it, those streams' answers included, even when they came in
    the same read (python-hyper/h2 issue 1181). The client itself opens no new stream after a GOAWAY.
    """

    _transitions = {
        **h2.connection.H2ConnectionStateMachine._transitions,
        (h2.connection.ConnectionState.CLIENT_OPEN, h2.connection.ConnectionInputs.RECV_GOAWAY): (
            None,
            h2.connection.ConnectionState.CLIENT_OPEN,
        ),
    }


_CONFIG = h2.config.H2Configuration(
    client_side=True,
    header_encoding=None,  # bytes in, bytes out: no decoding of headers nobody reads
    # The request headers are built by this module, lower-case and checked (_check_value); h2's own pass over
    # them costs more than the rest of a send.
    validate_outbound_headers=False,
    normalize_outbound_headers=False,
)
# Sent in the connection preface: h2's defaults (100 streams the peer may open, 64 KiB of headers) minus push.
_LOCAL_SETTINGS = {
    h2.settings.SettingCodes.ENABLE_PUSH: 0,
    h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
    h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 64 * 1024,
}


class Http2Error(ProviderError):
    """The exchange did not produce a complete answer. Always transient: worth another try later."""


class ConnectError(Http2Error):
    """No usable HTTP/2 connection: refused, unreachable, TLS failure, no "h2" in ALPN, or no SETTINGS."""


class ConnectionClosed(Http2Error):
    """The connection ended with the request in flight (lost, protocol error, client closed)."""


class StreamRefused(Http2Error):
    """The peer did not process the request (GOAWAY above its last stream id, or REFUSED_STREAM): resend it."""


class StreamReset(Http2Error):
    """The peer reset the request's stream (RST_STREAM) before answering in full."""


class RequestTimeout(Http2Error):
    """The request did not finish within the client's total deadline."""


class InvalidRequest(ProviderError, ValueError):
    """The request cannot be sent as given (a header value HTTP/2 forbids); nothing was sent."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]  # lower-case names (HTTP/2 has no others); pseudo-headers left out
    body: bytes  # at most the client's max_body bytes
    truncated: bool = False  # the peer sent more than max_body bytes; the rest was not read


@dataclass(frozen=True, slots=True)
class Origin:
    host: str
    port: int
    authority: bytes
    prefix: str  # the base URL's path without its trailing slash: requests' paths go after it


def parse_origin(base_url: str) -> Origin:
    """https://host[:port][/prefix] -> Origin; ValueError for anything else (only TLS is spoken here)."""
    parts = urlsplit(base_url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"not an https:// URL: {base_url!r}")
    port = parts.port or 443
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    authority = shown if port == 443 else f"{shown}:{port}"
    return Origin(host, port, authority.encode("ascii"), parts.path.rstrip("/"))


class Http2Client:
    """HTTP/2 requests over one kept-alive connection per origin; see the module docstring for the rules.

    `ssl_context` gets ALPN set to ["h2"]. Use it from one event loop; construction needs none.
    """

    def __init__(
        self, ssl_context: ssl.SSLContext, *, timeout: float = REQUEST_TIMEOUT, max_body: int = MAX_RESPONSE_BODY
    ) -> None:
        ssl_context.set_alpn_protocols(["h2"])
        self._ssl = ssl_context
        self.timeout = timeout
        self.max_body = max_body
        self._origins: dict[str, Origin] = {}
        self._current: dict[Origin, _Connection] = {}
        self._connecting: dict[Origin, asyncio.Future[_Connection]] = {}
        self._open: set[_Connection] = set()  # every connection not yet lost, current or draining after GOAWAY
        self._closed = False

    @property
    def connections(self) -> int:
        """Connections open now (current ones plus those finishing their streams after a GOAWAY)."""
        return len(self._open)

    async def request(
        self, base_url: str, path: str, headers: Iterable[tuple[str, str]], body: bytes = b"", *, method: str = "POST"
    ) -> Response:
        """Send one request to `base_url` + `path`; raises Http2Error subclasses (transient) or InvalidRequest."""
        origin = self._origins.get(base_url)
        if origin is None:
            origin = self._origins[base_url] = parse_origin(base_url)
        request_headers: list[tuple[bytes, bytes]] = [
            (b":method", method.encode("ascii")),
            (b":scheme", b"https"),
            (b":authority", origin.authority),
            # Never indexed: unique per device, it would only push the reused headers (the JWT above all) out of
            # the HPACK table, and each one pushed out is sent in full again.
            hpack.NeverIndexedHeaderTuple(b":path", (origin.prefix + path).encode("utf-8")),
        ]
        for name, value in headers:
            request_headers.append((name.lower().encode("ascii"), _check_value(name, value).encode("utf-8")))
        loop = asyncio.get_running_loop()
        connection: _Connection | None = None
        sent_at = 0.0
        try:
            async with asyncio.timeout(self.timeout):
                for _ in range(MAX_CONNECTION_ATTEMPTS):
                    if self._closed:
                        raise ConnectionClosed("the client is closed")
                    sent_at = 0.0  # a deadline passing while connecting says nothing about an older connection
                    connection = self._current.get(origin)
                    if connection is None or not connection.usable:
                        connection = await self._connect(origin)
                    sent_at = loop.time()
                    try:
                        return await connection.request(request_headers, body)
                    except _NotUsable:
                        continue  # GOAWAY or loss before this request got a stream: nothing sent, take another
                raise ConnectionClosed("no usable connection: the gateway closed each one before a request")
        except TimeoutError:
            if connection is not None and sent_at:
                # A peer that stalls one stream is still there; a silently dropped TCP path is not, and every later
                # request would time out on it too. A PING tells them apart.
                connection.check_alive()
            raise RequestTimeout(f"no complete answer within {self.timeout:g}s") from None

    async def aclose(self) -> None:
        """Close every connection (GOAWAY, then close); requests in flight fail with ConnectionClosed."""
        self._closed = True
        for pending in self._connecting.values():
            pending.cancel()
        connections = list(self._open)
        for connection in connections:
            connection.close()
        waiters = [connection.lost for connection in connections if not connection.lost.done()]
        if waiters:
            await asyncio.wait(waiters, timeout=1.0)

    async def _connect(self, origin: Origin) -> _Connection:
        # Requests arriving while a connection is being opened wait for that one instead of each opening their own.
        # Shielded: one waiter's deadline must not cancel the connect the others wait for.
        pending = self._connecting.get(origin)
        if pending is None:
            pending = asyncio.ensure_future(self._open_connection(origin))
            self._connecting[origin] = pending
            pending.add_done_callback(lambda done: self._connected(origin, done))
        return await asyncio.shield(pending)

    def _connected(self, origin: Origin, done: asyncio.Future[_Connection]) -> None:
        if self._connecting.get(origin) is done:
            del self._connecting[origin]
        if done.cancelled() or done.exception() is not None:  # exception(): retrieved, so never logged as lost
            return
        connection = done.result()
        if self._closed:
            connection.close()
            return
        self._current[origin] = connection

    async def _open_connection(self, origin: Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        connection: _Connection | None = None
        done = False
        try:
            async with asyncio.timeout(self.timeout):
                _, connection = await loop.create_connection(
                    self._new_connection, origin.host, origin.port, ssl=self._ssl, server_hostname=origin.host
                )
                await connection.ready
            done = True
            return connection
        except TimeoutError:
            where = f"{origin.host}:{origin.port}"
            raise ConnectError(f"no HTTP/2 connection to {where} within {self.timeout:g}s") from None
        except (OSError, ssl.SSLError) as exc:  # refused, unreachable, DNS, certificate, handshake
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        except Http2Error as exc:
            # Lost or refused during the preface: a ConnectError whatever the cause, so callers see one kind.
            raise ConnectError(str(exc)) from exc
        finally:
            if not done and connection is not None:  # timed out, failed or cancelled half-way: do not leak it
                connection.abort(ConnectError("connect abandoned"))

    def _new_connection(self) -> _Connection:
        connection = _Connection(self.max_body, self._forget, self.timeout)
        self._open.add(connection)
        return connection

    def _forget(self, connection: _Connection) -> None:
        self._open.discard(connection)
        for origin, current in list(self._current.items()):
            if current is connection:
                del self._current[origin]


class _NotUsable(Http2Error):
    """Internal: this connection takes no new streams (GOAWAY, lost, stream ids used up); nothing was sent."""


class _Stream:
    __slots__ = ("future", "status", "headers", "chunks", "size", "pending")

    def __init__(self, future: asyncio.Future[Response]) -> None:
        self.future = future
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.size = 0
        self.pending = b""  # request body not yet sent: waiting for flow-control window


class _Connection(asyncio.Protocol):
    """One HTTP/2 connection: the h2 state machine fed by the transport, one future per stream."""

    def __init__(self, max_body: int, on_lost: Callable[[_Connection], None], ping_timeout: float) -> None:
        self._h2 = h2.connection.H2Connection(_CONFIG)
        self._h2.local_settings = h2.settings.Settings(client=True, initial_values=_LOCAL_SETTINGS)
        self._h2.encoder = _Encoder()
        self._h2.state_machine = _StateMachine()
        self._max_body = max_body
        self._on_lost = on_lost
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._streams: dict[int, _Stream] = {}
        self._blocked: dict[int, None] = {}  # streams with body left to send, in order (an ordered set)
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._max_streams = 1  # until the peer's SETTINGS say otherwise (the connect waits for them)
        self._last_stream_id: int | None = None  # from the peer's GOAWAY
        self.ready: asyncio.Future[None] = self._loop.create_future()
        self.lost: asyncio.Future[None] = self._loop.create_future()
        self.going_away = False
        self.closed = False
        self._forgotten = False  # the client was told this connection is gone
        self._flush_scheduled = False
        self._ping_timeout = ping_timeout
        self._ping: tuple[bytes, asyncio.TimerHandle] | None = None  # a PING awaiting its ACK, and its deadline

    @property
    def usable(self) -> bool:
        return not (self.closed or self.going_away)

    # -- requests ----------------------------------------------------------------------------------------------
    async def request(self, headers: list[tuple[bytes, bytes]], body: bytes) -> Response:
        while len(self._streams) >= self._max_streams and self.usable:
            await self._wait_for_stream()
        if not self.usable:
            raise _NotUsable
        try:
            stream_id = self._h2.get_next_available_stream_id()
        except h2.exceptions.NoAvailableStreamIDError:
            self.going_away = True  # 2^31 streams used: this connection is done, the next request opens another
            self._close_when_idle()
            raise _NotUsable from None
        stream = _Stream(self._loop.create_future())
        self._streams[stream_id] = stream
        try:
            self._h2.send_headers(stream_id, headers, end_stream=not body)
        except h2.exceptions.ProtocolError as exc:  # e.g. more streams than the peer allows: never sent
            del self._streams[stream_id]
            raise StreamRefused(f"could not open a stream: {exc}") from None
        if body:
            stream.pending = body
            self._send_body(stream_id, stream)
        if not self._flush_scheduled:
            # Written after the current batch of callbacks: the requests that the same incoming answers woke up go
            # out in one TLS record and one syscall instead of one each.
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        try:
            return await stream.future
        finally:
            if not stream.future.done() or stream.future.cancelled():
                self._cancel(stream_id)

    async def _wait_for_stream(self) -> None:
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._wake(1)  # woken and cancelled at once: hand the free stream to the next waiter
            else:
                self._waiters.remove(waiter)
            raise

    def _wake(self, count: int) -> None:
        while count > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                count -= 1

    def _wake_all(self) -> None:
        self._wake(len(self._waiters))

    def _send_body(self, stream_id: int, stream: _Stream) -> None:
        h2_conn = self._h2
        while stream.pending:
            try:
                window = h2_conn.local_flow_control_window(stream_id)
            except h2.exceptions.StreamClosedError:
                stream.pending = b""
                break
            size = min(window, h2_conn.max_outbound_frame_size, len(stream.pending))
            if size <= 0:
                self._blocked[stream_id] = None
                return
            chunk, stream.pending = stream.pending[:size], stream.pending[size:]
            h2_conn.send_data(stream_id, chunk, end_stream=not stream.pending)
        self._blocked.pop(stream_id, None)

    def _resume_bodies(self) -> None:
        for stream_id in list(self._blocked):
            stream = self._streams.get(stream_id)
            if stream is None:
                self._blocked.pop(stream_id, None)
            else:
                self._send_body(stream_id, stream)

    def _cancel(self, stream_id: int) -> None:
        """The request gave up (deadline or cancellation): reset its stream and free its slot."""
        if self._streams.pop(stream_id, None) is None:
            return
        self._blocked.pop(stream_id, None)
        self._reset(stream_id, h2.errors.ErrorCodes.CANCEL)
        self._flush()
        self._stream_done()

    def _reset(self, stream_id: int, code: h2.errors.ErrorCodes) -> None:
        if self.closed:
            return
        try:
            self._h2.reset_stream(stream_id, code)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            pass  # already closed on the peer's side, or the connection is: nothing to reset

    def _finish(self, stream_id: int, result: Response | Http2Error) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return
        self._blocked.pop(stream_id, None)
        if not stream.future.done():
            if isinstance(result, Response):
                stream.future.set_result(result)
            else:
                stream.future.set_exception(result)
        self._stream_done()

    def _stream_done(self) -> None:
        if self.going_away:
            self._close_when_idle()
        else:
            self._wake(1)

    # -- the peer ----------------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's TLS transport implements Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        tls = transport.get_extra_info("ssl_object")
        if tls is None or tls.selected_alpn_protocol() != "h2":
            self.abort(ConnectError("the gateway does not speak HTTP/2 (no h2 in TLS ALPN)"))
            return
        self._h2.initiate_connection()
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._flush()  # h2 queued a GOAWAY naming the error
            self.abort(ConnectionClosed(f"HTTP/2 protocol error from the gateway: {exc}"))
            return
        for event in events:
            handler = _HANDLERS.get(type(event))
            if handler is not None:
                handler(self, event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_all(ConnectionClosed(f"connection lost: {exc}" if exc else "connection closed by the gateway"))
        if not self.lost.done():
            self.lost.set_result(None)

    def _on_response(self, event: h2.events.ResponseReceived) -> None:
        stream = self._streams.get(event.stream_id or 0)
        if stream is None:
            return
        for name, value in event.headers or ():
            if name == b":status":
                stream.status = int(value)
            elif not name.startswith(b":"):
                stream.headers[bytes(name).decode("latin-1")] = bytes(value).decode("latin-1")

    def _on_data(self, event: h2.events.DataReceived) -> None:
        stream_id = event.stream_id or 0
        # Give the window back at once, whatever happens to the data: a stream reset below must not keep the
        # connection's window consumed.
        self._h2.acknowledge_received_data(event.flow_controlled_length or 0, stream_id)
        stream = self._streams.get(stream_id)
        if stream is None or event.data is None:
            return
        room = self._max_body - stream.size
        if len(event.data) <= room:
            stream.chunks.append(event.data)
            stream.size += len(event.data)
            return
        stream.chunks.append(event.data[:room])
        # Enough to classify: stop the peer sending the rest, and answer now with what was kept.
        self._reset(stream_id, h2.errors.ErrorCodes.CANCEL)
        self._finish(stream_id, Response(stream.status, stream.headers, b"".join(stream.chunks), True))

    def _on_end(self, event: h2.events.StreamEnded) -> None:
        stream_id = event.stream_id or 0
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        if stream.pending:
            # Answered before the whole request body went out (e.g. 413): tell the peer we stop sending.
            self._reset(stream_id, h2.errors.ErrorCodes.NO_ERROR)
        if not stream.status:
            self._finish(stream_id, StreamReset("the gateway ended the stream without a response"))
            return
        self._finish(stream_id, Response(stream.status, stream.headers, b"".join(stream.chunks)))

    def _on_reset(self, event: h2.events.StreamReset) -> None:
        code = _code_name(event.error_code)
        if event.error_code == h2.errors.ErrorCodes.REFUSED_STREAM:
            self._finish(event.stream_id or 0, StreamRefused("the gateway refused the stream (REFUSED_STREAM)"))
        else:
            self._finish(event.stream_id or 0, StreamReset(f"the gateway reset the stream ({code})"))

    def _on_window(self, event: h2.events.WindowUpdated) -> None:
        if self._blocked:
            self._resume_bodies()

    def _on_settings(self, event: h2.events.RemoteSettingsChanged) -> None:
        limit = self._h2.remote_settings.max_concurrent_streams
        before, self._max_streams = self._max_streams, min(limit, MAX_STREAMS)
        if self._max_streams > before:
            self._wake(self._max_streams - before)
        if h2.settings.SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings and self._blocked:
            self._resume_bodies()
        if not self.ready.done():
            self.ready.set_result(None)

    def _on_goaway(self, event: h2.events.ConnectionTerminated) -> None:
        self.going_away = True
        last = event.last_stream_id or 0
        self._last_stream_id = last if self._last_stream_id is None else min(last, self._last_stream_id)
        detail = _code_name(event.error_code)
        if event.additional_data:
            detail += " " + event.additional_data[:100].decode("utf-8", "replace")
        for stream_id in [sid for sid in self._streams if sid > self._last_stream_id]:
            self._finish(stream_id, StreamRefused(f"GOAWAY from the gateway ({detail}); not processed"))
        self._wake_all()  # waiters find the connection unusable and move to a new one
        if not self.ready.done():
            self.ready.set_exception(ConnectError(f"GOAWAY from the gateway at connect ({detail})"))
        self._close_when_idle()

    def check_alive(self) -> None:
        """Send a PING; drop the connection if its ACK does not come within the ping timeout."""
        if self._ping is not None or self.closed:
            return
        data = os.urandom(8)
        self._h2.ping(data)
        self._flush()
        self._ping = (data, self._loop.call_later(self._ping_timeout, self._ping_expired))

    def _ping_expired(self) -> None:
        self._ping = None
        self.abort(ConnectionClosed("the gateway did not answer a PING: connection presumed dead"))

    def _on_ping_ack(self, event: h2.events.PingAckReceived) -> None:
        if self._ping is not None and event.ping_data == self._ping[0]:
            self._ping[1].cancel()
            self._ping = None

    # -- the end -----------------------------------------------------------------------------------------------
    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self._h2.data_to_send()
        if not data or self._transport is None or self.closed:
            return
        self._transport.write(data)
        if self._transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.abort(ConnectionClosed("the gateway does not read what is sent to it"))

    def _close_when_idle(self) -> None:
        if not self._streams and self._transport is not None and not self.closed:
            self.closed = True
            self._transport.close()

    def close(self) -> None:
        """Say GOAWAY and close; requests in flight fail."""
        if not self.closed:
            try:
                self._h2.close_connection()
            except h2.exceptions.ProtocolError:
                pass
            self._flush()
        self._fail_all(ConnectionClosed("the client closed the connection"))
        if self._transport is not None:
            self._transport.close()

    def abort(self, error: Http2Error) -> None:
        """Drop the connection at once; requests in flight fail with `error`."""
        self._fail_all(error)
        if self._transport is not None:
            self._transport.abort()

    def _fail_all(self, error: Http2Error) -> None:
        self.closed = True
        if self._ping is not None:
            self._ping[1].cancel()
            self._ping = None
        for stream_id in list(self._streams):
            self._finish(stream_id, error)
        self._wake_all()
        if not self.ready.done():
            self.ready.set_exception(error)
            self.ready.exception()  # retrieved: a connect that already gave up must not log it as lost
        if not self._forgotten:
            self._forgotten = True
            self._on_lost(self)


def _check_value(name: str, value: str) -> str:
    # HTTP/2 forbids these in field values (RFC 9113 section 8.2.1); a gateway answers one with a PROTOCOL_ERROR
    # that can take the whole connection, every other request on it, down.
    if "\r" in value or "\n" in value or "\0" in value or value != value.strip(" \t"):
        raise InvalidRequest(f"header {name} has a value HTTP/2 cannot carry (CR, LF, NUL or edge whitespace)")
    return value


def _code_name(code: h2.errors.ErrorCodes | int | None) -> str:
    return code.name if isinstance(code, h2.errors.ErrorCodes) else f"error code {code}"


_HANDLERS: dict[type[h2.events.Event], Callable[[_Connection, h2.events.Event], None]] = {
    h2.events.ResponseReceived: _Connection._on_response,  # type: ignore[dict-item]
    h2.events.DataReceived: _Connection._on_data,  # type: ignore[dict-item]
    h2.events.StreamEnded: _Connection._on_end,  # type: ignore[dict-item]
    h2.events.StreamReset: _Connection._on_reset,  # type: ignore[dict-item]
    h2.events.WindowUpdated: _Connection._on_window,  # type: ignore[dict-item]
    h2.events.RemoteSettingsChanged: _Connection._on_settings,  # type: ignore[dict-item]
    h2.events.ConnectionTerminated: _Connection._on_goaway,  # type: ignore[dict-item]
    h2.events.PingAckReceived: _Connection._on_ping_ack,  # type: ignore[dict-item]
}
