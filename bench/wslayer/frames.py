"""CPU per frame and heap per connection of each WebSocket layer, in this process, with no sockets.

Every layer gets the same job for a server-side connection past the handshake: take one masked client text
frame (``{"event":"pusher:ping","data":{}}``, 34 bytes), parse it (unmask, UTF-8 decode to ``str``), and
answer with one unmasked text frame (``{"event":"pusher:pong","data":"{}"}``) written to a transport that
only counts bytes. One frame per read, as an idle client's traffic arrives.

- ``floor``: the hand-rolled parser of ``bench/fanout/floor.py`` (header walk, ``unmask`` on big ints,
  ``ws_server_frame``): what a server without a WebSocket library does.
- ``websockets``: ``ServerProtocol.receive_data`` / ``events_received`` / ``send_text`` / ``data_to_send``,
  after a real handshake through the same object.
- ``websockets-lean``: the same, the handshake's headers emptied once it is answered (``server.py``).
- ``wsproto``: ``WSConnection.receive_data`` / ``events`` / ``send(Message)``, after a real handshake.
- ``aiohttp``: the parser, queue and writer ``WebSocketResponse.prepare`` would set up (aiohttp 3.14:
  ``WebSocketReader`` (its compiled version), ``WebSocketDataQueue``, ``WebSocketWriter``), built directly
  because there is no HTTP request here; then ``await ws.receive()`` and ``await ws.send_str()``, the calls
  Tidings's handler makes.

Two loops per layer:

``tight``     ``for _ in range(n): feed(frame)``: the layer's own cost. For aiohttp ``receive()`` finds the
              message already queued and does not suspend.
``via loop``  each frame is fed from its own event-loop callback (uvloop), as ``data_received`` would be; for
              aiohttp a handler task sits in ``async for msg in ws`` and is woken for each message (a future
              and a task step per message), which is how aiohttp delivers frames to a handler. The
              callback itself costs the same for every layer.

frames/s = n / CPU seconds (``time.process_time``) of the loop, in the best of the rounds (the layers take turns
in each round). ``heap KB`` is what ``tracemalloc`` sees
per layer object after the handshake and one message each way (2000 objects): the layer's own state, with
no transport or socket.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import os
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import uvloop
from aiohttp import WSMsgType, web
from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader
from aiohttp._websocket.writer import WebSocketWriter
from aiohttp.base_protocol import BaseProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request as WsRequest
from websockets.server import ServerProtocol
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Message, Ping, TextMessage
from wsproto.events import Request as WsprotoRequest

from bench.fanout.common import frame_header, unmask, ws_client_frame, ws_server_frame

CLIENT_TEXT = b'{"event":"pusher:ping","data":{}}'
ANSWER = '{"event":"pusher:pong","data":"{}"}'
ANSWER_B = ANSWER.encode()
MAX_MESSAGE = 10_240
LAYERS = ["floor", "websockets", "websockets-lean", "wsproto", "aiohttp"]

Feed = Callable[[bytes], None]


class Sink:
    """A transport that counts what it is given."""

    def __init__(self) -> None:
        self.bytes = 0
        self.writes = 0
        self.target = -1
        self.done: asyncio.Future[None] | None = None

    def write(self, data: bytes | bytearray) -> None:
        self.bytes += len(data)
        self.writes += 1
        if self.writes == self.target and self.done is not None:
            self.done.set_result(None)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


def handshake_request() -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        "GET /app/bench-key?protocol=7&client=js&version=8.6.0 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


# -- the layers: build one server-side connection past its handshake; return (feed, state) -------------

def floor_layer(sink: Sink) -> tuple[Feed, Any]:
    state = {"buf": b""}

    def feed(data: bytes) -> None:  # bench/fanout/floor.py's FloorProtocol._ws_frames, answering every text
        buf = state["buf"] + data
        while len(buf) >= 6:
            op, n, pos = frame_header(buf)
            if len(buf) < pos + 4 + n:
                break
            payload = unmask(buf[pos : pos + 4], buf[pos + 4 : pos + 4 + n])
            buf = buf[pos + 4 + n :]
            if op == 0x1:
                payload.decode()
                sink.write(ws_server_frame(ANSWER_B))
            elif op == 0x9:
                sink.write(ws_server_frame(payload, 0xA))
        state["buf"] = buf

    return feed, state


def websockets_layer(sink: Sink, lean: bool = False) -> tuple[Feed, Any]:
    ws = ServerProtocol(max_size=MAX_MESSAGE)
    ws.receive_data(handshake_request())
    for ev in ws.events_received():
        assert isinstance(ev, WsRequest)
        resp = ws.accept(ev)
        ws.send_response(resp)
        if lean:  # as bench/wslayer/server.py's WebsocketsLeanConn
            ev.headers.clear()
            resp.headers.clear()
    for chunk in ws.data_to_send():
        assert chunk.startswith(b"HTTP/1.1 101 ")

    def feed(data: bytes) -> None:
        ws.receive_data(data)
        for ev in ws.events_received():
            if isinstance(ev, Frame) and ev.opcode is Opcode.TEXT:
                str(ev.data, "utf-8")
                ws.send_text(ANSWER_B)
        for chunk in ws.data_to_send():
            sink.write(chunk)

    return feed, ws


def websockets_lean_layer(sink: Sink) -> tuple[Feed, Any]:
    return websockets_layer(sink, lean=True)


def wsproto_layer(sink: Sink) -> tuple[Feed, Any]:
    ws = WSConnection(ConnectionType.SERVER)
    ws.receive_data(handshake_request())
    for ev in ws.events():
        assert isinstance(ev, WsprotoRequest)
        assert ws.send(AcceptConnection()).startswith(b"HTTP/1.1 101 ")

    def feed(data: bytes) -> None:
        ws.receive_data(data)
        for ev in ws.events():
            if isinstance(ev, TextMessage):
                sink.write(ws.send(Message(data=ANSWER)))
            elif isinstance(ev, Ping):
                sink.write(ws.send(ev.response()))

    return feed, ws


@dataclass
class AiohttpConn:
    ws: web.WebSocketResponse
    parser: Any
    protocol: BaseProtocol
    objects: list[Any] = field(default_factory=list)


def aiohttp_layer(sink: Sink, loop: asyncio.AbstractEventLoop) -> tuple[Feed, AiohttpConn]:
    """What ``WebSocketResponse._pre_start`` / ``_post_start`` set up, without an HTTP request."""
    proto = BaseProtocol(loop)
    ws = web.WebSocketResponse(compress=False, autoping=True, heartbeat=None, max_msg_size=MAX_MESSAGE + 1)
    ws._loop = loop
    ws._writer = WebSocketWriter(proto, sink, compress=0)  # type: ignore[arg-type]
    ws._reader = WebSocketDataQueue(proto, 2**16, loop=loop)
    parser = WebSocketReader(ws._reader, MAX_MESSAGE + 1, compress=False, decode_text=True)
    return cast(Feed, parser.feed_data), AiohttpConn(ws, parser, proto)  # its (bool, bytes) result is unused


SYNC_LAYERS: dict[str, Callable[[Sink], tuple[Feed, Any]]] = {
    "floor": floor_layer, "websockets": websockets_layer, "websockets-lean": websockets_lean_layer,
    "wsproto": wsproto_layer,
}


# -- the loops ----------------------------------------------------------------------------------------

def _check(sink: Sink, n: int, layer: str) -> None:
    if sink.writes != n:
        raise RuntimeError(f"{layer}: {sink.writes} answers for {n} frames")


def tight(layer: str, n: int) -> float:
    """CPU seconds for n frames fed one by one to the layer."""
    frame = ws_client_frame(CLIENT_TEXT)
    sink = Sink()
    if layer == "aiohttp":
        return _tight_aiohttp(n, frame, sink)
    feed = SYNC_LAYERS[layer](sink)[0]
    gc.collect()
    t0 = time.process_time()
    for _ in range(n):
        feed(frame)
    cpu = time.process_time() - t0
    _check(sink, n, layer)
    return cpu


def _tight_aiohttp(n: int, frame: bytes, sink: Sink) -> float:
    async def run() -> float:
        feed, conn = aiohttp_layer(sink, asyncio.get_running_loop())
        ws = conn.ws
        gc.collect()
        t0 = time.process_time()
        for _ in range(n):
            feed(frame)
            msg = await ws.receive()
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(ANSWER)
        cpu = time.process_time() - t0
        _check(sink, n, "aiohttp")
        return cpu

    return uvloop.run(run())


def via_loop(layer: str, n: int) -> float:
    """CPU seconds for n frames, each fed from its own event-loop callback (aiohttp: a handler task answers)."""
    frame = ws_client_frame(CLIENT_TEXT)

    async def run() -> float:
        loop = asyncio.get_running_loop()
        sink = Sink()
        sink.target = n
        sink.done = loop.create_future()
        handler: asyncio.Task[None] | None = None
        if layer == "aiohttp":
            feed, conn = aiohttp_layer(sink, loop)
            ws = conn.ws

            async def handle() -> None:
                async for msg in ws:
                    if msg.type is WSMsgType.TEXT:
                        await ws.send_str(ANSWER)

            handler = loop.create_task(handle())
            await asyncio.sleep(0)
        else:
            feed = SYNC_LAYERS[layer](sink)[0]
        count = 0

        def step() -> None:
            nonlocal count
            feed(frame)
            count += 1
            if count < n:
                loop.call_soon(step)

        gc.collect()
        t0 = time.process_time()
        loop.call_soon(step)
        await sink.done
        cpu = time.process_time() - t0
        if handler is not None:
            handler.cancel()
        _check(sink, n, layer)
        return cpu

    return uvloop.run(run())


def heap_kb(layer: str, count: int = 2000) -> float | None:
    """tracemalloc'd bytes per layer object after the handshake and one message each way, in KB."""
    frame = ws_client_frame(b'{"event":"pusher:subscribe","data":{"auth":"","channel":"idle-1"}}')
    sink = Sink()
    keep: list[Any] = []

    def make_all(loop: asyncio.AbstractEventLoop | None) -> float:
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(count):
            if loop is None:
                feed, obj = SYNC_LAYERS[layer](sink)
            else:
                feed, obj = aiohttp_layer(sink, loop)
            feed(frame)
            keep.append(obj)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        return used / count / 1024

    if layer != "aiohttp":
        return make_all(None)

    async def run() -> float:
        loop = asyncio.get_running_loop()
        kb = make_all(loop)
        for conn in keep:  # the queued message was parsed; read and answer it as the handler would
            msg = await conn.ws.receive()
            assert msg.type is WSMsgType.TEXT
            await conn.ws.send_str(ANSWER)
        return kb

    return uvloop.run(run())


@dataclass
class FrameResult:
    layer: str
    frames: int
    tight_cpu_s: list[float] = field(default_factory=list)
    loop_cpu_s: list[float] = field(default_factory=list)
    heap_kb: float | None = None

    # The best round: noise (other processes, a busy sibling CPU) only ever adds CPU time.
    @property
    def tight_fps(self) -> float:
        return self.frames / min(self.tight_cpu_s) if self.tight_cpu_s else 0.0

    @property
    def loop_fps(self) -> float:
        return self.frames / min(self.loop_cpu_s) if self.loop_cpu_s else 0.0


def run(layers: list[str], frames: int, rounds: int, log: Callable[[str], None] = print) -> list[FrameResult]:
    """``rounds`` rounds, each measuring every layer in turn (tight, then via the loop); the best round counts."""
    results = {name: FrameResult(name, frames) for name in layers}
    for name in layers:
        results[name].heap_kb = heap_kb(name)
    for r in range(rounds):
        for name in layers:
            res = results[name]
            res.tight_cpu_s.append(tight(name, frames))
            res.loop_cpu_s.append(via_loop(name, frames))
            log(f"  round {r + 1}/{rounds} {name}: tight {frames / res.tight_cpu_s[-1]:,.0f} frames/s, "
                f"via loop {frames / res.loop_cpu_s[-1]:,.0f} frames/s")
    return [results[name] for name in layers]
