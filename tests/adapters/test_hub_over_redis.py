"""Two hubs (two nodes, in one process) over real Redis: what a connection sees while its subscribe waits.

A member event from another node that arrives while a local subscribe is still waiting for Redis must
reach the joining connection after its subscription_succeeded, unless the roster snapshot already has it.
The test holds one subscribe between its Redis call and its answer with a gate, to make that window wide.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson

from tests.adapters.conftest import REDIS_URL, drop_keys
from tidings.adapters.base import Joined, Member
from tidings.adapters.redis import RedisAdapter
from tidings.channels import signatures
from tidings.channels.apps import App
from tidings.realtime import remote
from tidings.realtime.connection import Connection
from tidings.realtime.events import EventStream
from tidings.realtime.hub import Hub

APP = App(id="1", key="k", secret="s")


class Transport:
    """Collects what the hub writes to one client (the hub writes ready-made WebSocket frames)."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def write(self, frame: bytes) -> None:
        n = frame[1] & 0x7F
        payload = frame[2 + {126: 2, 127: 8}.get(n, 0):]
        self.frames.append(orjson.loads(payload))

    def get_write_buffer_size(self) -> int:
        return 0

    def abort(self) -> None:
        pass


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


def connect(hub: Hub) -> tuple[Connection, Transport]:
    transport = Transport()

    async def closer(code: int, reason: str) -> None:
        return None

    conn = Connection(hub.new_socket_id(APP.id), APP, transport, closer, write_limit=1 << 20)
    hub.add(conn)
    return conn, transport


def presence(conn: Connection, channel: str, user: str) -> dict[str, Any]:
    data = json.dumps({"user_id": user})
    auth = f"{APP.key}:{signatures.hmac_hex(APP.secret, f'{conn.socket_id}:{channel}:{data}')}"
    return {"channel": channel, "auth": auth, "channel_data": data}


async def test_member_event_during_a_subscribe_comes_after_subscription_succeeded(prefix: str) -> None:
    (hub_a, a), (hub_b, b) = await node(prefix), await node(prefix)
    try:
        ch = "presence-room"
        carol, carol_t = connect(hub_b)
        dave, _ = connect(hub_a)
        b.gate = asyncio.Event()
        joining = asyncio.create_task(hub_b.subscribe(carol, presence(carol, ch, "carol")))
        await asyncio.sleep(0.1)  # carol's join went through Redis; her answer waits at the gate
        await hub_a.subscribe(dave, presence(dave, ch, "dave"))  # after carol's: not in her snapshot
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
