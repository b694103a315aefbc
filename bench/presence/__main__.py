"""Large presence channels: CPU and frames for N members joining one presence channel, full mode vs counts-only.

    .venv/bin/python -m bench.presence                    # 5000 members, one node (local adapter), 3 rounds
    .venv/bin/python -m bench.presence --redis            # the hub on Redis (127.0.0.1:6379): its Lua scripts too
    .venv/bin/python -m bench.presence -n 2000 --markdown bench/RESULTS.md

In one process: a hub, and N connections with transports that only count frames and bytes (no sockets: what
is measured is the server's own work per join, the roster snapshots, the member events and their fan-out, not
the kernel's). The members join one after the other, each waiting for its subscription (as N browsers arriving
over a while); then the loop runs until the count updates due have gone out. Two variants per round:

- `full`: Pusher's presence (max_presence_members = N): every join gets the whole roster and every member
  present gets member_added, so frames grow with N^2 / 2;
- `counts-only`: the app's presence_counts_only_above = 100: above 100 members a join gets the count and itself,
  nobody gets member_added, and subscribers get a pusher_internal:subscription_count at most once a second.

CPU is this process's (time.process_time) for the joins; with --redis, Redis' own CPU is not counted (another
process) but every join's round trip is in the wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tidings.adapters import Adapter, LocalAdapter
from tidings.channels import names
from tidings.channels import protocol as p
from tidings.channels.apps import App, AppLimits
from tidings.channels.subscription import Grant
from tidings.realtime import events as ev
from tidings.realtime import remote
from tidings.realtime.connection import Connection
from tidings.realtime.hub import Hub

TIMING = p.Timing(120.0, 30.0, 30.0)


class CountingTransport:
    """A transport that counts what is written to it (frames: one write each)."""

    __slots__ = ("bytes", "frames")

    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0

    def write(self, frame: bytes) -> None:
        self.frames += 1
        self.bytes += len(frame)

    def get_write_buffer_size(self) -> int:
        return 0

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


async def open_adapter(redis: bool, hub_ref: list[Hub]) -> Adapter:
    if not redis:
        return LocalAdapter()
    from tidings.adapters.redis import RedisAdapter

    adapter = RedisAdapter("redis://127.0.0.1:6379/0", prefix=f"bench-presence-{secrets.token_hex(4)}")
    await adapter.start(lambda m, own: remote.on_message(hub_ref[0], m, own))
    return adapter


async def one_run(n: int, variant: str, redis: bool) -> dict[str, Any]:
    limits = AppLimits(max_presence_members=max(n, 100),
                       presence_counts_only_above=100 if variant == "counts-only" else None)
    app = App(id="bench", key="bench-key", secret="bench-secret", limits=limits)
    hub_ref: list[Hub] = []
    adapter = await open_adapter(redis, hub_ref)
    hub = Hub(ev.EventStream(), adapter)
    hub_ref.append(hub)
    channel = "presence-bench"
    ctype = names.channel_type(channel)
    conns = []
    for _ in range(n):
        session = p.Session(app, hub.new_socket_id(app.id), time.monotonic(), TIMING)
        conn = Connection(session, CountingTransport(), write_limit=1 << 30)
        hub.add(conn)
        conns.append(conn)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for i, conn in enumerate(conns):
        await hub.perform(conn, p.Join(Grant(channel, ctype, f"user-{i:05d}", {"name": f"User {i}"})))
    joins_cpu, joins_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    await asyncio.sleep(1.5)  # the throttled count updates due after the last join
    cpu = time.process_time() - cpu0
    frames = sum(c.transport.frames for c in conns)
    sent = sum(c.transport.bytes for c in conns)
    assert all(c.transport.frames >= 1 for c in conns)
    for conn in conns:
        await hub.remove(conn)
    await adapter.close()
    if redis:
        import redis.asyncio as aioredis

        from tidings.adapters.redis import RedisAdapter

        assert isinstance(adapter, RedisAdapter)
        client = aioredis.from_url("redis://127.0.0.1:6379/0")
        keys = [k async for k in client.scan_iter(match=f"{adapter.prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    return {"variant": variant, "members": n, "cpu_s": cpu, "joins_cpu_s": joins_cpu, "joins_wall_s": joins_wall,
            "frames": frames, "bytes": sent}


def table(rows: list[dict[str, Any]]) -> str:
    out = ["| variant | members | CPU s (joins + count updates) | CPU per join ms | wall s (joins) | frames | "
           "frames per join | MB written |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| {r['variant']} | {r['members']} | {r['cpu_s']:.2f} | {1000 * r['cpu_s'] / r['members']:.3f} | "
            f"{r['joins_wall_s']:.2f} | {r['frames']:,} | {r['frames'] / r['members']:.1f} | {r['bytes'] / 1e6:.1f} |"
        )
    return "\n".join(out)


def median_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for variant in ("full", "counts-only"):
        runs = sorted((r for r in results if r["variant"] == variant), key=lambda r: r["cpu_s"])
        rows.append(runs[len(runs) // 2])
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.presence", description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--members", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis", action="store_true", help="the hub on Redis at 127.0.0.1:6379")
    parser.add_argument("--markdown", type=Path, help="append a section with the machine, command and table")
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    results = []
    for rnd in range(args.rounds):
        for variant in ("full", "counts-only") if rnd % 2 == 0 else ("counts-only", "full"):  # interleaved
            r = await one_run(args.members, variant, args.redis)
            print(json.dumps({"round": rnd, **r}), flush=True)
            results.append(r)
    rows = median_rows(results)
    text = table(rows)
    print(text)
    work = Path("bench/.work")
    work.mkdir(parents=True, exist_ok=True)
    (work / f"presence-{datetime.now(UTC):%Y%m%dT%H%M%S}.json").write_text(json.dumps(results, indent=1))
    if args.markdown:
        cpu = platform.processor() or platform.machine()
        machine = f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        command = "python -m bench.presence " + " ".join(a if " " not in a else f'"{a}"' for a in sys.argv[1:])
        with args.markdown.open("a") as f:
            f.write(f"\n### {args.title or 'Presence'}\n\nMachine: {machine}, {datetime.now(UTC):%Y-%m-%d}. "
                    f"Command: `{command.strip()}` (median of {args.rounds} rounds by CPU).\n\n{text}\n")


if __name__ == "__main__":
    asyncio.run(main())
