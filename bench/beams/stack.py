"""What every Beams bench scenario stands on: both gateways, the database, the server side, the instance(s).

    async with Stack(opts, web_devices=1000, apns_devices=1000) as stack:
        stack.instance_id, stack.secret, stack.web.info["tokens"], stack.apns.info["tokens"]
        other = await stack.add_instance()           # a second configured instance: (id, secret, VAPID key)
        meter = await stack.meter()                  # CPU of every process involved, from now ...
        usage = await meter.stop()                   # ... to now

Set-up order: the APNs emulator first (its URLs and CA go into the server's environment), the database, the
server side, `tidings instances configure` (APNs .p8 key, topic, VAPID subject), then the Web Push emulator with
subscriptions bound to the instance's VAPID key. With `pin`, this process and the gateways (spawned from it, so
inheriting its affinity) run on CPU 1 and the server side on CPU 0 (taskset); PostgreSQL is not pinned.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.beams.database import Database
from bench.beams.gateways import apns_main, webpush_main
from bench.beams.procs import Gateway, ServerSide, clean_env, cli
from bench.fanout import procstat
from bench.fanout.common import free_port

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "bench" / ".work"
TOPIC = "com.example.bench"
SERVER_CPUS, OTHER_CPUS = [0], [1]


@dataclass
class Usage:
    wall_s: float
    server_s: float  # tidings serve + tidings worker processes, user+sys
    db_s: float  # PostgreSQL backends serving the bench's database (0 on SQLite)
    gateways_s: dict[str, float] = field(default_factory=dict)
    driver_s: float = 0.0
    foreign_s: float = 0.0  # everything else the machine did meanwhile: noise


class Meter:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    async def start(self) -> Meter:
        s = self.stack
        self.db_pids = await s.db.backend_pids()
        self.db0 = {pid: procstat.cpu([pid]).total_s for pid in self.db_pids}
        self.server0 = s.server.cpu().total_s
        self.gw0 = {g.name: procstat.cpu([g.pid]).total_s for g in s.gateways}
        self.me0 = procstat.cpu([os.getpid()]).total_s
        self.machine0 = procstat.machine_cpu().busy_s
        self.t0 = time.time()
        return self

    async def stop(self) -> Usage:
        s = self.stack
        wall = time.time() - self.t0
        server = s.server.cpu().total_s - self.server0
        gw = {g.name: procstat.cpu([g.pid]).total_s - self.gw0[g.name] for g in s.gateways}
        me = procstat.cpu([os.getpid()]).total_s - self.me0
        machine = procstat.machine_cpu().busy_s - self.machine0
        # Backends that appeared meanwhile count from their start; ones that ended meanwhile are lost.
        db = sum(procstat.cpu([pid]).total_s - self.db0.get(pid, 0.0) for pid in await s.db.backend_pids())
        foreign = machine - server - db - sum(gw.values()) - me
        return Usage(wall, server, db, gw, me, max(0.0, foreign))


class Stack:
    def __init__(self, opts: Any, *, web_devices: int, apns_devices: int, worker_processes: int = 0,
                 tag: str = "") -> None:
        self.opts = opts
        self.web_devices, self.apns_devices = web_devices, apns_devices
        self.worker_processes = worker_processes
        self.instance_id, self.secret = str(uuid.uuid4()), uuid.uuid4().hex.upper() * 2
        self.stamp = time.strftime("%Y%m%d-%H%M%S") + (f"-{tag}" if tag else "")
        self.data_dir = WORK / f"beams-{self.stamp}"
        self.log_path = WORK / "logs" / f"beams-serve-{self.stamp}.log"
        self.gateways: list[Gateway] = []
        self.vapid_keys: dict[str, str] = {}

    @property
    def log(self) -> str:
        return str(self.log_path.relative_to(ROOT))

    async def __aenter__(self) -> Stack:
        opts = self.opts
        self.affinity = os.sched_getaffinity(0)
        if opts.pin:
            os.sched_setaffinity(0, OTHER_CPUS)  # the gateways are spawned from here: they inherit it
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.db = await Database.create(opts.database, self.data_dir)
        try:
            await self._start()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def _start(self) -> None:
        opts = self.opts
        self.apns = Gateway("apns-emulator", apns_main, self.apns_devices, TOPIC, opts.lean_gateways)
        self.gateways.append(self.apns)
        self.env = clean_env({
            **self.db.env(),
            "TIDINGS_DEFAULT_INSTANCE_ID": self.instance_id,
            "TIDINGS_DEFAULT_INSTANCE_SECRET": self.secret,
            "TIDINGS_LOG_LEVEL": opts.server_log_level,
            "TIDINGS_APNS_URL": self.apns.info["url"],
            "TIDINGS_APNS_SANDBOX_URL": self.apns.info["sandbox_url"],
            "TIDINGS_GATEWAY_CA_FILE": self.apns.info["ca_file"],
            "TIDINGS_PUSH_ALLOW_PRIVATE_NETWORKS": "true",  # the Web Push emulator is on 127.0.0.1
        }, opts.tidings_src)
        self.server = ServerSide(self.env, opts.host, free_port(opts.host), self.data_dir, self._log,
                                 worker_processes=self.worker_processes,
                                 cpus=SERVER_CPUS if opts.pin else None)
        self.server.start()
        self.base = self.server.base
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        vapid = await self._configure(self.instance_id)
        self.web = Gateway("webpush-emulator", webpush_main, self.web_devices, vapid, opts.lean_gateways)
        self.gateways.append(self.web)

    async def _configure(self, instance_id: str) -> str:
        key_file = self.data_dir / "AuthKey.p8"
        key_file.write_text(self.apns.info["private_key_pem"])
        cli(self.env, "instances", "configure", instance_id, "--apns-key-file", str(key_file),
            "--apns-key-id", self.apns.info["key_id"], "--apns-team-id", self.apns.info["team_id"],
            "--apns-topic", TOPIC, "--vapid-subject", "mailto:bench@example.com")
        async with self.http.get(f"{self.base}/device_api/v1/instances/{instance_id}/web-vapid-public-key") as r:
            key = str((await r.json())["vapidPublicKey"])
        self.vapid_keys[instance_id] = key
        return key

    async def add_instance(self) -> tuple[str, str]:
        """Another instance, configured like the first (same APNs key and topic): (id, secret)."""
        instance_id, secret = str(uuid.uuid4()), uuid.uuid4().hex.upper() * 2
        cli(self.env, "instances", "create", "--id", instance_id, "--secret", secret, "--name", "bench-b")
        await self._configure(instance_id)
        return instance_id, secret

    async def meter(self) -> Meter:
        return await Meter(self).start()

    async def __aexit__(self, *exc: object) -> None:
        try:
            if hasattr(self, "http"):
                await self.http.close()
            if hasattr(self, "server"):
                self.rss_mb = self.server.rss_mb()
                self.server.stop()
            for g in self.gateways:
                g.stop()
        finally:
            self._log.close()
            await self.db.drop()
            os.sched_setaffinity(0, self.affinity)
