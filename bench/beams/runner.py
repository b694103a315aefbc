"""One run of the Beams bench: gateways up, a real `tidings serve`, U users x 2 devices, R publishes to all of them.

    gateways (2 processes)   tidings serve (1 process)               this process
    Web Push emulator   <--  delivery worker  <--  publish API  <--  POST .../publishes/users {"users": [U ids]}
    APNs emulator (h2)  <--                                          polls the gateways' arrival stamps

Setup, not measured: the APNs emulator starts first (its URLs and CA go into the server's environment), then the
server, then the Web Push emulator with subscriptions bound to the instance's VAPID key. The instance is configured
with `tidings instances configure` (APNs .p8 key, topic, VAPID subject), and every device is registered through
the device API as the SDKs do it: POST .../devices/{web,apns}, then PUT .../user with a Beams Token.

Measured, per round: from just before the publish request is sent until every one of the 2U notifications has
reached its gateway (notifications per second; latency of each arrival from the publish; server CPU from /proc),
and until the status endpoint says the publish is done (results recorded).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

import aiohttp

from bench.beams.gateways import apns_main, webpush_main
from bench.fanout import procstat
from bench.fanout.common import free_port
from tidings.beams import tokens

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "bench" / ".work"
TOPIC = "com.example.bench"
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


@dataclass
class Round:
    expected: int
    arrived: int
    failed: int  # gateway answers other than success
    window_s: float  # publish sent -> last notification at a gateway
    done_s: float  # publish sent -> status "done"
    notifications_per_s: float
    first_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_us_per_notification: float  # server CPU (user+sys) from publish to done, per notification
    server_cpu_pct: float
    gateways_us_per_notification: float  # both emulator processes
    foreign_cpu_pct: float  # CPU used by other processes on the machine meanwhile (100 = one core): noise
    busy_before_pct: float = 0.0  # the machine, just before the round (100 = one core)
    last_s: dict[str, float] = field(default_factory=dict)  # gateway -> publish to its last notification
    status_devices: dict[str, int] = field(default_factory=dict)


@dataclass
class Run:
    options: Options
    setup_s: float = 0.0
    register_s: float = 0.0
    register_requests: int = 0
    register_retried: list[str] = field(default_factory=list)  # 5xx answers to registration, retried
    server_rss_mb: float = 0.0
    rounds: list[Round] = field(default_factory=list)
    log: str = ""


class _Gateway:
    def __init__(self, name: str, target: Any, *args: Any) -> None:
        ctx = mp.get_context("spawn")  # no fork: the parent may hold threads and an event loop
        self.conn, child = ctx.Pipe()
        self.proc: SpawnProcess = ctx.Process(target=target, args=(child, *args), name=name, daemon=True)
        self.proc.start()
        self.info: dict[str, Any] = self._recv(60)

    def _recv(self, timeout: float) -> Any:
        if not self.conn.poll(timeout):
            raise RuntimeError(f"{self.proc.name} did not answer in {timeout}s")
        return self.conn.recv()

    def ask(self, command: str) -> Any:
        self.conn.send((command,))
        return self._recv(30)

    @property
    def pid(self) -> int:
        assert self.proc.pid is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.is_alive():
            try:
                self.conn.send(("stop",))
            except OSError:
                pass
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def _cli(data_dir: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    done = subprocess.run([sys.executable, "-m", "tidings", *args], env={**env, "TIDINGS_DATA_DIR": str(data_dir)},
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"tidings {args[0]} {args[1]} failed:\n{done.stdout}{done.stderr}")


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tidings exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"tidings not ready in {timeout}s:\n{log.read_text()[-3000:]}")


async def _register(http: aiohttp.ClientSession, base: str, instance_id: str, secret: str, web_tokens: list[str],
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


async def _publish(http: aiohttp.ClientSession, base: str, instance_id: str, secret: str, users: list[str]) -> str:
    async with http.post(f"{base}/publish_api/v1/instances/{instance_id}/publishes/users",
                         json={"users": users, **PUBLISH_BODY}, headers={"Authorization": f"Bearer {secret}"}) as r:
        body = await r.json(content_type=None)
        if r.status != 200:
            raise RuntimeError(f"publish: {r.status} {body}")
        return str(body["publishId"])


async def _status(http: aiohttp.ClientSession, base: str, instance_id: str, secret: str, publish_id: str
                  ) -> dict[str, Any]:
    async with http.get(f"{base}/publish_api/v1/instances/{instance_id}/publishes/{publish_id}",
                        headers={"Authorization": f"Bearer {secret}"}) as r:
        body: dict[str, Any] = await r.json(content_type=None)
        return body


async def _arrived(gateways: list[_Gateway], expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while sum(g.ask("count") for g in gateways) < expected:
        if time.monotonic() > deadline:
            got = sum(g.ask("count") for g in gateways)
            raise RuntimeError(f"only {got}/{expected} notifications reached the gateways in {timeout}s")
        await asyncio.sleep(0.02)


async def _quiet(pct: float, wait: float) -> float:
    """Wait (at most `wait` s) for a second in which the machine is less than `pct` busy; returns the last busy %.
    Other tenants' bursts would otherwise land inside a measurement."""
    deadline = time.monotonic() + wait
    while True:
        machine0, t = procstat.machine_cpu(), time.monotonic()
        await asyncio.sleep(1.0)
        busy = 100 * (procstat.machine_cpu() - machine0).busy_s / (time.monotonic() - t)
        if busy < pct or time.monotonic() > deadline:
            return busy


async def _round(http: aiohttp.ClientSession, base: str, instance_id: str, secret: str, users: list[str],
                 gateways: list[_Gateway], server_pid: int, timeout: float) -> Round:
    for g in gateways:
        g.ask("clear")
    expected = 2 * len(users)
    cpu0 = procstat.tree_cpu(server_pid)
    gw0 = procstat.cpu([g.pid for g in gateways])
    me0 = procstat.cpu([os.getpid()])
    machine0 = procstat.machine_cpu()
    t0 = time.time()
    publish_id = await _publish(http, base, instance_id, secret, users)
    await _arrived(gateways, expected, timeout)
    while (status := await _status(http, base, instance_id, secret, publish_id))["status"] != "done":
        if time.time() - t0 > timeout:
            raise RuntimeError(f"publish {publish_id} not done after {timeout}s: {status}")
        await asyncio.sleep(0.02)
    t_done = time.time()
    cpu = procstat.tree_cpu(server_pid) - cpu0
    gw = procstat.cpu([g.pid for g in gateways]) - gw0
    me = procstat.cpu([os.getpid()]) - me0
    machine = procstat.machine_cpu() - machine0
    foreign = machine.busy_s - cpu.total_s - gw.total_s - me.total_s
    by_gateway = {g.proc.name: [t for t, code, _ in g.ask("arrivals") if code in (200, 201)] for g in gateways}
    arrivals = [a for g in gateways for a in g.ask("arrivals")]
    ok = [t for t, code, _ in arrivals if code in (200, 201)]
    latencies = [(t - t0) * 1000 for t in ok]
    window = max(ok) - t0
    return Round(
        expected=expected,
        arrived=len(ok),
        failed=len(arrivals) - len(ok),
        window_s=window,
        done_s=t_done - t0,
        notifications_per_s=len(ok) / window,
        first_ms=min(latencies),
        p50_ms=statistics.median(latencies),
        p99_ms=_percentile(latencies, 99),
        max_ms=max(latencies),
        server_us_per_notification=cpu.total_s * 1e6 / expected,
        server_cpu_pct=100 * cpu.total_s / (t_done - t0),
        gateways_us_per_notification=gw.total_s * 1e6 / expected,
        foreign_cpu_pct=max(0.0, 100 * foreign / (t_done - t0)),
        last_s={name.removesuffix("-emulator"): max(times) - t0 for name, times in by_gateway.items() if times},
        status_devices=dict(status["devices"]),
    )


async def run(opts: Options) -> Run:
    result = Run(opts)
    started = time.monotonic()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    data_dir = WORK / f"beams-{stamp}"
    (WORK / "logs").mkdir(parents=True, exist_ok=True)
    log_path = WORK / "logs" / f"beams-serve-{stamp}.log"
    result.log = str(log_path.relative_to(ROOT))
    instance_id, secret = str(uuid.uuid4()), uuid.uuid4().hex.upper() * 2
    gateways: list[_Gateway] = []
    server: subprocess.Popen[bytes] | None = None
    log = log_path.open("wb")
    try:
        apns = _Gateway("apns-emulator", apns_main, opts.users, TOPIC)
        gateways.append(apns)
        port = free_port(opts.host)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
        env.update(
            TIDINGS_DEFAULT_INSTANCE_ID=instance_id,
            TIDINGS_DEFAULT_INSTANCE_SECRET=secret,
            TIDINGS_LOG_LEVEL=opts.server_log_level,
            TIDINGS_APNS_URL=apns.info["url"],
            TIDINGS_APNS_SANDBOX_URL=apns.info["sandbox_url"],
            TIDINGS_GATEWAY_CA_FILE=apns.info["ca_file"],
            TIDINGS_PUSH_ALLOW_PRIVATE_NETWORKS="true",  # the Web Push emulator is on 127.0.0.1
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "tidings", "serve", "--host", opts.host, "--port", str(port),
             "--data-dir", str(data_dir)],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        base = f"http://{opts.host}:{port}"
        _wait_ready(base, server, log_path)
        key_file = data_dir / "AuthKey.p8"
        key_file.write_text(apns.info["private_key_pem"])
        _cli(data_dir, "instances", "configure", instance_id, "--apns-key-file", str(key_file),
             "--apns-key-id", apns.info["key_id"], "--apns-team-id", apns.info["team_id"], "--apns-topic", TOPIC,
             "--vapid-subject", "mailto:bench@example.com")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            async with http.get(f"{base}/device_api/v1/instances/{instance_id}/web-vapid-public-key") as r:
                vapid_key = (await r.json())["vapidPublicKey"]
            web = _Gateway("webpush-emulator", webpush_main, opts.users, vapid_key)
            gateways.append(web)
            t = time.monotonic()
            result.register_requests = await _register(http, base, instance_id, secret, web.info["tokens"],
                                                       apns.info["tokens"], opts.register_concurrency,
                                                       result.register_retried)
            result.register_s = time.monotonic() - t
            users = [f"bench-user-{i:05d}" for i in range(opts.users)]
            # Warm-up: connections to both gateways, provider/VAPID JWTs, code paths; not measured.
            await _round(http, base, instance_id, secret, users[: opts.warmup_users], gateways, server.pid,
                         opts.timeout)
            result.setup_s = time.monotonic() - started
            for i in range(opts.rounds):
                busy = await _quiet(opts.quiet_pct, opts.quiet_wait)
                measured = await _round(http, base, instance_id, secret, users, gateways, server.pid, opts.timeout)
                measured.busy_before_pct = busy
                print(f"    round {i + 1}: {measured.arrived}/{measured.expected} in {measured.window_s:.2f}s = "
                      f"{measured.notifications_per_s:,.0f}/s, p50 {measured.p50_ms:.0f} ms, "
                      f"p99 {measured.p99_ms:.0f} ms, server {measured.server_us_per_notification:.0f} "
                      f"us/notification; last at " + ", ".join(f"{k} {v:.2f}s" for k, v in measured.last_s.items())
                      + f"; busy before {busy:.0f}%, foreign {measured.foreign_cpu_pct:.0f}%", flush=True)
                result.rounds.append(measured)
        result.server_rss_mb = procstat.tree_rss_bytes(server.pid) / 2**20
        return result
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()
        for g in gateways:
            g.stop()
