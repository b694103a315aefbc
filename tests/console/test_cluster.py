"""The console across two nodes on Redis: a console open on node A shows node B's events; nodes forward nothing
while no console is open anywhere; a user's timeline written on node B is read on node A, also once the user is
offline. Both nodes run in this process on the test's loop (tests/support/inprocess.py `serving`), on the real
Redis at 127.0.0.1:6379 under a prefix of their own."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import aiohttp
import pytest

from tests.console.support import TOKEN, bearer, sign_in, stream, trigger
from tests.support.inprocess import serving
from tests.support.server import APP_ID

pytestmark = pytest.mark.slow  # scale-out: two nodes and Redis

REDIS = "redis://127.0.0.1:6379/0"


async def eventually(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the bound"
        await asyncio.sleep(0.05)


async def test_a_console_on_one_node_shows_the_cluster(tmp_path: Path) -> None:
    prefix = f"tidings-console-test-{secrets.token_hex(4)}"
    settings = {"console_token": TOKEN, "redis_url": REDIS, "redis_prefix": prefix}
    async with (
        serving(tmp_path / "a", **settings) as a,
        serving(tmp_path / "b", **settings) as b,
        aiohttp.ClientSession() as http,
    ):
        node_a, node_b = a.stack.console.console, b.stack.console.console
        assert node_a.node != node_b.node
        # No console open anywhere: neither node renders the fan-out's events, let alone sends them.
        assert not node_a.active and not node_b.active
        async with stream(http, a.http_url, headers=bearer()) as s:
            await eventually(lambda: node_b.active)  # told at once through the control channel
            sent = time.monotonic()
            await trigger(http, b.http_url, ["news"], "from-b", '{"node":"b"}')
            record = await s.until(lambda r: r["kind"] == "event_triggered" and r["event"] == "from-b")
            print(f"node B trigger -> node A console: {(time.monotonic() - sent) * 1000:.1f} ms")
            assert record["node"] == node_b.node and record["data"] == '{"node":"b"}'
            await trigger(http, a.http_url, ["news"], "from-a", "{}")
            mine = await s.until(lambda r: r["kind"] == "event_triggered" and r["event"] == "from-a")
            assert mine["node"] == node_a.node
            # Each event once, whichever node it happened on.
            triggered = [r["event"] for _, r in s.seen if r["kind"] == "event_triggered"]
            assert sorted(triggered) == ["from-a", "from-b"]

            erin = await sign_in(b.ws_url(), "erin")
            await s.until(lambda r: r["kind"] == "signed_in" and r["user_id"] == "erin")
            await trigger(http, a.http_url, ["#server-to-user-erin"], "hello-erin", '{"x":1}')
            await erin.wait_for("hello-erin")
            await erin.close()
            await s.until(lambda r: r["kind"] == "connection_closed" and r.get("user_id") == "erin")
        # The console closed: the announcement expires and the nodes stop forwarding.
        await eventually(lambda: not node_b.active and not node_a.active, timeout=40)

        # erin is offline; her timeline (written by both nodes, in Redis) is read on node A.
        url = f"{a.http_url}/console/api/apps/{APP_ID}/users/erin/timeline"
        async with http.get(url, headers=bearer()) as r:
            body = await r.json()
        kinds = [(e["kind"], e["node"]) for e in body["events"]]
        assert kinds[0] == ("connection_closed", node_b.node), kinds
        assert ("signed_in", node_b.node) in kinds and ("event_triggered", node_a.node) in kinds
        assert body["online"] is False
