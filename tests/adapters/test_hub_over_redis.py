"""Two hubs (two nodes, in one process) over real Redis: what a connection sees while its subscribe waits.

A member event from another node that arrives while a local subscribe is still waiting for Redis must
reach the joining connection after its subscription_succeeded, unless the roster snapshot already has it.
The test holds one subscribe between its Redis call and its answer with a gate, to make that window wide.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.adapters.conftest import REDIS_URL, drop_keys
from tests.realtime.fakes import connect, feed
from tidings.adapters.base import Joined, Member
from tidings.adapters.redis import RedisAdapter
from tidings.channels import signatures
from tidings.channels.apps import App
from tidings.realtime import remote
from tidings.realtime.connection import Connection
from tidings.realtime.events import EventStream
from tidings.realtime.hub import Hub

APP = App(id="1", key="k", secret="s")


class GatedAdapter(RedisAdapter):
    """The real adapter; `join` waits at the gate (if set) after Redis answered."""

    gate: asyncio.Event | None = None

    async def join(self, app_id: str, channel: str, member: Member | None, cache: bool) -> Joined:
        joined = await super().join(app_id, channel, member, cache)
        if self.gate is not None:
            await self.gate.wait()
        return joined


async def node(prefix: str) -> tuple[Hub, GatedAdapter]:
    adapter = GatedAdapter(REDIS_URL, prefix=prefix)
    hub = Hub(EventStream(), adapter)
    await adapter.start(lambda m, own: remote.on_message(hub, m, own))
    return hub, adapter


def presence(conn: Connection, channel: str, user: str) -> dict[str, Any]:
    data = json.dumps({"user_id": user})
    auth = f"{APP.key}:{signatures.hmac_hex(APP.secret, f'{conn.socket_id}:{channel}:{data}')}"
    return {"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth, "channel_data": data}}


async def test_member_event_during_a_subscribe_comes_after_subscription_succeeded(prefix: str) -> None:
    (hub_a, a), (hub_b, b) = await node(prefix), await node(prefix)
    try:
        ch = "presence-room"
        carol, carol_t = connect(hub_b, APP)
        dave, _ = connect(hub_a, APP)
        carol_t.frames.clear()
        b.gate = asyncio.Event()
        joining = asyncio.create_task(feed(hub_b, carol, presence(carol, ch, "carol")))
        await asyncio.sleep(0.1)  # carol's join went through Redis; her answer waits at the gate
        await feed(hub_a, dave, presence(dave, ch, "dave"))  # after carol's: not in her snapshot
        await asyncio.sleep(0.2)  # dave's member_added reaches node b: held, carol is still joining
        assert carol_t.frames == []
        b.gate.set()
        await joining
        events = [(f["event"], json.loads(f["data"])) for f in carol_t.frames]
        assert events[0][0] == "pusher_internal:subscription_succeeded"
        assert events[0][1]["presence"]["ids"] == ["carol"]
        assert events[1:] == [("pusher_internal:member_added", {"user_id": "dave"})]
    finally:
        await a.close()
        await b.close()
        await drop_keys(prefix)


async def test_concurrent_presence_joins_on_two_nodes(prefix: str) -> None:
    """20 simultaneous joins of one presence channel, 5 rounds: every join answered, none crashed
    (waiters for one channel used to be compared by value and removed in the wrong order)."""
    (hub_a, a), (hub_b, b) = await node(prefix), await node(prefix)
    try:
        ch = "presence-crowd"
        for round_ in range(5):
            hubs = [hub_a if i % 2 else hub_b for i in range(20)]
            conns = [connect(hub, APP) for hub in hubs]
            joins = [feed(hubs[i], c, presence(c, ch, f"u{round_}-{i}")) for i, (c, _) in enumerate(conns)]
            await asyncio.gather(*joins)
            for conn, transport in conns:
                assert "pusher_internal:subscription_succeeded" in transport.events(), transport.frames
                assert not conn.closing
            assert len(await a.members(APP.id, ch)) == 20
            await asyncio.gather(*(hubs[i].remove(c) for i, (c, _) in enumerate(conns)))
            assert await a.members(APP.id, ch) == {}
    finally:
        await a.close()
        await b.close()
        await drop_keys(prefix)
