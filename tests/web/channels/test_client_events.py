"""Client events: relayed to the other subscribers of private/presence channels, and every refusal
(docs/protocol/channels.md §2.5). Refusals are `pusher:error` 4301 with the channel, and never close the connection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from tests.support.server import RunningServer
from tests.support.ws_client import WsClient, close_all, connect_many
from tests.web.channels.conftest import uniq


async def private_trio(server: RunningServer, channel: str) -> list[WsClient]:
    clients = await connect_many(server.ws_url(), 3)
    for c in clients:
        await c.subscribe(channel, auth=c.private_auth(server.key, server.secret, channel))
    return clients


async def test_relayed_to_others_not_echoed(server: RunningServer) -> None:
    channel = uniq("private-ce-")
    sender, a, b = await private_trio(server, channel)
    try:
        await sender.send("client-typing", {"who": "me", "n": 1}, channel=channel)
        for receiver in (a, b):
            frame = await receiver.recv()
            assert set(frame) == {"event", "channel", "data"}, frame
            assert frame["event"] == "client-typing" and frame["channel"] == channel
            assert json.loads(frame["data"]) == {"who": "me", "n": 1}
        # A string payload is forwarded verbatim.
        await a.send("client-raw", "just text", channel=channel)
        assert await sender.recv() == {"event": "client-raw", "channel": channel, "data": "just text"}
        assert await b.recv() == {"event": "client-raw", "channel": channel, "data": "just text"}
        await sender.expect_nothing()
        await a.expect_nothing(0.05)
        await b.expect_nothing(0.05)
    finally:
        await close_all([sender, a, b])


async def test_presence_client_event_carries_user_id(server: RunningServer) -> None:
    channel = uniq("presence-ce-")
    a, b = await connect_many(server.ws_url(), 2)
    try:
        for c, uid in ((a, "ann"), (b, 99)):
            cd = json.dumps({"user_id": uid})
            await c.subscribe(channel, auth=c.presence_auth(server.key, server.secret, channel, cd), channel_data=cd)
        await a.expect("pusher_internal:member_added", channel=channel)
        await a.send("client-hello", {"x": 1}, channel=channel)
        frame = await b.recv()
        assert frame["event"] == "client-hello" and frame["channel"] == channel
        assert frame["user_id"] == "ann"
        assert json.loads(frame["data"]) == {"x": 1}
        await b.send("client-hello", {"x": 2}, channel=channel)
        frame = await a.recv()
        assert frame["user_id"] == "99"  # numeric ids travel as strings
        await a.expect_nothing()
        await b.expect_nothing(0.05)
    finally:
        await close_all([a, b])


async def assert_refused(sender: WsClient, others: list[WsClient], event: str, data: object,
                         channel: str | None) -> None:
    await sender.send(event, data, channel=channel)
    await sender.expect_error(4301, channel=channel)
    for other in others:
        await other.expect_nothing(0.1)
    await sender.ping()  # still open


async def test_refused_on_public_channel(server: RunningServer) -> None:
    channel = uniq("public-ce-")
    a, b = await connect_many(server.ws_url(), 2)
    try:
        await a.subscribe(channel)
        await b.subscribe(channel)
        await assert_refused(a, [b], "client-x", {"y": 1}, channel)
        await assert_refused(a, [b], "client-x", {"y": 1}, uniq("cache-"))
    finally:
        await close_all([a, b])


async def test_refused_when_not_subscribed(server: RunningServer) -> None:
    channel = uniq("private-ce-")
    outsider, member, _ = await private_trio(server, channel)
    try:
        await outsider.unsubscribe(channel)
        await outsider.ping()
        await assert_refused(outsider, [member], "client-x", {"y": 1}, channel)
        await assert_refused(outsider, [member], "client-x", {"y": 1}, uniq("private-never-"))
    finally:
        await close_all([outsider, member, _])


async def test_refused_when_app_has_client_events_off(make_server: Callable[..., RunningServer]) -> None:
    srv = make_server(env={"TIDINGS_DEFAULT_APP_CLIENT_EVENTS": "false"})
    channel = uniq("private-off-")
    a, b, _ = await private_trio(srv, channel)
    try:
        await assert_refused(a, [b], "client-x", {"y": 1}, channel)
    finally:
        await close_all([a, b, _])


async def test_rate_limit_ten_per_second(server: RunningServer) -> None:
    channel = uniq("private-rate-")
    sender, receiver, _ = await private_trio(server, channel)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for i in range(11):  # written at once: the server reads them together, within the same second
            await sender.send("client-burst", {"i": i}, channel=channel)
        assert loop.time() - started < 1.0, "the burst was too slow to test the limit"
        await sender.expect_error(4301, channel=channel)
        got = [json.loads((await receiver.expect("client-burst", channel=channel))["data"])["i"] for _ in range(10)]
        assert got == list(range(10))
        await receiver.expect_nothing(0.1)

        await asyncio.sleep(max(0.0, started + 1.15 - loop.time()))
        await sender.send("client-burst", {"i": "again"}, channel=channel)
        frame = await receiver.expect("client-burst", channel=channel)
        assert json.loads(frame["data"]) == {"i": "again"}
        await sender.expect_nothing(0.1)
    finally:
        await close_all([sender, receiver, _])


async def test_refused_when_data_over_10kb(server: RunningServer) -> None:
    channel = uniq("private-big-")
    a, b, _ = await private_trio(server, channel)
    try:
        await assert_refused(a, [b], "client-big", "x" * 10_241, channel)
        # 10 KB exactly is fine.
        await a.send("client-big", "y" * 10_240, channel=channel)
        frame = await b.expect("client-big", channel=channel)
        assert frame["data"] == "y" * 10_240
    finally:
        await close_all([a, b, _])


async def test_refused_when_event_name_too_long(server: RunningServer) -> None:
    channel = uniq("private-name-")
    a, b, _ = await private_trio(server, channel)
    try:
        await assert_refused(a, [b], "client-" + "n" * 200, {}, channel)
    finally:
        await close_all([a, b, _])
