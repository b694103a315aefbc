"""One run: start every target, subscribe N clients to each, then measure them in interleaved rounds.

All targets of a run are up at the same time, each with its own N subscribers, and the K events per target
are sent in ``rounds`` slices: round 1 measures target A, then B, then C..., round 2 again A, B, C... So a
burst of load from elsewhere on the machine (other tenants, other processes) spreads over every target
instead of falling on one of them. While a target is measured the others are idle.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import tempfile
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

from bench.fanout import procstat
from bench.fanout.client import WorkerConfig, worker_main
from bench.fanout.common import AppCreds, free_port
from bench.fanout.targets import WORK, Ctx, Target
from bench.fanout.trigger import KeepAliveClient, TriggerStats, run_triggers


@dataclass
class Options:
    subscribers: int = 2000
    events: int = 1000
    rate: float = 100.0
    rounds: int = 5
    clients: int = 1
    sample: int = 50
    warmup: int = 20
    stall: float = 10.0
    timeout: float | None = None
    quiet_pct: float = 30.0  # before the run, wait for the machine to be below this busy % (100 = one core)
    quiet_wait: float = 30.0  # ... for at most this long
    server_cpus: list[int] | None = None  # pin the servers (taskset) to these CPUs
    host: str = "127.0.0.1"
    creds: AppCreds = field(default_factory=AppCreds)

    def round_events(self) -> list[int]:
        rounds = max(1, min(self.rounds, self.events))
        base, extra = divmod(self.events, rounds)
        return [base + (1 if i < extra else 0) for i in range(rounds)]

    def round_timeout(self, events: int) -> float:
        return self.timeout if self.timeout is not None else 3 * events / self.rate + 30


@dataclass
class Result:
    target: str
    subscribers: int
    events: int
    rate: float
    status: str = "ok"  # ok | incomplete (...) | failed: ... | skipped: ...
    busy_before_pct: float = 0.0  # machine busy % in the second before the run started
    expected: int = 0
    received: int = 0
    other_frames: int = 0
    closed: int = 0
    rounds: int = 0
    setup_s: float = 0.0
    window_s: float = 0.0  # sum over rounds: first trigger -> all delivered (or stall / timeout)
    deliveries_per_s: float = 0.0
    trigger_rate: float = 0.0  # achieved triggers per second
    trigger_failed: int = 0
    trigger_error: str = ""
    trigger_p50_ms: float = 0.0
    trigger_p99_ms: float = 0.0
    lat_samples: int = 0
    lat_p50_ms: float = 0.0
    lat_p99_ms: float = 0.0
    lat_max_ms: float = 0.0
    server_user_s: float = 0.0
    server_sys_s: float = 0.0
    server_procs: int = 0
    server_us_per_delivery: float = 0.0
    round_us_per_delivery: list[float] = field(default_factory=list)
    server_cpu_pct: float = 0.0
    server_rss_mb: float = 0.0
    client_cpu_s: float = 0.0
    client_sys_s: float = 0.0
    client_us_per_delivery: float = 0.0
    client_cpu_pct: float = 0.0
    trigger_cpu_s: float = 0.0
    machine_busy_pct: float = 0.0  # all CPUs, from /proc/stat (100% = one core)
    foreign_cpu_pct: float = 0.0  # machine busy minus server, clients and trigger: other processes, kernel threads
    log: str = ""


Worker = tuple[SpawnProcess, Connection, "Synchronized[int]"]


@dataclass
class Session:
    """One target, started, with its subscribers."""

    target: Target
    res: Result
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    tmpdir: Path | None = None
    workers: list[Worker] = field(default_factory=list)
    client: KeepAliveClient | None = None
    trig: TriggerStats = field(default_factory=TriggerStats)
    trigger_s: float = 0.0
    trigger_gaps: int = 0
    machine_busy_s: float = 0.0
    stopped: bool = False

    @property
    def live(self) -> bool:
        return self.res.status == "ok" and self.proc is not None

    def received(self) -> int:
        return sum(c.value for _, _, c in self.workers)

    def worker_pids(self) -> list[int]:
        return [p.pid for p, _, _ in self.workers if p.pid is not None]


def _pct(sorted_vals: list[int] | array[int], q: float) -> float:
    if not sorted_vals:
        return 0.0
    idx = min(len(sorted_vals) - 1, max(0, round(q * (len(sorted_vals) - 1))))
    return float(sorted_vals[idx])


async def _wait_ready(proc: subprocess.Popen[bytes], target: Target, host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "not tried"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with code {proc.returncode} before accepting connections")
        try:
            if target.ready_path is None:
                _, w = await asyncio.open_connection(host, port)
                w.close()
                return
            client = KeepAliveClient(host, port)
            try:
                status, _ = await asyncio.wait_for(client.request("GET", target.ready_path), 2)
            finally:
                client.close()
            if status == 200:
                return
            last = f"GET {target.ready_path} -> {status}"
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            last = repr(exc)
        await asyncio.sleep(0.1)
    raise RuntimeError(f"not ready after {timeout:.0f}s ({last})")


async def _recv(conn: Connection, timeout: float) -> Any:
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + timeout
    while not conn.poll():
        if time.monotonic() > deadline:
            raise TimeoutError("client process did not answer")
        await asyncio.sleep(0.02)
    return await loop.run_in_executor(None, conn.recv)


async def _wait_idle(pid: int, limit: float = 3.0, threshold: float = 0.05) -> None:
    """Wait until the server tree uses < ``threshold`` of a core over 100 ms (warm-up drained)."""
    deadline = time.monotonic() + limit
    prev = procstat.tree_cpu(pid).total_s
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        cur = procstat.tree_cpu(pid).total_s
        if cur - prev < threshold * 0.1 + 1e-9:
            return
        prev = cur


async def wait_quiet(pct: float, limit: float) -> float:
    """Wait (at most ``limit`` s) until the whole machine is below ``pct`` busy over one second; return it."""
    deadline = time.monotonic() + limit
    ncpu = max(1, os.cpu_count() or 1)
    while True:
        m0 = procstat.machine_cpu()
        await asyncio.sleep(1.0)
        d = procstat.machine_cpu() - m0
        busy = 100 * d.busy_s / max(d.total_s / ncpu, 1e-9)
        if busy < pct or time.monotonic() > deadline:
            return busy


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


async def start(target: Target, opts: Options) -> Session:
    """Start the target, connect and subscribe its N subscribers, send the warm-up events."""
    res = Result(target.name, opts.subscribers, opts.events, opts.rate)
    res.expected = opts.subscribers * opts.events
    s = Session(target, res)
    why = target.missing()
    if why:
        res.status = f"skipped: {why}"
        return s
    (WORK / "logs").mkdir(parents=True, exist_ok=True)
    (WORK / "tmp").mkdir(parents=True, exist_ok=True)
    s.port = free_port(opts.host)
    s.tmpdir = Path(tempfile.mkdtemp(prefix=f"{target.name}-", dir=WORK / "tmp"))
    ctx = Ctx(opts.host, s.port, opts.creds, s.tmpdir)
    log_path = WORK / "logs" / f"{target.name}-n{opts.subscribers}.log"
    res.log = str(log_path.relative_to(WORK.parent.parent))
    argv = target.argv(ctx)
    if opts.server_cpus:
        argv = ["taskset", "-c", ",".join(map(str, opts.server_cpus)), *argv]
    with open(log_path, "wb") as log:
        s.proc = subprocess.Popen(
            argv, cwd=target.cwd, env={**os.environ, **target.env(ctx)},
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        t0 = time.monotonic()
        await _wait_ready(s.proc, target, opts.host, s.port, 60)
        await _subscribe(s, opts)
        res.setup_s = time.monotonic() - t0
        s.client = KeepAliveClient(opts.host, s.port)
        if opts.warmup:
            warm = TriggerStats()
            await run_triggers(s.client, opts.creds, opts.warmup, opts.rate, warm, name="warmup")
            if warm.failed:
                raise RuntimeError(f"warm-up triggers failed: {warm.first_error}")
    except Exception as exc:
        res.status = f"failed: {type(exc).__name__}: {exc}"
        await stop(s)
    return s


async def _subscribe(s: Session, opts: Options) -> None:
    n = opts.subscribers
    sample = {round(i * n / opts.sample) for i in range(min(opts.sample, n))}
    spawn = mp.get_context("spawn")
    for w in range(opts.clients):
        idx = list(range(w, n, opts.clients))
        cfg = WorkerConfig(opts.host, s.port, opts.creds.key, idx, sample & set(idx))
        counter: Synchronized[int] = spawn.Value("q", 0, lock=False)
        parent, child = spawn.Pipe()
        p = spawn.Process(target=worker_main, args=(child, cfg, counter), daemon=True)
        p.start()
        s.workers.append((p, parent, counter))
    for _p, conn, _ in s.workers:
        ready = await _recv(conn, 180)
        if not ready.get("ok"):
            raise RuntimeError(f"subscribers failed: {ready.get('error')}")


async def measure_round(s: Session, opts: Options, events: int) -> None:
    """Trigger ``events`` events at the target and wait for all N x events deliveries."""
    assert s.proc is not None and s.client is not None
    res = s.res
    await _wait_idle(s.proc.pid)
    expected = opts.subscribers * events
    base = s.received()
    worker_pids, me = s.worker_pids(), [os.getpid()]
    s0, c0, m0 = procstat.tree_cpu(s.proc.pid), procstat.cpu(worker_pids), procstat.cpu(me)
    x0 = procstat.machine_cpu()
    stats = TriggerStats()
    t0 = time.monotonic()
    trig = asyncio.create_task(run_triggers(s.client, opts.creds, events, opts.rate, stats))
    last_total, last_progress = 0, t0
    limit = opts.round_timeout(events)
    status = "ok"
    while True:
        await asyncio.sleep(0.005)
        total = s.received() - base
        if total >= expected:
            break
        now = time.monotonic()
        if total != last_total:
            last_total, last_progress = total, now
        if trig.done() and now - last_progress > opts.stall:
            status = "incomplete (stalled)"
            break
        if now - t0 > limit:
            status = "incomplete (timeout)"
            break
    t1 = time.monotonic()
    s1, c1, m1 = procstat.tree_cpu(s.proc.pid), procstat.cpu(worker_pids), procstat.cpu(me)
    x1 = procstat.machine_cpu()
    if not trig.done():
        trig.cancel()
    try:
        await trig
    except asyncio.CancelledError:
        pass
    got = s.received() - base
    server = s1 - s0
    res.rounds += 1
    res.received += got
    res.window_s += t1 - t0
    res.server_user_s += server.user_s
    res.server_sys_s += server.sys_s
    res.server_procs = max(res.server_procs, server.pids)
    res.client_cpu_s += (c1 - c0).total_s
    res.client_sys_s += (c1 - c0).sys_s
    res.trigger_cpu_s += (m1 - m0).total_s
    s.machine_busy_s += (x1 - x0).busy_s
    if got:
        res.round_us_per_delivery.append(server.total_s / got * 1e6)
    s.trig.sent += stats.sent
    s.trig.failed += stats.failed
    s.trig.first_error = s.trig.first_error or stats.first_error
    s.trig.request_ns += stats.request_ns
    gaps, span = stats.intervals()
    s.trigger_gaps += gaps
    s.trigger_s += span
    if status != "ok":
        res.status = status


async def stop(s: Session) -> None:
    """Collect the subscribers' reports, close them, stop the server (once)."""
    if s.stopped:
        return
    s.stopped = True
    for p, conn, _ in s.workers:
        if p.is_alive():
            try:
                conn.send("report")
            except OSError:
                pass
    lat = array("q")
    for p, conn, _ in s.workers:
        try:
            rep = await _recv(conn, 30) if p.is_alive() or conn.poll() else None
        except (TimeoutError, EOFError, OSError):
            rep = None
        if rep and "received" in rep:
            s.res.other_frames += rep["other"]
            s.res.closed += rep["closed"]
            lat.frombytes(rep["latencies"])
    for p, _, _ in s.workers:
        p.join(5)
        if p.is_alive():
            p.kill()
            p.join()
    if s.client is not None:
        s.client.close()
    if s.proc is not None:
        _stop(s.proc)
    if s.tmpdir is not None:
        shutil.rmtree(s.tmpdir, ignore_errors=True)
    _finish(s, lat)


def _finish(s: Session, lat: array[int]) -> None:
    res = s.res
    if res.status.startswith(("skipped", "failed")):
        return
    res.deliveries_per_s = res.received / res.window_s if res.window_s else 0.0
    res.trigger_rate = s.trigger_gaps / s.trigger_s if s.trigger_s else 0.0
    res.trigger_failed = s.trig.failed
    res.trigger_error = s.trig.first_error
    req = sorted(s.trig.request_ns)
    res.trigger_p50_ms = _pct(req, 0.5) / 1e6
    res.trigger_p99_ms = _pct(req, 0.99) / 1e6
    lat_sorted = sorted(lat)
    res.lat_samples = len(lat_sorted)
    res.lat_p50_ms = _pct(lat_sorted, 0.5) / 1e6
    res.lat_p99_ms = _pct(lat_sorted, 0.99) / 1e6
    res.lat_max_ms = (lat_sorted[-1] / 1e6) if lat_sorted else 0.0
    server_s = res.server_user_s + res.server_sys_s
    if res.received:
        res.server_us_per_delivery = server_s / res.received * 1e6
        res.client_us_per_delivery = res.client_cpu_s / res.received * 1e6
    if res.window_s:
        res.server_cpu_pct = 100 * server_s / res.window_s
        res.client_cpu_pct = 100 * res.client_cpu_s / res.window_s
        res.machine_busy_pct = 100 * s.machine_busy_s / res.window_s
        res.foreign_cpu_pct = 100 * (s.machine_busy_s - server_s - res.client_cpu_s - res.trigger_cpu_s) / res.window_s


async def run(targets: list[Target], opts: Options, log: Any = print) -> list[Result]:
    """Start all targets, measure them in interleaved rounds, stop them; one Result per target."""
    busy = await wait_quiet(opts.quiet_pct, opts.quiet_wait)
    sessions: list[Session] = []
    try:
        log(f"  starting {len(targets)} target(s) and their subscribers, warm-up ...")
        for s in await asyncio.gather(*(start(t, opts) for t in targets)):
            s.res.busy_before_pct = busy
            log(f"  {s.target.name}: " + (f"up, {opts.subscribers} subscribed in {s.res.setup_s:.1f}s"
                                          if s.live else s.res.status))
            sessions.append(s)
        plan = opts.round_events()
        for i, events in enumerate(plan):
            for s in sessions:
                if not s.live:
                    continue
                await measure_round(s, opts, events)
                us = s.res.round_us_per_delivery[-1] if s.res.round_us_per_delivery else 0.0
                log(f"  round {i + 1}/{len(plan)} {s.target.name}: {events} events, {us:.2f} us/delivery"
                    + ("" if s.res.status == "ok" else f", {s.res.status}"))
        for s in sessions:
            if s.proc is not None and s.proc.poll() is None:
                s.res.server_rss_mb = procstat.tree_rss_bytes(s.proc.pid) / 2**20
    finally:
        for s in sessions:
            await stop(s)
    return [s.res for s in sessions]
