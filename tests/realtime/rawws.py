"""A tiny WebSocket client on a plain blocking TCP socket, for tests that need full control of the wire.

    ws = RawWs.open(server.host, server.port, f"/app/{server.key}?protocol=7")  # handshake only
    ws.established()                           # reads pusher:connection_established, sets socket_id
    ws.send_json({"event": "pusher:ping", "data": {}})
    ws.expect("pusher:pong")
    ws.rst()                                   # SO_LINGER {1, 0} + close: the kernel sends a TCP RST

Everything received after the handshake head is also kept, byte for byte, in `raw` (to check that no
HTTP response is ever written into the WebSocket stream). Frames are parsed from those bytes; a close
frame from the server raises `Closed` with its code, as do an EOF and a reset. Every read has a timeout.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

TIMEOUT = 20.0

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def mask_payload(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    if n == 0:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def client_frame(payload: bytes, opcode: int = OP_TEXT, *, fin: bool = True) -> bytes:
    """A masked client-to-server frame."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        header = bytes((first, 0x80 | n))
    elif n < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, n)
    mask = os.urandom(4)
    return header + mask + mask_payload(payload, mask)


def json_frame(obj: Any) -> bytes:
    return client_frame(json.dumps(obj, separators=(",", ":")).encode())


@dataclass
class Frame:
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self) -> str:
        return self.payload[2:].decode("utf-8", errors="replace")


class Closed(Exception):
    """The connection ended while reading: `how` is "close" (a close frame, with `code`), "eof" or "reset"."""

    def __init__(self, how: str, code: int | None = None, reason: str = "") -> None:
        super().__init__(f"connection ended by {how}" + (f" (close {code} {reason!r})" if how == "close" else ""))
        self.how = how
        self.code = code
        self.reason = reason


class RawWs:
    def __init__(self, sock: socket.socket, status: int, head: bytes, rest: bytes) -> None:
        self.sock = sock
        self.status = status  # HTTP status of the handshake answer (101 when upgraded)
        self.head = head  # the handshake answer's head, as received
        self.raw = bytearray(rest)  # every byte received after the head
        self._buf = bytearray(rest)
        self.socket_id: str | None = None
        self.closed: Closed | None = None

    # -- connecting ----------------------------------------------------------------------------------

    @classmethod
    def open(cls, host: str, port: int, path: str, *, rcvbuf: int | None = None,
             timeout: float = TIMEOUT, require_upgrade: bool = True) -> RawWs:
        """TCP connect and send the upgrade request; returns once the answer's head is read."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        try:
            sock.connect((host, port))
            key = base64.b64encode(os.urandom(16)).decode()
            request = (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            sock.sendall(request.encode("latin-1"))
            data = b""
            deadline = time.monotonic() + timeout
            while b"\r\n\r\n" not in data:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no handshake answer within {timeout}s: {data!r}")
                chunk = sock.recv(65536)
                if not chunk:
                    raise AssertionError(f"server closed during the handshake: {data!r}")
                data += chunk
        except BaseException:
            sock.close()
            raise
        head, _, rest = data.partition(b"\r\n\r\n")
        try:
            status = int(head.split(b" ", 2)[1])
        except (IndexError, ValueError):
            sock.close()
            raise AssertionError(f"not an HTTP answer: {head!r}") from None
        ws = cls(sock, status, head + b"\r\n\r\n", rest)
        if require_upgrade and status != 101:
            body = ws.read_rest(2.0)
            ws.abandon()
            raise AssertionError(f"handshake answered {status}, not 101: {head!r} {body[:500]!r}")
        return ws

    @classmethod
    def connect(cls, host: str, port: int, key: str, *, rcvbuf: int | None = None,
                timeout: float = TIMEOUT) -> RawWs:
        """Open `/app/{key}?protocol=7` and read `pusher:connection_established`."""
        ws = cls.open(host, port, f"/app/{key}?protocol=7&client=js&version=8.4.0", rcvbuf=rcvbuf, timeout=timeout)
        try:
            ws.established(timeout)
        except BaseException:
            ws.abandon()
            raise
        return ws

    def established(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        frame = self.expect("pusher:connection_established", timeout=timeout)
        data = json.loads(frame["data"])
        self.socket_id = data["socket_id"]
        return frame

    # -- sending -------------------------------------------------------------------------------------

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_json(self, obj: Any) -> None:
        self.sock.sendall(json_frame(obj))

    def send_text(self, text: str) -> None:
        self.sock.sendall(client_frame(text.encode()))

    def send_close(self, code: int = 1000) -> None:
        self.sock.sendall(client_frame(struct.pack("!H", code), OP_CLOSE))

    # -- receiving -----------------------------------------------------------------------------------

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise
        except ConnectionResetError:
            raise Closed("reset") from None
        except OSError as exc:
            raise Closed("reset", reason=str(exc)) from None
        if not chunk:
            raise Closed("eof")
        self.raw += chunk
        self._buf += chunk

    def _parse(self) -> Frame | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            if len(buf) < 4:
                return None
            n = struct.unpack_from("!H", buf, 2)[0]
            pos = 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n = struct.unpack_from("!Q", buf, 2)[0]
            pos = 10
        masked = bool(b1 & 0x80)
        if masked:
            pos += 4
        if len(buf) < pos + n:
            return None
        payload = bytes(buf[pos:pos + n])
        if masked:
            payload = mask_payload(payload, bytes(buf[pos - 4:pos]))
        del buf[:pos + n]
        return Frame(b0 & 0x0F, payload)

    def recv_frame(self, timeout: float = TIMEOUT) -> Frame:
        """The next data frame (pings are answered, pongs skipped). A close frame, EOF or reset raises Closed;
        nothing within `timeout` raises TimeoutError."""
        if self.closed is not None:
            raise self.closed
        deadline = time.monotonic() + timeout
        while True:
            frame = self._parse()
            if frame is None:
                try:
                    self._fill(deadline)
                except Closed as exc:
                    self.closed = exc
                    raise
                continue
            if frame.opcode == OP_PING:
                try:
                    self.sock.sendall(client_frame(frame.payload, OP_PONG))
                except OSError:
                    pass
                continue
            if frame.opcode == OP_PONG:
                continue
            if frame.opcode == OP_CLOSE:
                self.closed = Closed("close", frame.close_code, frame.close_reason)
                raise self.closed
            return frame  # this server never fragments its messages

    def recv_json(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        frame = self.recv_frame(timeout)
        assert frame.opcode == OP_TEXT, f"expected a text frame, got opcode {frame.opcode}: {frame.payload[:200]!r}"
        obj = json.loads(frame.payload)
        assert isinstance(obj, dict), frame.payload[:200]
        return obj

    def expect(self, event: str, *, channel: str | None = None, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame must be `event` (on `channel` when given)."""
        try:
            msg = self.recv_json(timeout)
        except TimeoutError:
            raise AssertionError(f"no frame within {timeout}s while expecting {event!r}") from None
        except Closed as exc:
            raise AssertionError(f"{exc} while expecting {event!r}") from None
        assert msg.get("event") == event, f"expected {event!r}, got {msg}"
        if channel is not None:
            assert msg.get("channel") == channel, f"expected channel {channel!r}, got {msg}"
        return msg

    def wait_for(self, event: str, *, channel: str | None = None, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Skip frames until `event` (on `channel` when given) arrives."""
        deadline = time.monotonic() + timeout
        seen: list[dict[str, Any]] = []
        while True:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                msg = self.recv_json(left)
            except TimeoutError:
                raise AssertionError(f"{event!r} not received within {timeout}s; got {seen[-20:]}") from None
            except Closed as exc:
                raise AssertionError(f"{exc} while waiting for {event!r}; got {seen[-20:]}") from None
            if msg.get("event") == event and (channel is None or msg.get("channel") == channel):
                return msg
            seen.append(msg)

    def read_until_closed(self, timeout: float) -> tuple[Closed | None, list[Frame]]:
        """Read frames until the connection ends or `timeout` passes: (how it ended or None, frames)."""
        deadline = time.monotonic() + timeout
        frames: list[Frame] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, frames
            try:
                frames.append(self.recv_frame(left))
            except TimeoutError:
                return None, frames
            except Closed as exc:
                return exc, frames

    def read_rest(self, timeout: float) -> bytes:
        """Whatever bytes arrive until EOF/reset or `timeout` (for a non-upgraded answer)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._fill(deadline)
            except (TimeoutError, Closed):
                return bytes(self.raw)

    # -- ending --------------------------------------------------------------------------------------

    def arm_rst(self) -> None:
        """SO_LINGER {1, 0}: the next close() sends a TCP RST instead of a FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def rst(self) -> None:
        try:
            self.arm_rst()
        except OSError:
            pass
        self.abandon()

    def abandon(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def fileno(self) -> int:
        return self.sock.fileno()


def rst_all(clients: list[RawWs]) -> None:
    """Reset every connection as close together in time as possible: arm all first, then close all."""
    for c in clients:
        try:
            c.arm_rst()
        except OSError:
            pass
    for c in clients:
        c.abandon()
