"""Subscriber side of the bench: many cheap WebSocket clients in one process.

Each subscriber is a raw asyncio Protocol (run on uvloop) that does the client handshake, waits for
``pusher:connection_established``, subscribes to the bench channel, waits for
``pusher_internal:subscription_succeeded`` and then only *counts* the server frames it receives: it walks the
frame headers (server frames are unmasked) and counts text frames that carry the ``"tick"`` event, without
decoding them. A few evenly spaced subscribers (the latency sample) also decode every tick fully and record
``receive time - t`` where ``t`` is the send time (``time.time_ns()``) the trigger embedded in the event.

:func:`worker_main` is the entry point of one client process; the runner talks to it over a Pipe and reads
its progress from a shared counter.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from typing import Any, cast

import orjson

from bench.fanout.common import CHANNEL, upgrade_request, ws_client_frame

TICK = b'"tick"'


@dataclass
class WorkerConfig:
    host: str
    port: int
    key: str
    indexes: list[int]  # global subscriber indexes served by this worker
    sample: set[int]  # global indexes whose ticks are fully decoded for latency
    connect_concurrency: int = 100
    setup_timeout: float = 120.0


@dataclass
class WorkerState:
    received: int = 0  # tick frames
    other: int = 0  # any other data frame after subscription (warm-up events, pings, errors)
    last_ns: int = 0  # receive time of the latest tick
    latencies: array[int] = field(default_factory=lambda: array("q"))
    closed: int = 0
    errors: list[str] = field(default_factory=list)


class Subscriber(asyncio.Protocol):
    """One WebSocket subscriber. Phases: 0 handshake, 1 wait established, 2 wait subscribed, 3 streaming."""

    __slots__ = ("buf", "phase", "sample", "state", "subscribed", "transport", "host", "key")

    def __init__(self, state: WorkerState, host: str, key: str, sample: bool, subscribed: asyncio.Future[None]):
        self.state = state
        self.host = host
        self.key = key
        self.sample = sample
        self.subscribed = subscribed
        self.buf = b""
        self.phase = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self.transport.write(upgrade_request(self.host, f"/app/{self.key}?protocol=7&client=js&version=8.6.0"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.closed += 1
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError(f"closed during setup (phase {self.phase}): {exc}"))

    def _fail(self, why: str) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        if self.phase == 3:
            self._stream(data)
            return
        if self.phase == 0:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            status = data[: data.find(b"\r\n")]
            if b" 101 " not in status + b" ":
                self._fail(f"handshake refused: {status!r}")
                return
            data = data[end + 4 :]
            self.phase = 1
        self._setup_frames(data)

    # -- slow path: setup messages, fully decoded -----------------------------------------------------
    def _setup_frames(self, data: bytes) -> None:
        i, n = 0, len(data)
        while self.phase < 3:
            got = _next_frame(data, i, n)
            if got is None:
                break
            op, start, end = got
            i = end
            if op == 0x9:
                self._pong(data[start:end])
                continue
            if op != 0x1:
                continue
            msg = orjson.loads(data[start:end])
            event = msg.get("event")
            if self.phase == 1 and event == "pusher:connection_established":
                self.phase = 2
                sub = orjson.dumps({"event": "pusher:subscribe", "data": {"auth": "", "channel": CHANNEL}})
                assert self.transport is not None
                self.transport.write(ws_client_frame(sub))
            elif self.phase == 2 and event == "pusher_internal:subscription_succeeded":
                self.phase = 3
                if not self.subscribed.done():
                    self.subscribed.set_result(None)
            elif event == "pusher:error":
                self._fail(f"pusher:error {msg.get('data')!r}")
                return
        if i < n:
            if self.phase == 3:
                self._stream(data[i:])
            else:
                self.buf = data[i:]

    def _pong(self, payload: bytes) -> None:
        if self.transport is not None:
            self.transport.write(ws_client_frame(payload, 0xA))

    # -- hot path: count frames ---------------------------------------------------------------------
    def _stream(self, data: bytes) -> None:
        n = len(data)
        i = 0
        ticks = 0
        other = 0
        lat: list[int] | None = [] if self.sample else None
        find = data.find
        while True:
            if n - i < 2:
                break
            b0 = data[i]
            ln = data[i + 1]
            if ln < 126:
                start = i + 2
            elif ln == 126:
                if n - i < 4:
                    break
                ln = (data[i + 2] << 8) | data[i + 3]
                start = i + 4
            else:
                if n - i < 10:
                    break
                ln = int.from_bytes(data[i + 2 : i + 10], "big")
                start = i + 10
            end = start + ln
            if end > n:
                break
            op = b0 & 0x0F
            if op == 0x1 and find(TICK, start, end) >= 0:
                ticks += 1
                if lat is not None:
                    msg = orjson.loads(data[start:end])
                    lat.append(orjson.loads(msg["data"])["t"])
            elif op == 0x9:
                self._pong(data[start:end])
                other += 1
            elif op == 0x8:
                other += 1
                if self.transport is not None:
                    self.transport.close()
            else:
                other += 1
                if op == 0x1 and find(b"pusher:ping", start, end) >= 0 and self.transport is not None:
                    self.transport.write(ws_client_frame(b'{"event":"pusher:pong","data":"{}"}'))
            i = end
        if i < n:
            self.buf = data[i:]
        st = self.state
        if ticks:
            now = time.time_ns()
            st.received += ticks
            st.last_ns = now
            if lat:
                st.latencies.extend([now - t for t in lat])
        if other:
            st.other += other


def _next_frame(data: bytes, i: int, n: int) -> tuple[int, int, int] | None:
    if n - i < 2:
        return None
    ln = data[i + 1] & 0x7F
    start = i + 2
    if ln == 126:
        if n - i < 4:
            return None
        ln = int.from_bytes(data[i + 2 : i + 4], "big")
        start = i + 4
    elif ln == 127:
        if n - i < 10:
            return None
        ln = int.from_bytes(data[i + 2 : i + 10], "big")
        start = i + 10
    end = start + ln
    if end > n:
        return None
    return data[i] & 0x0F, start, end


async def _connect_all(cfg: WorkerConfig, state: WorkerState) -> list[asyncio.Transport]:
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(cfg.connect_concurrency)
    transports: list[asyncio.Transport] = []

    async def one(idx: int) -> None:
        async with sem:
            fut: asyncio.Future[None] = loop.create_future()
            tr, _ = await loop.create_connection(
                lambda: Subscriber(state, f"{cfg.host}:{cfg.port}", cfg.key, idx in cfg.sample, fut),
                cfg.host,
                cfg.port,
            )
            transports.append(tr)
            await fut

    await asyncio.wait_for(asyncio.gather(*(one(i) for i in cfg.indexes)), cfg.setup_timeout)
    return transports


async def _run(conn: Connection, cfg: WorkerConfig, counter: Synchronized[int]) -> None:
    loop = asyncio.get_running_loop()
    state = WorkerState()
    try:
        transports = await _connect_all(cfg, state)
    except Exception as exc:  # report any setup failure to the runner, which prints it
        conn.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        return
    conn.send({"ok": True, "subscribed": len(transports)})

    async def publish_progress() -> None:
        while True:
            counter.value = state.received
            await asyncio.sleep(0.005)

    progress = loop.create_task(publish_progress())
    cmd = await loop.run_in_executor(None, conn.recv)
    progress.cancel()
    counter.value = state.received
    report: dict[str, Any] = {
        "cmd": cmd,
        "received": state.received,
        "other": state.other,
        "last_ns": state.last_ns,
        "closed": state.closed,
        "latencies": state.latencies.tobytes(),
    }
    conn.send(report)
    for tr in transports:
        tr.abort()
    await asyncio.sleep(0.05)


def worker_main(conn: Connection, cfg: WorkerConfig, counter: Synchronized[int]) -> None:
    """Entry point of one client process (multiprocessing, spawn)."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_run(conn, cfg, counter))
    conn.close()
