"""What user-first routing costs a delivery worker: CPU per user of a publish to users, with and without `channels`.

    .venv/bin/python -m bench.beams.routing                       # 1000 users, 5 rounds, SQLite, one node
    .venv/bin/python -m bench.beams.routing --redis               # the hub on Redis (127.0.0.1:6379)
    .venv/bin/python -m bench.beams.routing --database postgres   # a fresh database on 127.0.0.1:5432

In one process, on the real storage (and Redis with --redis): U users, one web device each; one publish to all of
them, delivered by one DeliveryWorker to a gateway that answers at once (no network: what is measured is the
worker's own work, the database's included when it is SQLite). Three variants, interleaved per round:

- `push`: no `channels` (as Beams): every device expanded, sent, recorded;
- `routed, none signed in`: `channels`, nobody signed in: the routing read (one batch per 100 users, an HMGET on
  Redis), the routes written with the device rows, then the same sends;
- `routed, all signed in`: `channels`, every user signed in with a connection subscribed to their user channel
  (fake transports that only count bytes): routes written, one hub publish per 100 users, no device touched.

CPU is this process's (time.process_time) from the publish to `done`, divided by U; PostgreSQL's and Redis' own
CPU is not counted (they are other processes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from tidings.adapters import Adapter, LocalAdapter
from tidings.beams import events as ev
from tidings.beams import vapid
from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.channels import protocol as p
from tidings.channels import signatures
from tidings.channels.apps import App
from tidings.delivery import DeliveryWorker, HubChannels
from tidings.providers.base import Delivered, Outcome
from tidings.realtime import remote
from tidings.realtime.connection import Connection
from tidings.realtime.hub import Hub
from tidings.storage import Storage, open_storage
from tidings.storage.schema import beams_devices

INSTANCE = "bench-routing-instance"
APP = App(id="bench-routing", key="bench-key", secret="bench-secret", beams_instance=INSTANCE)
WEB = {"web": {"notification": {"title": "Shipped"}}}
CHANNELS = {"event": "order-shipped", "data": '{"order":42}'}
VARIANTS = ("push", "routed, none signed in", "routed, all signed in")


class Gateway:
    """A push gateway that answers at once: the worker's own cost is what is left."""

    async def send(self, instance: Instance, device: Device, publish: Publish) -> Outcome:
        return Delivered(201)

    async def close(self) -> None:
        return None


class CountingTransport:
    def __init__(self) -> None:
        self.written = 0

    def write(self, frame: bytes) -> None:
        self.written += len(frame)

    def get_write_buffer_size(self) -> int:
        return 0

    def abort(self) -> None:
        return None

    def close(self) -> None:
        return None


async def sign_in(hub: Hub, user: str) -> Connection:
    """A connection signed in as `user`, subscribed to its user channel (the protocol, as pusher-js drives it)."""
    timing = p.Timing(activity_timeout=120.0, pong_timeout=30.0, user_authentication_timeout=30.0)
    session = p.Session(APP, hub.new_socket_id(APP.id), time.monotonic(), timing)
    conn = Connection(session, CountingTransport(), write_limit=1 << 20)  # type: ignore[arg-type]
    hub.add(conn)
    conn.apply(session.opened())
    user_data = json.dumps({"id": user})
    auth = signatures.token(APP.key, APP.secret, signatures.signin_string(conn.socket_id, user_data))
    for message in ({"event": "pusher:signin", "data": {"user_data": user_data, "auth": auth}},
                    {"event": "pusher:subscribe", "data": {"channel": f"#server-to-user-{user}"}}):
        for action in session.receive_text(json.dumps(message).encode(), time.monotonic()):
            if isinstance(action, p.Send | p.Close):
                conn.apply([action])
            else:
                await hub.perform(conn, action)
    return conn


async def setup(storage: Storage, users: list[str]) -> None:
    async with storage.engine.begin() as conn:
        for table in ("beams_publishes", "beams_instances"):
            await conn.execute(text(f"DELETE FROM {table}"))
        await conn.execute(text("DELETE FROM apps"))
    private_pem, public_b64 = vapid.generate_keypair()
    await storage.instances.create(Instance(id=INSTANCE, secret_key="s", vapid_private_key=private_pem,
                                            vapid_public_key=public_b64))
    await storage.apps.create(APP)
    now = datetime.now(UTC)
    rows = [{"id": f"web-{u}", "instance_id": INSTANCE, "platform": "web", "token": f"t-{u}", "user_id": u,
             "metadata": {}, "bundle_identifier": None, "created_at": now, "updated_at": now} for u in users]
    async with storage.engine.begin() as conn:
        await conn.execute(insert(beams_devices), rows)


async def one_round(storage: Storage, hub: Hub, users: list[str], variant: str, n: int) -> float:
    payload: dict[str, Any] = dict(WEB) if variant == "push" else {**WEB, "channels": CHANNELS}
    conns = [await sign_in(hub, u) for u in users] if variant == "routed, all signed in" else []
    publish = Publish(id=f"pub-{n}-{secrets.token_hex(4)}", instance_id=INSTANCE, kind="users",
                      targets=tuple(users), payload=payload)
    gateway = Gateway()
    worker = DeliveryWorker(storage, dict.fromkeys(Platform, gateway), channels=HubChannels(hub))  # type: ignore[arg-type]
    started = time.process_time()
    await storage.publishes.create(publish)
    await worker.drain()
    spent = time.process_time() - started
    status = await storage.delivery.status(INSTANCE, publish.id)
    assert status is not None and status.state == "done", status
    if variant == "routed, all signed in":
        assert status.routing is not None and status.routing.socket == len(users), status.routing
        assert all(c.transport.written > 0 for c in conns)  # type: ignore[attr-defined]
    else:
        assert status.devices["sent"] == len(users), status.devices
    for conn in conns:
        await hub.remove(conn)
    return spent / len(users) * 1e6


async def main(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="tidings-routing-bench-"))
    url = f"sqlite+aiosqlite:///{tmp / 'tidings.db'}"
    dbname = None
    if args.database == "postgres":
        dbname = f"tidings_bench_{secrets.token_hex(4)}"
        admin = await open_storage("postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'CREATE DATABASE "{dbname}"'))
        await admin.close()
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{dbname}"
    storage = await open_storage(url)
    await storage.migrate()
    adapter: Adapter = LocalAdapter()
    if args.redis:
        from tidings.adapters.redis import RedisAdapter

        adapter = RedisAdapter("redis://127.0.0.1:6379/0", prefix=f"tidings-bench-{secrets.token_hex(4)}")
    hub = Hub(ev.EventStream(), adapter)
    await adapter.start(lambda message, own: remote.on_message(hub, message, own))
    users = [f"user-{i:05d}" for i in range(args.users)]
    results: dict[str, list[float]] = {v: [] for v in VARIANTS}
    try:
        await setup(storage, users)
        await one_round(storage, hub, users[:50], "routed, all signed in", -1)  # warm-up
        for n in range(args.rounds):
            for variant in VARIANTS:
                results[variant].append(await one_round(storage, hub, users, variant, n))
    finally:
        await adapter.close()
        await storage.close()
        if dbname is not None:
            admin = await open_storage("postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
            async with admin.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text(f'DROP DATABASE "{dbname}" WITH (FORCE)'))
            await admin.close()
    return {"users": args.users, "rounds": args.rounds, "database": args.database, "redis": args.redis,
            "us_per_user": results}


def markdown(found: dict[str, Any], command: str) -> str:
    where = f"{found['database']}, {'Redis adapter' if found['redis'] else 'one node (local adapter)'}"
    lines = [
        f"### Routing: {found['users']} users, {where}",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} CPUs, "
        f"{platform.platform()}, Python {platform.python_version()}",
        f"- command: `{command}`",
        f"- {found['rounds']} interleaved rounds; CPU of the worker's process per user (median, and every round)",
        "",
        "| variant | us/user (median) | rounds |",
        "|---|---:|---|",
    ]
    for variant, values in found["us_per_user"].items():
        lines.append(f"| {variant} | {statistics.median(values):.0f} | {' '.join(f'{v:.0f}' for v in values)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.beams.routing", description=__doc__)
    parser.add_argument("-u", "--users", type=int, default=1000)
    parser.add_argument("-r", "--rounds", type=int, default=5)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--redis", action="store_true", help="the hub on Redis at 127.0.0.1:6379")
    parsed = parser.parse_args()
    found = asyncio.run(main(parsed))
    print(markdown(found, "python -m bench.beams.routing " + " ".join(sys.argv[1:])))
