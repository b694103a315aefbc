"""The floor: a bare asyncio server that measures what the syscalls alone cost.

It speaks just enough of the Pusher protocol for the bench client: a minimal correct WebSocket handshake, a
``pusher:connection_established`` frame, ``pusher_internal:subscription_succeeded`` in answer to
``pusher:subscribe``, and on ``POST /apps/<id>/events`` (same port, signature not checked) it serializes the
event once, frames it once, and calls ``transport.write(frame)`` for every subscriber. No per-connection
objects are touched on the hot path beyond the transport, so its CPU per delivery is the cost of the
``write`` syscalls plus the event loop around them: the lower bound for any Python server on this machine.

Run: ``python -m bench.fanout.floor --port 6001 [--loop uvloop|asyncio]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
from collections.abc import Callable
from typing import cast

from bench.fanout.common import (
    connection_established,
    event_from_trigger_body,
    frame_header,
    subscription_succeeded,
    unmask,
    ws_accept,
    ws_server_frame,
)

CHANNELS: dict[str, dict[asyncio.Transport, None]] = {}
_ids = itertools.count(1)


class FloorProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.ws = False
        self.channels: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            for ch in self.channels:
                CHANNELS.get(ch, {}).pop(self.transport, None)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.ws:
            self._ws_frames()
        else:
            self._http()

    # -- HTTP/1.1: upgrade or trigger requests, keep-alive --------------------------------------------
    def _http(self) -> None:
        assert self.transport is not None
        while not self.ws:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1")
            lines = head.split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            path = target.split("?", 1)[0]
            if method == "GET" and headers.get("upgrade", "").lower() == "websocket":
                self.transport.write(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + ws_accept(headers["sec-websocket-key"]).encode() + b"\r\n\r\n"
                )
                sid = f"{next(_ids)}.{id(self) % 1000000}"
                self.transport.write(ws_server_frame(connection_established(sid)))
                self.ws = True
                if self.buf:
                    self._ws_frames()
                return
            if method == "POST" and path.endswith("/events"):
                channels, message = event_from_trigger_body(body)
                frame = ws_server_frame(message)  # built ONCE
                for ch in channels:
                    for t in CHANNELS.get(ch, ()):
                        t.write(frame)
                self._respond(b"200 OK", b"{}")
            elif method == "GET":
                self._respond(b"200 OK", b"OK")
            else:
                self._respond(b"404 Not Found", b"{}")

    def _respond(self, status: bytes, body: bytes) -> None:
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body
        )

    # -- WebSocket frames from the client (masked) ----------------------------------------------------
    def _ws_frames(self) -> None:
        assert self.transport is not None
        buf = self.buf
        while len(buf) >= 6:
            op, n, pos = frame_header(buf)
            if len(buf) < pos + 4 + n:
                break
            payload = unmask(buf[pos : pos + 4], buf[pos + 4 : pos + 4 + n])
            buf = buf[pos + 4 + n :]
            if op == 0x1:
                self._on_text(payload)
            elif op == 0x9:
                self.transport.write(ws_server_frame(payload, 0xA))
            elif op == 0x8:
                self.transport.write(ws_server_frame(payload[:2], 0x8))
                self.transport.close()
                break
        self.buf = buf

    def _on_text(self, payload: bytes) -> None:
        assert self.transport is not None
        msg = json.loads(payload)
        event = msg.get("event")
        if event == "pusher:subscribe":
            ch = msg["data"]["channel"]
            CHANNELS.setdefault(ch, {})[self.transport] = None
            self.channels.append(ch)
            self.transport.write(ws_server_frame(subscription_succeeded(ch)))
        elif event == "pusher:ping":
            self.transport.write(ws_server_frame(b'{"event":"pusher:pong","data":"{}"}'))


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FloorProtocol, host, port, backlog=4096)
    async with server:
        await server.serve_forever()


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6001)
    p.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = p.parse_args(argv)
    with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
        runner.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
