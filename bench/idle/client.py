"""Client side of the idle bench: many WebSocket connections in one process, driven phase by phase.

Each connection is a raw asyncio Protocol on uvloop (as in ``bench/fanout/client.py``, whose frame walker and
client framing it reuses). The runner drives every client process through the same phases over a Pipe, so the
phases of all processes line up in time:

``connect``   open the connections, at most ``inflight`` at a time in this process: TCP connect, the HTTP
              upgrade, then wait for ``pusher:connection_established``. Reports the wall-clock span (from the
              first connect to the last ``connection_established``) and each connection's latency.
``subscribe`` send ``pusher:subscribe`` on every connection to its channel (``<prefix><index % channels>``),
              at most ``inflight`` waiting at a time, and wait for ``pusher_internal:subscription_succeeded``.
``status``    counts of what arrived since (pings, anything else) and of connections closed by the server.
``close``     abort every connection (RST, so nothing lingers in TIME_WAIT) and exit.

``warmup N`` runs connect + subscribe + close on N extra connections before the measure. Idle connections answer
WebSocket pings and ``pusher:ping`` so a server that pings is not left unanswered.
"""

from __future__ import annotations

import asyncio
import os
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, cast

from bench.fanout.client import _next_frame
from bench.fanout.common import upgrade_request, ws_client_frame

PONG = b'{"event":"pusher:pong","data":{}}'


@dataclass
class WorkerConfig:
    host: str
    port: int
    path: str  # request target of the upgrade, e.g. /app/<key>?protocol=7&client=js&version=8.6.0
    indexes: list[int]  # global connection indexes served by this process (channel = index % channels)
    channels: int = 100
    channel_prefix: str = "idle-"
    inflight: int = 100  # connections in setup at once, in this process
    conn_timeout: float = 60.0  # one connection's setup
    phase_timeout: float = 600.0


@dataclass
class Counters:
    closed: int = 0  # connections closed (by the server, or reset) after they were established
    pings: int = 0  # WebSocket pings and pusher:ping received after subscription
    other: int = 0  # any other frame received after subscription
    errors: list[str] = field(default_factory=list)

    def error(self, msg: str) -> None:
        if len(self.errors) < 5:
            self.errors.append(msg)


class IdleConn(asyncio.Protocol):
    """One connection. Phases: 0 handshake, 1 wait established, 2 established, 3 wait subscribed, 4 subscribed."""

    __slots__ = ("buf", "counters", "host", "path", "phase", "transport", "waiter")

    def __init__(self, counters: Counters, host: str, path: str, waiter: asyncio.Future[None]) -> None:
        self.counters = counters
        self.host = host
        self.path = path
        self.waiter: asyncio.Future[None] | None = waiter
        self.buf = b""
        self.phase = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self.transport.write(upgrade_request(self.host, self.path))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.phase >= 2:
            self.counters.closed += 1
        self._settle(ConnectionError(f"closed in phase {self.phase}: {exc}"))
        self.transport = None

    def _settle(self, exc: Exception | None = None) -> None:
        w, self.waiter = self.waiter, None
        if w is not None and not w.done():
            if exc is None:
                w.set_result(None)
            else:
                w.set_exception(exc)

    def _fail(self, why: str) -> None:
        self._settle(ConnectionError(why))
        if self.transport is not None:
            self.transport.abort()

    def subscribe(self, channel: str, waiter: asyncio.Future[None]) -> None:
        assert self.transport is not None and self.phase == 2
        self.phase = 3
        self.waiter = waiter
        self.transport.write(ws_client_frame(
            b'{"event":"pusher:subscribe","data":{"auth":"","channel":"' + channel.encode() + b'"}}'))

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
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
        i, n = 0, len(data)
        while True:
            got = _next_frame(data, i, n)
            if got is None:
                break
            op, start, end = got
            i = end
            self._frame(op, data[start:end])
        if i < n:
            self.buf = data[i:]

    def _frame(self, op: int, payload: bytes) -> None:
        c = self.counters
        tr = self.transport
        if tr is None:
            return
        if op == 0x9:
            tr.write(ws_client_frame(payload, 0xA))
            if self.phase == 4:
                c.pings += 1
            return
        if op == 0x8:
            tr.close()
            return
        if op == 0x1:
            if self.phase == 1 and b"pusher:connection_established" in payload:
                self.phase = 2
                self._settle()
                return
            if self.phase == 3 and b"pusher_internal:subscription_succeeded" in payload:
                self.phase = 4
                self._settle()
                return
            if b'"pusher:ping"' in payload:
                tr.write(ws_client_frame(PONG))
                if self.phase == 4:
                    c.pings += 1
                return
            if b'"pusher:error"' in payload:
                c.error(payload[:200].decode(errors="replace"))
                self._fail(f"pusher:error {payload[:200]!r}")
                return
        if self.phase == 4:
            c.other += 1


@dataclass
class PhaseReport:
    ok: int = 0
    failed: int = 0
    t0: float = 0.0  # time.monotonic() (CLOCK_MONOTONIC: one clock for all processes of the machine)
    t1: float = 0.0
    latencies_ns: bytes = b""  # array('q') of per-connection setup times
    errors: list[str] = field(default_factory=list)


class Worker:
    def __init__(self, cfg: WorkerConfig) -> None:
        self.cfg = cfg
        self.counters = Counters()
        self.conns: dict[int, IdleConn] = {}  # index -> established connection

    async def connect(self, indexes: list[int]) -> PhaseReport:
        loop = asyncio.get_running_loop()
        cfg = self.cfg
        sem = asyncio.Semaphore(cfg.inflight)
        rep = PhaseReport()
        lat = array("q")
        errors = Counters()
        host = f"{cfg.host}:{cfg.port}"

        async def one(idx: int) -> None:
            async with sem:
                t = time.monotonic_ns()
                fut: asyncio.Future[None] = loop.create_future()
                proto: IdleConn | None = None
                try:
                    _, proto = await asyncio.wait_for(
                        loop.create_connection(lambda: IdleConn(self.counters, host, cfg.path, fut), cfg.host,
                                               cfg.port),
                        cfg.conn_timeout,
                    )
                    await asyncio.wait_for(fut, cfg.conn_timeout)
                except (OSError, TimeoutError) as exc:
                    rep.failed += 1
                    errors.error(f"{type(exc).__name__}: {exc}")
                    if proto is not None and proto.transport is not None:
                        proto.transport.abort()
                    return
                lat.append(time.monotonic_ns() - t)
                assert proto is not None
                self.conns[idx] = proto
                rep.ok += 1

        rep.t0 = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in indexes)), cfg.phase_timeout)
        rep.t1 = time.monotonic()
        rep.latencies_ns = lat.tobytes()
        rep.errors = errors.errors
        return rep

    async def subscribe(self, indexes: list[int]) -> PhaseReport:
        loop = asyncio.get_running_loop()
        cfg = self.cfg
        sem = asyncio.Semaphore(cfg.inflight)
        rep = PhaseReport()
        lat = array("q")
        errors = Counters()

        async def one(idx: int) -> None:
            conn = self.conns.get(idx)
            if conn is None or conn.transport is None or conn.phase != 2:
                return
            async with sem:
                t = time.monotonic_ns()
                fut: asyncio.Future[None] = loop.create_future()
                conn.subscribe(f"{cfg.channel_prefix}{idx % cfg.channels}", fut)
                try:
                    await asyncio.wait_for(fut, cfg.conn_timeout)
                except (OSError, TimeoutError) as exc:
                    rep.failed += 1
                    errors.error(f"{type(exc).__name__}: {exc}")
                    return
                lat.append(time.monotonic_ns() - t)
                rep.ok += 1

        rep.t0 = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in indexes)), cfg.phase_timeout)
        rep.t1 = time.monotonic()
        rep.latencies_ns = lat.tobytes()
        rep.errors = errors.errors
        return rep

    def close(self, indexes: list[int] | None = None) -> None:
        for idx in list(self.conns) if indexes is None else indexes:
            conn = self.conns.pop(idx, None)
            if conn is not None and conn.transport is not None:
                conn.transport.abort()

    def status(self) -> dict[str, Any]:
        c = self.counters
        live = sum(1 for conn in self.conns.values() if conn.transport is not None and not conn.transport.is_closing())
        return {"live": live, "closed": c.closed, "pings": c.pings, "other": c.other, "errors": c.errors}


async def _serve(pipe: Connection, cfg: WorkerConfig) -> None:
    loop = asyncio.get_running_loop()
    w = Worker(cfg)
    pipe.send({"ok": True, "pid": os.getpid()})
    while True:
        cmd = await loop.run_in_executor(None, pipe.recv)
        name = cmd[0]
        try:
            if name == "warmup":
                # Indexes outside the measured range, on the same channels.
                extra = [-1 - i for i in range(cmd[1])]
                reps = [await w.connect(extra), await w.subscribe(extra)]
                w.close(extra)
                w.counters = Counters()
                await asyncio.sleep(0.2)
                pipe.send({"ok": True, "connected": reps[0].ok, "subscribed": reps[1].ok,
                           "errors": reps[0].errors + reps[1].errors})
            elif name == "connect":
                pipe.send({"ok": True, "report": await w.connect(cfg.indexes)})
            elif name == "subscribe":
                pipe.send({"ok": True, "report": await w.subscribe(cfg.indexes)})
            elif name == "status":
                pipe.send({"ok": True, **w.status()})
            elif name == "close":
                w.close()
                await asyncio.sleep(0.1)
                pipe.send({"ok": True})
                return
            else:
                pipe.send({"ok": False, "error": f"unknown command {name!r}"})
        except Exception as exc:  # report anything to the runner, which prints it
            pipe.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})


def worker_main(pipe: Connection, cfg: WorkerConfig) -> None:
    """Entry point of one client process (multiprocessing, spawn)."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(pipe, cfg))
    pipe.close()
