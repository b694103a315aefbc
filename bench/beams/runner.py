"""One run of the Beams bench: gateways up, a real server side, U users x 2 devices, R publishes to all of them.

    gateways (2 processes)   server side                                          this process
    Web Push emulator   <--  delivery worker(s): in `tidings serve`, or in N  <--  POST .../publishes/users
    APNs emulator (h2)  <--  `tidings worker` processes (--workers-processes)       polls the gateways' stamps

Setup, not measured (stack.py): the gateways, the database (SQLite, or a fresh PostgreSQL database with
`--database postgres`), the server side, the instance configured with `tidings instances configure`; then every
device is registered through the device API as the SDKs do it: POST .../devices/{web,apns}, then PUT .../user
with a Beams Token.

Measured, per round: from just before the publish request is sent until every one of the 2U notifications has
reached its gateway (notifications per second; latency of each arrival from the publish; CPU of every process
from /proc), and until the status endpoint says the publish is done (results recorded). With
`--workers-processes 1,2`, rounds alternate between the variants (the extra worker process is SIGSTOPped, idle,
during the rounds of fewer), so that both are measured in the same conditions. With `--compare-src DIR`, a second
complete set-up runs the server side from DIR (e.g. the commit before a change) and the rounds alternate between
the two as well: before and after in one run, through the same minutes of this shared machine's noise.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.beams.procs import Gateway
from bench.beams.stack import TOPIC, Stack
from bench.fanout import procstat
from tidings.beams import tokens

PUBLISH_BODY: dict[str, Any] = {
    "web": {"notification": {"title": "Bench", "body": "A notification for every device"}, "data": {"n": 1}},
    "apns": {"aps": {"alert": {"title": "Bench", "body": "A notification for every device"}}, "data": {"n": 1}},
}


@dataclass
class Options:
    users: int = 1000
    rounds: int = 3
    warmup_users: int = 20
    register_concurrency: int = 8
    timeout: float = 60.0  # per round, for all notifications to arrive
    host: str = "127.0.0.1"
    server_log_level: str = "warning"  # debug shows each delivery retry (and costs CPU)
    quiet_pct: float = 30.0  # before each round, wait until the machine is below this busy % (100 = one core)
    quiet_wait: float = 30.0  # ... for at most this many seconds
    database: str = "sqlite"  # or "postgres": a fresh database on 127.0.0.1:5432, dropped at the end
    workers_processes: list[int] = field(default_factory=list)  # [] = the worker in `tidings serve`; [1, 2] = ...
    pin: bool = False  # server side on CPU 0, gateways and driver on CPU 1
    lean_gateways: bool = False  # lean.py instead of the test suite's emulators
    tidings_src: str | None = None  # run the server side from another checkout's src (PYTHONPATH)
    compare_src: str | None = None  # also run it from this src ("before"), rounds interleaved with "after"
    big_devices: int = 20_000  # --fairness: devices of instance A's publish
    small_devices: int = 10  # --fairness: devices of instance B's publish
    big_start: int = 1000  # --fairness: B publishes once this many of A's notifications arrived


@dataclass
class Round:
    expected: int
    arrived: int
    failed: int  # gateway answers other than success
    window_s: float  # publish sent -> last notification at a gateway
    done_s: float  # publish sent -> status "done"
    notifications_per_s: float
    steady_per_s: float  # between the 10th and the 90th percentile arrivals
    first_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_us_per_notification: float  # server side CPU (user+sys) from publish to done, per notification
    server_cpu_pct: float
    db_us_per_notification: float  # PostgreSQL backends of the bench's database
    gateways_us_per_notification: float  # both emulator processes
    foreign_cpu_pct: float  # CPU used by other processes on the machine meanwhile (100 = one core): noise
    procs: int = 0  # `tidings worker` processes running (0: the worker inside `tidings serve`)
    code: str = ""  # with --compare-src: "after" (this run's server code) or "before" (--compare-src)
    busy_before_pct: float = 0.0  # the machine, just before the round (100 = one core)
    gateways_us: dict[str, float] = field(default_factory=dict)
    last_s: dict[str, float] = field(default_factory=dict)  # gateway -> publish to its last notification
    status_devices: dict[str, int] = field(default_factory=dict)

    @property
    def per_cpu_s(self) -> float:
        """Notifications per CPU-second of the server side (tidings processes + its PostgreSQL backends)."""
        return 1e6 / max(self.server_us_per_notification + self.db_us_per_notification, 1e-9)


@dataclass
class Run:
    options: Options
    database: str = ""
    setup_s: float = 0.0
    register_s: float = 0.0
    register_requests: int = 0
    register_retried: list[str] = field(default_factory=list)  # 5xx answers to registration, retried
    server_rss_mb: float = 0.0
    rounds: list[Round] = field(default_factory=list)
    log: str = ""


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


async def register(http: aiohttp.ClientSession, base: str, instance_id: str, secret: str, web_tokens: list[str],
                   apns_tokens: list[str], concurrency: int, retried: list[str]) -> int:
    """Both devices of every user through the device API; returns the number of requests made (retries of
    5xx answers not counted: they are appended to `retried`)."""
    devices = f"{base}/device_api/v1/instances/{instance_id}/devices"
    slots = asyncio.Semaphore(concurrency)
    now = time.time()

    async def call(method: str, url: str, **kwargs: Any) -> Any:
        for attempt in range(5):
            async with http.request(method, url, **kwargs) as r:
                body = await r.json(content_type=None)
                if r.status == 200:
                    return body
                # Retried like the mobile SDKs retry 5xx, and counted: seen on SQLite as "database is locked".
                if r.status < 500 or attempt == 4:
                    raise RuntimeError(f"{method} {url}: {r.status} {body}")
                retried.append(f"{r.status} {body.get('description') if isinstance(body, dict) else body}")
            await asyncio.sleep(0.1 * (attempt + 1))
        raise AssertionError("unreachable")

    async def one(i: int) -> None:
        user = f"bench-user-{i:05d}"
        auth = {"Authorization": f"Bearer {tokens.issue(instance_id, secret, user, now=now, lifetime=3600)}"}
        async with slots:
            web = await call("POST", f"{devices}/web",
                             json={"token": web_tokens[i], "metadata": {"sdkVersion": "2.1.0"}})
            await call("PUT", f"{devices}/web/{web['id']}/user", headers=auth)
            apns = await call("POST", f"{devices}/apns", json={"token": apns_tokens[i], "bundleIdentifier": TOPIC,
                                                                 "metadata": {"sdkVersion": "4.0.0"}})
            await call("PUT", f"{devices}/apns/{apns['id']}/user", headers=auth)

    await asyncio.gather(*(one(i) for i in range(len(web_tokens))))
    return 4 * len(web_tokens)


async def publish(http: aiohttp.ClientSession, base: str, instance_id: str, secret: str, kind: str,
                  targets: list[str]) -> str:
    """POST .../publishes/users (kind "users") or .../publishes/interests; returns the publish id."""
    async with http.post(f"{base}/publish_api/v1/instances/{instance_id}/publishes/{kind}",
                         json={kind: targets, **PUBLISH_BODY}, headers={"Authorization": f"Bearer {secret}"}) as r:
        body = await r.json(content_type=None)
        if r.status != 200:
            raise RuntimeError(f"publish: {r.status} {body}")
        return str(body["publishId"])


async def status(http: aiohttp.ClientSession, base: str, instance_id: str, secret: str, publish_id: str
                 ) -> dict[str, Any]:
    async with http.get(f"{base}/publish_api/v1/instances/{instance_id}/publishes/{publish_id}",
                        headers={"Authorization": f"Bearer {secret}"}) as r:
        body: dict[str, Any] = await r.json(content_type=None)
        return body


async def until_done(stack: Stack, instance_id: str, secret: str, publish_id: str, t0: float, timeout: float
                     ) -> dict[str, Any]:
    while (got := await status(stack.http, stack.base, instance_id, secret, publish_id))["status"] != "done":
        if time.time() - t0 > timeout:
            raise RuntimeError(f"publish {publish_id} not done after {timeout}s: {got}")
        await asyncio.sleep(0.02)
    return got


async def arrived(gateways: list[Gateway], expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while sum(g.ask("count") for g in gateways) < expected:
        if time.monotonic() > deadline:
            got = sum(g.ask("count") for g in gateways)
            raise RuntimeError(f"only {got}/{expected} notifications reached the gateways in {timeout}s")
        await asyncio.sleep(0.02)


async def quiet(pct: float, wait: float) -> float:
    """Wait (at most `wait` s) for a second in which the machine is less than `pct` busy; returns the last busy %.
    Other tenants' bursts would otherwise land inside a measurement."""
    deadline = time.monotonic() + wait
    while True:
        machine0, t = procstat.machine_cpu(), time.monotonic()
        await asyncio.sleep(1.0)
        busy = 100 * (procstat.machine_cpu() - machine0).busy_s / (time.monotonic() - t)
        if busy < pct or time.monotonic() > deadline:
            return busy


async def _round(stack: Stack, users: list[str], timeout: float) -> Round:
    for g in stack.gateways:
        g.ask("clear")
    expected = 2 * len(users)
    meter = await stack.meter()
    t0 = time.time()
    publish_id = await publish(stack.http, stack.base, stack.instance_id, stack.secret, "users", users)
    await arrived(stack.gateways, expected, timeout)
    final = await until_done(stack, stack.instance_id, stack.secret, publish_id, t0, timeout)
    usage = await meter.stop()
    by_gateway = {g.name: [t for t, code, _ in g.ask("arrivals") if code in (200, 201)] for g in stack.gateways}
    ok = sorted(t for times in by_gateway.values() for t in times)
    failed = sum(len(g.ask("arrivals")) for g in stack.gateways) - len(ok)
    latencies = [(t - t0) * 1000 for t in ok]
    window = ok[-1] - t0
    i10, i90 = int(0.1 * (len(ok) - 1)), int(0.9 * (len(ok) - 1))
    return Round(
        expected=expected,
        arrived=len(ok),
        failed=failed,
        window_s=window,
        done_s=usage.wall_s,
        notifications_per_s=len(ok) / window,
        steady_per_s=(i90 - i10) / max(ok[i90] - ok[i10], 1e-6),
        first_ms=latencies[0],
        p50_ms=statistics.median(latencies),
        p99_ms=percentile(latencies, 99),
        max_ms=latencies[-1],
        server_us_per_notification=usage.server_s * 1e6 / expected,
        server_cpu_pct=100 * usage.server_s / usage.wall_s,
        db_us_per_notification=usage.db_s * 1e6 / expected,
        gateways_us_per_notification=sum(usage.gateways_s.values()) * 1e6 / expected,
        foreign_cpu_pct=100 * usage.foreign_s / usage.wall_s,
        gateways_us={name: s * 1e6 / expected for name, s in usage.gateways_s.items()},
        last_s={name: max(times) - t0 for name, times in by_gateway.items() if times},
        status_devices=dict(final["devices"]),
    )


def codes(opts: Options) -> list[tuple[str, Options]]:
    """The server codes to run: [("", opts)], or with --compare-src [("after", opts), ("before", ...)]."""
    if opts.compare_src is None:
        return [("", opts)]
    return [("after", opts), ("before", dataclasses.replace(opts, tidings_src=opts.compare_src))]


async def run(opts: Options) -> Run:
    result = Run(opts)
    started = time.monotonic()
    procs = opts.workers_processes or [0]
    async with contextlib.AsyncExitStack() as stacks:
        setups: dict[str, Stack] = {}
        for code, code_opts in codes(opts):
            stack = setups[code] = await stacks.enter_async_context(
                Stack(code_opts, web_devices=opts.users, apns_devices=opts.users, worker_processes=max(procs),
                      tag=code))
            result.log = ", ".join(filter(None, [result.log, stack.log]))
            result.database = stack.db.describe()
            t = time.monotonic()
            result.register_requests = await register(stack.http, stack.base, stack.instance_id, stack.secret,
                                                      stack.web.info["tokens"], stack.apns.info["tokens"],
                                                      opts.register_concurrency, result.register_retried)
            result.register_s = time.monotonic() - t
        users = [f"bench-user-{i:05d}" for i in range(opts.users)]
        variants = [(code, n) for code in setups for n in procs]
        # Warm-up, each variant: connections to both gateways, provider/VAPID JWTs, code paths; not measured.
        for code, n in sorted(variants, key=lambda v: -v[1]):
            setups[code].server.use(n)
            await _round(setups[code], users[: opts.warmup_users], opts.timeout)
        result.setup_s = time.monotonic() - started
        for i in range(opts.rounds):
            code, n = variants[i % len(variants)]
            stack = setups[code]
            stack.server.use(n)
            busy = await quiet(opts.quiet_pct, opts.quiet_wait)
            measured = await _round(stack, users, opts.timeout)
            measured.busy_before_pct, measured.procs, measured.code = busy, n, code
            print(f"    round {i + 1}" + (f" {code}" if code else "") + (f" ({n} worker processes)" if n else "")
                  + f": {measured.arrived}/{measured.expected} in {measured.window_s:.2f}s = "
                  f"{measured.notifications_per_s:,.0f}/s, p50 {measured.p50_ms:.0f} ms, "
                  f"p99 {measured.p99_ms:.0f} ms, server {measured.server_us_per_notification:.0f}"
                  + (f" + db {measured.db_us_per_notification:.0f}" if opts.database == "postgres" else "")
                  + " us/notification; last at " + ", ".join(f"{k} {v:.2f}s" for k, v in measured.last_s.items())
                  + f"; busy before {busy:.0f}%, foreign {measured.foreign_cpu_pct:.0f}%", flush=True)
            result.rounds.append(measured)
        for stack in setups.values():
            stack.server.use(max(procs))
        result.server_rss_mb = max(stack.server.rss_mb() for stack in setups.values())
    return result
