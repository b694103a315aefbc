"""The hub with fake transports (no sockets, no subprocess): removal, the write path, signed-in users."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.realtime.fakes import connect, feed
from tidings.channels import signatures
from tidings.channels.apps import App
from tidings.realtime import events as ev
from tidings.realtime.connection import Connection
from tidings.realtime.hub import Hub

APP = App(id="1", key="k", secret="s", enable_client_events=True)


def hub_with_events() -> tuple[Hub, list[ev.Event]]:
    stream = ev.EventStream()
    seen: list[ev.Event] = []
    stream.subscribe(seen.append)
    return Hub(stream), seen


def presence(conn: Connection, user: str, channel: str = "presence-room") -> dict[str, Any]:
    data = json.dumps({"user_id": user})
    auth = signatures.token(APP.key, APP.secret, signatures.channel_string(conn.socket_id, channel, data))
    return {"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth, "channel_data": data}}


def signin(conn: Connection, user: str, watchlist: list[str] | None = None) -> dict[str, Any]:
    user_data = json.dumps({"id": user, "watchlist": watchlist or []})
    auth = signatures.token(APP.key, APP.secret, signatures.signin_string(conn.socket_id, user_data))
    return {"event": "pusher:signin", "data": {"user_data": user_data, "auth": auth}}


async def test_fifty_sockets_reset_at_once_are_all_removed() -> None:
    """Writes to reset transports raise (uvloop); that must not stop the removals that cause those writes."""
    hub, seen = hub_with_events()
    watcher, watcher_t = connect(hub, APP)
    users = [f"user-{i}" for i in range(50)]
    await feed(hub, watcher, signin(watcher, "watcher", users))
    await feed(hub, watcher, presence(watcher, "watcher"))
    members = []
    for user in users:
        conn, transport = connect(hub, APP)
        await feed(hub, conn, signin(conn, user))
        await feed(hub, conn, presence(conn, user))
        members.append((conn, transport))
    for _, transport in members:
        transport.dead = True  # all reset before the server notices any
    await asyncio.gather(*(hub.remove(conn) for conn, _ in members))
    removed = {json.loads(f["data"])["user_id"] for f in watcher_t.frames if f["event"].endswith("member_removed")}
    assert removed == set(users)
    offline = {
        uid
        for f in watcher_t.frames
        if f["event"] == "pusher_internal:watchlist_events"
        for e in f["data"]["events"]
        if e["name"] == "offline"
        for uid in e["user_ids"]
    }
    assert offline == set(users)
    assert list(await hub.adapter.members(APP.id, "presence-room")) == ["watcher"]
    assert await hub.adapter.online(APP.id, tuple(users)) == set()
    assert sum(isinstance(e, ev.MemberRemoved) for e in seen) == 50
    assert hub.connection_count(APP.id) == 1
    await hub.remove(watcher)
    assert await hub.adapter.channels(APP.id) == {}
    assert [e for e in seen if isinstance(e, ev.ChannelVacated)] == [ev.ChannelVacated(APP.id, "presence-room")]


async def test_a_reply_over_the_write_limit_cuts_the_connection() -> None:
    hub, seen = hub_with_events()
    conn, transport = connect(hub, APP, write_limit=1000)
    transport.buffered = 1001  # the client stopped reading
    await feed(hub, conn, {"event": "pusher:ping", "data": {}})
    assert transport.aborted and conn.closing
    await hub.remove(conn)
    assert ev.SlowConsumerCut(APP.id, conn.socket_id) in seen
    assert [e.reason for e in seen if isinstance(e, ev.ConnectionClosed)] == ["slow consumer"]


async def test_fanout_skips_a_dead_transport_and_reaches_the_rest() -> None:
    hub, _ = hub_with_events()
    conns = [connect(hub, APP) for _ in range(5)]
    for conn, _ in conns:
        await feed(hub, conn, {"event": "pusher:subscribe", "data": {"channel": "news"}})
    conns[1][1].dead = True
    assert hub.deliver(APP.id, "ev", ["news"], "{}", None) == 4
    assert conns[1][0].closing and conns[1][1].aborted
    assert all(t.events()[-1] == "ev" for i, (_, t) in enumerate(conns) if i != 1)


async def test_a_repeated_subscribe_is_answered_again_without_a_second_member() -> None:
    hub, seen = hub_with_events()
    conn, transport = connect(hub, APP)
    await feed(hub, conn, presence(conn, "alice"))
    await feed(hub, conn, presence(conn, "alice"))
    assert transport.events().count("pusher_internal:subscription_succeeded") == 2
    assert sum(isinstance(e, ev.MemberAdded) for e in seen) == 1


async def test_terminate_closes_every_connection_of_the_user_with_4009() -> None:
    hub, _ = hub_with_events()
    conns = [connect(hub, APP) for _ in range(3)]
    for conn, _ in conns[:2]:
        await feed(hub, conn, signin(conn, "alice"))
    assert hub.terminate_user(APP.id, "alice") == 2
    assert [c.closing for c, _ in conns] == [True, True, False]
    assert conns[0][1].frames[-1]["data"]["code"] == 4009


async def test_client_event_reaches_the_others_not_the_sender() -> None:
    hub, seen = hub_with_events()
    a, at = connect(hub, APP)
    b, bt = connect(hub, APP)
    for conn in (a, b):
        auth = signatures.token(APP.key, APP.secret, signatures.channel_string(conn.socket_id, "private-c"))
        await feed(hub, conn, {"event": "pusher:subscribe", "data": {"channel": "private-c", "auth": auth}})
    await feed(hub, a, {"event": "client-hi", "channel": "private-c", "data": {"x": 1}})
    assert bt.frames[-1] == {"event": "client-hi", "channel": "private-c", "data": '{"x":1}'}
    assert at.events()[-1] == "pusher_internal:subscription_succeeded"
    assert any(isinstance(e, ev.ClientEventSent) for e in seen)
