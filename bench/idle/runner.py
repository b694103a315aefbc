"""One run of the idle bench: for each target in turn, start it, connect N clients, subscribe them, measure.

The targets are the fan-out bench's (``bench/fanout/targets.py``), started the same way (a subprocess on a free
port of 127.0.0.1, pinned with ``taskset``, its own process group); ``bench/wslayer`` adds its own. Targets run
one after the other, not at the same time, so each has the machine's memory and CPUs to itself; ``repeat``
runs the whole sequence again (A, B, A, B) to show the spread.

Per target:

1. Start the server, wait until it answers (``GET /ready`` for Tidings), start the client processes.
2. Warm-up: ``warmup`` connections connect, subscribe, and are closed (first-use allocations, lazy imports,
   JIT). Wait until the server is idle, then ``settle`` seconds, and read its RSS: *before*.
3. Connect: every client process opens its share of the N connections, at most ``inflight / clients`` in
   setup at once each (so ``inflight`` in all); each waits for ``pusher:connection_established``. The span,
   first connect to last ``connection_established`` over all processes, gives connects per second. The
   server's and the clients' CPU over the span are read from /proc.
4. Subscribe: every connection subscribes to ``idle-<index % channels>`` and waits for
   ``pusher_internal:subscription_succeeded`` (same bound in flight).
5. Idle for ``idle`` seconds, then read the server's RSS: *after*. ``(after - before) / N`` is the memory
   per idle subscribed connection. The clients count what arrived while idle (pings, anything else).
6. Close every connection (RST), wait 2 s, read the RSS again (memory kept after the connections are gone),
   stop the server.

RSS is ``VmRSS`` summed over the server's process tree (soketi: node and any children), with its
anonymous part (``RssAnon``: heap, not mapped files) alongside. Kernel socket buffers are not part of any
process's RSS and are not counted.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import tempfile
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

from bench.fanout import procstat
from bench.fanout.common import AppCreds, free_port
from bench.fanout.runner import _recv, _stop, _wait_idle, _wait_ready, wait_quiet
from bench.fanout.targets import WORK, Ctx, Target
from bench.idle.client import PhaseReport, WorkerConfig, worker_main


def pusher_path(creds: AppCreds) -> str:
    return f"/app/{creds.key}?protocol=7&client=js&version=8.6.0"


@dataclass
class Options:
    connections: int = 10_000
    channels: int = 100
    clients: int = 2
    inflight: int = 200  # connections in setup at once, over all client processes
    idle: float = 5.0
    warmup: int = 100
    settle: float = 2.0
    repeat: int = 1
    quiet_pct: float = 30.0  # before each target, wait for the machine to be below this busy % (100 = one core)
    quiet_wait: float = 20.0  # ... for at most this long
    server_cpus: list[int] | None = None
    host: str = "127.0.0.1"
    creds: AppCreds = field(default_factory=AppCreds)


@dataclass
class Result:
    target: str
    connections: int
    round: int = 1
    status: str = "ok"  # ok | failed: ... | skipped: ...
    server_procs: int = 0
    rss_before: int = 0  # bytes, VmRSS of the server tree
    rss_after: int = 0
    rss_after_close: int = 0
    anon_before: int = 0  # bytes, RssAnon of the server tree
    anon_after: int = 0
    kb_per_conn: float = 0.0  # (rss_after - rss_before) / subscribed / 1024
    anon_kb_per_conn: float = 0.0
    connected: int = 0
    connect_failed: int = 0
    connect_s: float = 0.0
    connects_per_s: float = 0.0
    connect_p50_ms: float = 0.0
    connect_p99_ms: float = 0.0
    connect_max_ms: float = 0.0
    server_connect_cpu_s: float = 0.0
    server_us_per_connect: float = 0.0
    server_connect_cpu_pct: float = 0.0
    client_connect_cpu_pct: float = 0.0
    foreign_connect_cpu_pct: float = 0.0  # machine busy minus server and clients over the connect phase (noise)
    busy_before_pct: float = 0.0  # machine busy % in the second before the target started
    subscribed: int = 0
    subscribe_failed: int = 0
    subscribe_s: float = 0.0
    subscribes_per_s: float = 0.0
    subscribe_p50_ms: float = 0.0
    subscribe_p99_ms: float = 0.0
    server_us_per_subscribe: float = 0.0
    idle_s: float = 0.0
    server_idle_cpu_pct: float = 0.0
    live_after_idle: int = 0
    closed_by_server: int = 0
    pings: int = 0
    other_frames: int = 0
    first_connect_to_after_s: float = 0.0  # from the first connect to the "after" RSS read
    errors: list[str] = field(default_factory=list)
    log: str = ""


def raise_nofile(need: int) -> tuple[int, int]:
    """Raise this process's RLIMIT_NOFILE (inherited by the servers and the clients it starts) to ``need``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return need, need
        except (ValueError, OSError):
            pass  # not allowed: the soft limit goes up to the hard one, the caller reports the shortfall
    soft_new = hard if hard != resource.RLIM_INFINITY and hard < need else max(soft, need)
    if soft_new != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft_new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def tree_memory(root: int) -> tuple[int, int, int]:
    """(VmRSS, RssAnon, process count) of ``root``'s process tree, in bytes."""
    rss = anon = n = 0
    for pid in procstat.descendants(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1]) * 1024
                        n += 1
                    elif line.startswith("RssAnon:"):
                        anon += int(line.split()[1]) * 1024
        except (FileNotFoundError, ProcessLookupError):
            continue
    return rss, anon, n


def _pct(sorted_vals: list[int], q: float) -> float:
    if not sorted_vals:
        return 0.0
    return float(sorted_vals[min(len(sorted_vals) - 1, max(0, round(q * (len(sorted_vals) - 1))))])


Worker = tuple[SpawnProcess, Connection]


class Session:
    """One target, started, with its client processes."""

    def __init__(self, target: Target, opts: Options, res: Result) -> None:
        self.target = target
        self.opts = opts
        self.res = res
        self.proc: subprocess.Popen[bytes] | None = None
        self.tmpdir: Path | None = None
        self.port = 0
        self.workers: list[Worker] = []

    async def start(self) -> None:
        opts, target = self.opts, self.target
        (WORK / "logs").mkdir(parents=True, exist_ok=True)
        (WORK / "tmp").mkdir(parents=True, exist_ok=True)
        self.port = free_port(opts.host)
        self.tmpdir = Path(tempfile.mkdtemp(prefix=f"idle-{target.name}-", dir=WORK / "tmp"))
        ctx = Ctx(opts.host, self.port, opts.creds, self.tmpdir)
        log_path = WORK / "logs" / f"idle-{target.name}-n{opts.connections}-r{self.res.round}.log"
        self.res.log = str(log_path.relative_to(WORK.parent.parent))
        argv = target.argv(ctx)
        if opts.server_cpus:
            argv = ["taskset", "-c", ",".join(map(str, opts.server_cpus)), *argv]
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv, cwd=target.cwd, env={**os.environ, **target.env(ctx)},
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        await _wait_ready(self.proc, target, opts.host, self.port, 60)
        spawn = mp.get_context("spawn")
        n, c = opts.connections, max(1, opts.clients)
        for w in range(c):
            cfg = WorkerConfig(opts.host, self.port, pusher_path(opts.creds), list(range(w, n, c)),
                               channels=opts.channels, inflight=max(1, opts.inflight // c))
            parent, child = spawn.Pipe()
            p = spawn.Process(target=worker_main, args=(child, cfg), daemon=True)
            p.start()
            self.workers.append((p, parent))
        await self.all(None, 60)

    async def all(self, cmd: tuple[Any, ...] | None, timeout: float) -> list[dict[str, Any]]:
        """Send ``cmd`` to every client process (None: only read), return their answers."""
        if cmd is not None:
            for _, pipe in self.workers:
                pipe.send(cmd)
        answers = [await _recv(pipe, timeout) for _, pipe in self.workers]
        for a in answers:
            if not a.get("ok"):
                raise RuntimeError(f"client process: {a.get('error')}")
        return answers

    def client_pids(self) -> list[int]:
        return [p.pid for p, _ in self.workers if p.pid is not None]

    async def stop(self) -> None:
        for p, pipe in self.workers:
            if p.is_alive():
                try:
                    pipe.send(("close",))
                except OSError:
                    pass
        for p, _ in self.workers:
            await asyncio.get_running_loop().run_in_executor(None, p.join, 10)
            if p.is_alive():
                p.kill()
                p.join()
        if self.proc is not None:
            _stop(self.proc)
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def _merge(reports: list[PhaseReport]) -> tuple[int, int, float, list[int], list[str]]:
    ok = sum(r.ok for r in reports)
    failed = sum(r.failed for r in reports)
    span = max(r.t1 for r in reports) - min(r.t0 for r in reports)
    lat = array("q")
    for r in reports:
        lat.frombytes(r.latencies_ns)
    errors = [e for r in reports for e in r.errors][:5]
    return ok, failed, span, sorted(lat), errors


async def measure(target: Target, opts: Options, rnd: int, log: Callable[[str], None]) -> Result:
    res = Result(target.name, opts.connections, round=rnd)
    why = target.missing()
    if why:
        res.status = f"skipped: {why}"
        return res
    s = Session(target, opts, res)
    res.busy_before_pct = await wait_quiet(opts.quiet_pct, opts.quiet_wait)
    try:
        await s.start()
        assert s.proc is not None
        pid = s.proc.pid
        phase_timeout = 900.0
        if opts.warmup:
            per = max(1, opts.warmup // len(s.workers))
            warm = await s.all(("warmup", per), phase_timeout)
            got = sum(a["subscribed"] for a in warm)
            if got < per * len(s.workers):
                raise RuntimeError(f"warm-up: {got}/{per * len(s.workers)} subscribed: {warm[0]['errors']}")
        await _wait_idle(pid, limit=10.0)
        await asyncio.sleep(opts.settle)
        res.rss_before, res.anon_before, res.server_procs = tree_memory(pid)

        log(f"  {target.name}: RSS before {res.rss_before / 2**20:.1f} MB, connecting {opts.connections} "
            f"({opts.inflight} in flight over {len(s.workers)} client process(es)) ...")
        s0, c0, m0 = procstat.tree_cpu(pid), procstat.cpu(s.client_pids()), procstat.machine_cpu()
        reps: list[PhaseReport] = [a["report"] for a in await s.all(("connect",), phase_timeout)]
        s1, c1, m1 = procstat.tree_cpu(pid), procstat.cpu(s.client_pids()), procstat.machine_cpu()
        res.connected, res.connect_failed, res.connect_s, lat, errs = _merge(reps)
        first_connect = min(r.t0 for r in reps)
        res.errors += errs
        res.connects_per_s = res.connected / res.connect_s if res.connect_s else 0.0
        res.connect_p50_ms, res.connect_p99_ms = _pct(lat, 0.5) / 1e6, _pct(lat, 0.99) / 1e6
        res.connect_max_ms = lat[-1] / 1e6 if lat else 0.0
        res.server_connect_cpu_s = (s1 - s0).total_s
        if res.connected:
            res.server_us_per_connect = res.server_connect_cpu_s / res.connected * 1e6
        if res.connect_s:
            res.server_connect_cpu_pct = 100 * res.server_connect_cpu_s / res.connect_s
            res.client_connect_cpu_pct = 100 * (c1 - c0).total_s / res.connect_s
            # machine_cpu() is read around the phase, a little wider than connect_s: a noise indicator only
            res.foreign_connect_cpu_pct = max(0.0, 100 * ((m1 - m0).busy_s - res.server_connect_cpu_s
                                                          - (c1 - c0).total_s) / res.connect_s)
        log(f"  {target.name}: {res.connected} connected ({res.connect_failed} failed) in {res.connect_s:.1f}s, "
            f"{res.connects_per_s:,.0f}/s; subscribing ...")

        s0 = procstat.tree_cpu(pid)
        reps = [a["report"] for a in await s.all(("subscribe",), phase_timeout)]
        s1 = procstat.tree_cpu(pid)
        res.subscribed, res.subscribe_failed, res.subscribe_s, lat, errs = _merge(reps)
        res.errors += errs
        res.subscribes_per_s = res.subscribed / res.subscribe_s if res.subscribe_s else 0.0
        res.subscribe_p50_ms, res.subscribe_p99_ms = _pct(lat, 0.5) / 1e6, _pct(lat, 0.99) / 1e6
        if res.subscribed:
            res.server_us_per_subscribe = (s1 - s0).total_s / res.subscribed * 1e6

        t0, s0 = time.monotonic(), procstat.tree_cpu(pid)
        await asyncio.sleep(opts.idle)
        res.rss_after, res.anon_after, res.server_procs = tree_memory(pid)
        t1, s1 = time.monotonic(), procstat.tree_cpu(pid)
        res.first_connect_to_after_s = t1 - first_connect
        res.idle_s = t1 - t0
        res.server_idle_cpu_pct = 100 * (s1 - s0).total_s / res.idle_s
        st = await s.all(("status",), 60)
        res.live_after_idle = sum(a["live"] for a in st)
        res.closed_by_server = sum(a["closed"] for a in st)
        res.pings = sum(a["pings"] for a in st)
        res.other_frames = sum(a["other"] for a in st)
        res.errors += [e for a in st for e in a["errors"]][:5]
        if res.subscribed:
            res.kb_per_conn = (res.rss_after - res.rss_before) / res.subscribed / 1024
            res.anon_kb_per_conn = (res.anon_after - res.anon_before) / res.subscribed / 1024
        if res.subscribed < opts.connections:
            res.status = f"partial: {res.subscribed}/{opts.connections} subscribed"
        log(f"  {target.name}: {res.subscribed} subscribed in {res.subscribe_s:.1f}s; after {res.idle_s:.0f}s idle "
            f"RSS {res.rss_after / 2**20:.1f} MB: {res.kb_per_conn:.2f} KB/connection")

        await s.all(("close",), 60)
        await asyncio.sleep(2.0)
        res.rss_after_close, _, _ = tree_memory(pid)
    except Exception as exc:
        res.status = f"failed: {type(exc).__name__}: {exc}"
        log(f"  {target.name}: {res.status}")
    finally:
        await s.stop()
    return res


async def run(targets: list[Target], opts: Options, log: Callable[[str], None] = print) -> list[Result]:
    results: list[Result] = []
    for rnd in range(1, opts.repeat + 1):
        for t in targets:
            results.append(await measure(t, opts, rnd, log))
    return results
