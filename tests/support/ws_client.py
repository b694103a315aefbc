"""A small Pusher-protocol WebSocket client for integration tests, so tests read like the spec.

    client = await WsClient.connect(server.ws_url())      # waits for pusher:connection_established
    await client.subscribe("private-x", auth=sign(...))   # waits for subscription_succeeded
    await client.send("client-hi", {"a": 1}, channel="private-x")
    frame = await client.expect("client-hi", channel="private-x")

Every wait has a timeout (generous, see TIMEOUT): a broken server fails a test, it never hangs it.
Frames are returned as parsed JSON dicts exactly as the server sent them (`data` of channel events is
still the JSON *string*; `data_of(frame)` decodes it).

`RawWsSocket` is a hand-made client on a plain TCP socket (handshake and masked frames by hand) for
tests that need a client which stops reading.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tidings.channels import signatures

# How long to wait for something the server owes (a frame, a close). Generous: a loaded machine may take
# seconds, and waiting costs nothing when the answer comes. Waits for something NOT to happen
# (`expect_nothing`) are short windows of their own.
TIMEOUT = 30.0


class WsClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.socket_id: str | None = None
        self.activity_timeout: int | None = None
        self.established: dict[str, Any] | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None

    # -- connecting --------------------------------------------------------------------------

    @classmethod
    async def open(cls, url: str, *, timeout: float = TIMEOUT) -> WsClient:
        """Open the WebSocket only; the caller reads the first frame itself."""
        ws = await asyncio.wait_for(
            connect(url, ping_interval=None, open_timeout=timeout, close_timeout=2, max_size=2**22),
            timeout,
        )
        return cls(ws)

    @classmethod
    async def connect(cls, url: str, *, timeout: float = TIMEOUT) -> WsClient:
        """Open and wait for `pusher:connection_established`, which must be the first frame."""
        client = await cls.open(url, timeout=timeout)
        frame = await client.expect("pusher:connection_established", timeout=timeout)
        data = json.loads(frame["data"])
        client.established = frame
        client.socket_id = data["socket_id"]
        client.activity_timeout = data["activity_timeout"]
        return client

    async def __aenter__(self) -> WsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.ws.close(), 3)
        except (TimeoutError, ConnectionClosed, OSError):
            pass

    # -- receiving ---------------------------------------------------------------------------

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame, parsed. Fails on timeout or on a closed connection."""
        try:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
        except TimeoutError:
            raise AssertionError(f"no frame from the server within {timeout}s") from None
        except ConnectionClosed as exc:
            self._closed(exc)
            raise AssertionError(
                f"connection closed ({self.close_code} {self.close_reason!r}) while waiting for a frame"
            ) from None
        assert isinstance(raw, str), f"expected a text frame, got binary {raw[:80]!r}"
        frame = json.loads(raw)
        assert isinstance(frame, dict), f"frame is not a JSON object: {raw[:200]}"
        return frame

    async def expect(self, event: str, *, channel: str | None = None, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame must be `event` (and on `channel`, when given)."""
        frame = await self.recv(timeout)
        assert frame.get("event") == event, f"expected {event!r}, got {frame}"
        if channel is not None:
            assert frame.get("channel") == channel, f"expected channel {channel!r}, got {frame}"
        return frame

    async def wait_for(self, event: str, *, channel: str | None = None, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Skip frames until `event` (on `channel`, when given) arrives."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{event!r} not received within {timeout}s; got {seen}")
            frame = await self.recv(left)
            if frame.get("event") == event and (channel is None or frame.get("channel") == channel):
                return frame
            seen.append(frame)

    async def expect_nothing(self, timeout: float = 0.3) -> None:
        """No frame arrives within `timeout` seconds (and the connection stays open)."""
        try:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
        except TimeoutError:
            return
        except ConnectionClosed as exc:
            self._closed(exc)
            raise AssertionError(f"connection closed ({self.close_code} {self.close_reason!r})") from None
        raise AssertionError(f"expected no frame, got {raw[:300]!r}")

    async def expect_error(self, code: int | None, *, channel: str | None = None,
                           timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame is `pusher:error` with this code (and channel); returns its data."""
        frame = await self.expect("pusher:error", timeout=timeout)
        data = frame["data"]
        assert isinstance(data, dict), f"pusher:error data should be an object: {frame}"
        assert data.get("code") == code, f"expected error code {code}, got {frame}"
        assert isinstance(data.get("message"), str) and data["message"], frame
        assert frame.get("channel") == channel, f"expected channel {channel!r} on {frame}"
        return data

    async def expect_close(self, code: int, *, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """Read until the server closes; the close code must be `code`. Returns the frames read first."""
        frames: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"connection not closed within {timeout}s; got {frames}")
            try:
                raw = await asyncio.wait_for(self.ws.recv(), left)
            except TimeoutError:
                raise AssertionError(f"connection not closed within {timeout}s; got {frames}") from None
            except ConnectionClosed as exc:
                self._closed(exc)
                break
            frames.append(json.loads(raw) if isinstance(raw, str) else {"binary": raw})
        assert self.close_code == code, f"expected close {code}, got {self.close_code} {self.close_reason!r}"
        return frames

    def _closed(self, exc: ConnectionClosed) -> None:
        rcvd = exc.rcvd
        self.close_code = rcvd.code if rcvd is not None else None
        self.close_reason = rcvd.reason if rcvd is not None else None

    @property
    def is_open(self) -> bool:
        return self.ws.close_code is None and self.close_code is None

    # -- sending -----------------------------------------------------------------------------

    async def send_raw(self, payload: str | bytes) -> None:
        await asyncio.wait_for(self.ws.send(payload), TIMEOUT)

    async def send(self, event: str, data: Any = None, *, channel: str | None = None) -> None:
        msg: dict[str, Any] = {"event": event}
        if data is not None:
            msg["data"] = data
        if channel is not None:
            msg["channel"] = channel
        await self.send_raw(json.dumps(msg))

    async def ping(self) -> dict[str, Any]:
        """Client `pusher:ping`, answered by `pusher:pong` (the next frame)."""
        await self.send("pusher:ping", {})
        return await self.expect("pusher:pong")

    async def send_subscribe(self, channel: str, *, auth: str | None = None, channel_data: str | None = None,
                             data: dict[str, Any] | None = None) -> None:
        payload: dict[str, Any] = {"channel": channel, **(data or {})}
        if auth is not None:
            payload["auth"] = auth
        if channel_data is not None:
            payload["channel_data"] = channel_data
        await self.send("pusher:subscribe", payload)

    async def subscribe(self, channel: str, *, auth: str | None = None,
                        channel_data: str | None = None) -> dict[str, Any]:
        """Subscribe and wait for `pusher_internal:subscription_succeeded` (the next frame)."""
        await self.send_subscribe(channel, auth=auth, channel_data=channel_data)
        return await self.expect("pusher_internal:subscription_succeeded", channel=channel)

    async def subscribe_error(self, channel: str, *, auth: str | None = None,
                              channel_data: str | None = None) -> dict[str, Any]:
        """Subscribe expecting refusal: returns the data of the `pusher:subscription_error` frame."""
        await self.send_subscribe(channel, auth=auth, channel_data=channel_data)
        frame = await self.expect("pusher:subscription_error")
        assert frame["channel"] == channel, frame
        data = frame["data"]
        assert set(data) == {"type", "error", "status"}, frame
        assert isinstance(data["error"], str) and data["error"], frame
        return data

    async def unsubscribe(self, channel: str) -> None:
        await self.send("pusher:unsubscribe", {"channel": channel})

    # -- auth helpers ------------------------------------------------------------------------

    def private_auth(self, key: str, secret: str, channel: str) -> str:
        assert self.socket_id is not None
        return signatures.token(key, secret, signatures.channel_string(self.socket_id, channel))

    def presence_auth(self, key: str, secret: str, channel: str, channel_data: str) -> str:
        assert self.socket_id is not None
        return signatures.token(key, secret, signatures.channel_string(self.socket_id, channel, channel_data))


def data_of(frame: dict[str, Any]) -> Any:
    """The decoded `data` of a frame whose data is a JSON string."""
    data = frame["data"]
    assert isinstance(data, str), f"data should be a JSON string: {frame}"
    return json.loads(data)


async def connect_many(url: str, n: int) -> list[WsClient]:
    return list(await asyncio.gather(*(WsClient.connect(url) for _ in range(n))))


async def close_all(clients: list[WsClient]) -> None:
    await asyncio.gather(*(c.close() for c in clients))


# -- a raw, hand-driven client --------------------------------------------------------------


def masked_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A client-to-server WebSocket frame (clients must mask)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


class RawWsSocket:
    """A WebSocket client on a blocking TCP socket: handshake by hand, then only what the test does."""

    def __init__(self, host: str, port: int, path: str, *, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise AssertionError(f"server closed during handshake: {head!r}")
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head

    def send_json(self, obj: Any) -> None:
        self.sock.sendall(masked_frame(json.dumps(obj).encode()))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
