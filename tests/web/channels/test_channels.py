"""Subscriptions: public, private, presence, encrypted, cache and user channels.

docs/protocol/channels.md §2.4, §2.7, §2.8."""

from __future__ import annotations

import asyncio
import json

import pusher

from tests.support.server import RunningServer
from tests.support.ws_client import WsClient, close_all, connect_many, data_of
from tests.web.channels.conftest import Api, uniq


def presence_data(user_id: object, user_info: object = None) -> str:
    payload: dict[str, object] = {"user_id": user_id}
    if user_info is not None:
        payload["user_info"] = user_info
    return json.dumps(payload)


async def join_presence(server: RunningServer, client: WsClient, channel: str, user_id: object,
                        user_info: object = None) -> dict[str, object]:
    """Subscribe to a presence channel; returns the decoded `presence` object of subscription_succeeded."""
    cd = presence_data(user_id, user_info)
    frame = await client.subscribe(channel, auth=client.presence_auth(server.key, server.secret, channel, cd),
                                   channel_data=cd)
    data = data_of(frame)
    assert set(data) == {"presence"}, frame
    return data["presence"]  # type: ignore[no-any-return]


# -- public ------------------------------------------------------------------------------------


async def test_public_subscribe_succeeds_with_empty_object_string(server: RunningServer) -> None:
    channel = uniq("public-")
    async with await WsClient.connect(server.ws_url()) as client:
        await client.send("pusher:subscribe", {"channel": channel, "auth": ""})
        frame = await client.recv()
        assert frame == {"event": "pusher_internal:subscription_succeeded", "channel": channel, "data": "{}"}
        # A repeated subscribe is answered again and changes nothing.
        await client.send("pusher:subscribe", {"channel": channel})
        assert await client.recv() == frame
        await client.expect_nothing()


async def test_subscription_count_is_off_by_default(server: RunningServer) -> None:
    channel = uniq("uncounted-")
    a, b = await connect_many(server.ws_url(), 2)
    try:
        await a.subscribe(channel)
        await b.subscribe(channel)
        await b.unsubscribe(channel)
        await a.expect_nothing()
        await b.expect_nothing()
    finally:
        await close_all([a, b])


async def test_unsubscribe_stops_delivery(server: RunningServer, api: Api) -> None:
    channel = uniq("unsub-")
    async with await WsClient.connect(server.ws_url()) as client:
        await client.subscribe(channel)
        api.trigger_ok(channel, "before", '{"n":1}')
        assert await client.recv() == {"event": "before", "channel": channel, "data": '{"n":1}'}
        await client.unsubscribe(channel)
        await client.ping()  # the unsubscribe has been processed (no acknowledgement is sent)
        api.trigger_ok(channel, "after", '{"n":2}')
        await client.expect_nothing()
        assert api.get(f"/apps/{{app}}/channels/{channel}").json() == {"occupied": False}


# -- private -----------------------------------------------------------------------------------


async def test_private_subscribe_with_valid_signature(server: RunningServer, sdk: pusher.Pusher) -> None:
    ours, theirs = uniq("private-ours-"), uniq("private-sdk-")
    async with await WsClient.connect(server.ws_url()) as client:
        frame = await client.subscribe(ours, auth=client.private_auth(server.key, server.secret, ours))
        assert frame == {"event": "pusher_internal:subscription_succeeded", "channel": ours, "data": "{}"}
        # Signed by the official SDK, as a customer's auth endpoint would.
        auth = sdk.authenticate(channel=theirs, socket_id=client.socket_id)
        assert await client.subscribe(theirs, auth=auth["auth"]) == {
            "event": "pusher_internal:subscription_succeeded", "channel": theirs, "data": "{}",
        }


async def test_private_subscribe_with_bad_signature_is_auth_error(server: RunningServer) -> None:
    channel = uniq("private-bad-")
    async with await WsClient.connect(server.ws_url()) as client:
        good = client.private_auth(server.key, server.secret, channel)
        for auth in (
            good[:-1] + ("0" if good[-1] != "0" else "1"),  # one hex digit off
            client.private_auth(server.key, "wrong-secret", channel),
            client.private_auth("other-key", server.secret, channel),
            client.private_auth(server.key, server.secret, channel + "x"),  # signed for another channel
            "",
            None,  # no auth at all
        ):
            data = await client.subscribe_error(channel, auth=auth)
            assert data["type"] == "AuthError" and data["status"] == 401, data
        # Still usable, and the channel was never joined.
        await client.ping()
        assert await client.subscribe(channel, auth=good)


# -- presence ----------------------------------------------------------------------------------


async def test_presence_roster_and_member_events(server: RunningServer, api: Api) -> None:
    channel = uniq("presence-")
    alice, bob, bob2 = await connect_many(server.ws_url(), 3)
    try:
        roster = await join_presence(server, alice, channel, "alice", {"name": "Alice"})
        assert roster == {"ids": ["alice"], "hash": {"alice": {"name": "Alice"}}, "count": 1}

        roster = await join_presence(server, bob, channel, "bob", {"name": "Bob"})
        assert sorted(roster["ids"]) == ["alice", "bob"]  # type: ignore[call-overload]
        assert roster["hash"] == {"alice": {"name": "Alice"}, "bob": {"name": "Bob"}}
        assert roster["count"] == 2
        added = await alice.expect("pusher_internal:member_added", channel=channel)
        assert set(added) == {"event", "channel", "data"}, added
        assert data_of(added) == {"user_id": "bob", "user_info": {"name": "Bob"}}
        await bob.expect_nothing(0.1)  # nobody is announced to themselves

        # Bob's second tab: a roster of users, not sockets, and no second member_added.
        roster = await join_presence(server, bob2, channel, "bob", {"name": "Bob"})
        assert roster["count"] == 2
        assert sorted(roster["ids"]) == ["alice", "bob"]  # type: ignore[call-overload]
        await alice.expect_nothing()
        assert api.get(f"/apps/{{app}}/channels/{channel}/users").json() == {
            "users": [{"id": "alice"}, {"id": "bob"}]
        }

        # Closing one of Bob's sockets announces nothing; closing the last one announces him gone, once.
        await bob.close()
        await alice.expect_nothing()
        await bob2.unsubscribe(channel)
        removed = await alice.expect("pusher_internal:member_removed", channel=channel)
        assert set(removed) == {"event", "channel", "data"}, removed
        assert data_of(removed) == {"user_id": "bob"}
        await alice.expect_nothing()
        assert api.get(f"/apps/{{app}}/channels/{channel}/users").json() == {"users": [{"id": "alice"}]}
    finally:
        await close_all([alice, bob, bob2])


async def test_presence_member_removed_when_socket_closes(server: RunningServer) -> None:
    channel = uniq("presence-close-")
    a, b = await connect_many(server.ws_url(), 2)
    try:
        await join_presence(server, a, channel, "a")
        await join_presence(server, b, channel, "b")
        await a.expect("pusher_internal:member_added", channel=channel)
        await b.close()
        removed = await a.expect("pusher_internal:member_removed", channel=channel)
        assert data_of(removed) == {"user_id": "b"}
    finally:
        await close_all([a, b])


async def test_presence_numeric_user_id_is_stringified(server: RunningServer, api: Api) -> None:
    channel = uniq("presence-num-")
    a, b = await connect_many(server.ws_url(), 2)
    try:
        roster = await join_presence(server, a, channel, 42, {"n": 1})
        assert roster == {"ids": ["42"], "hash": {"42": {"n": 1}}, "count": 1}
        await join_presence(server, b, channel, 7)
        added = await a.expect("pusher_internal:member_added", channel=channel)
        assert data_of(added) == {"user_id": "7"}
        # The same user as a string is the same member.
        c = await WsClient.connect(server.ws_url())
        roster = await join_presence(server, c, channel, "42", {"n": 1})
        assert roster["count"] == 2
        await a.expect_nothing(0.1)
        await b.expect_nothing(0.1)
        await c.close()
        users = api.get(f"/apps/{{app}}/channels/{channel}/users").json()
        assert sorted(u["id"] for u in users["users"]) == ["42", "7"]
    finally:
        await close_all([a, b])


async def test_presence_101st_member_is_refused(server: RunningServer) -> None:
    channel = uniq("presence-full-")
    clients = await connect_many(server.ws_url(), 102)
    try:
        await asyncio.gather(*(join_presence(server, c, channel, f"user{i}") for i, c in enumerate(clients[:100])))
        extra = clients[100]
        cd = presence_data("user100")
        await extra.send_subscribe(channel, auth=extra.presence_auth(server.key, server.secret, channel, cd),
                                   channel_data=cd)
        frame = await extra.expect("pusher:subscription_error")
        assert frame["channel"] == channel
        assert frame["data"]["type"] == "LimitReached" and frame["data"]["status"] == 4100, frame
        assert isinstance(frame["data"]["error"], str) and frame["data"]["error"]
        # A member already in the channel may still open another socket on it.
        roster = await join_presence(server, clients[101], channel, "user3")
        assert roster["count"] == 100
    finally:
        await close_all(clients)


async def test_presence_user_info_over_1kb_is_refused(server: RunningServer) -> None:
    channel = uniq("presence-big-")
    async with await WsClient.connect(server.ws_url()) as client:
        fits = {"b": "x" * (1024 - len('{"b":""}'))}  # exactly 1024 bytes as compact JSON
        too_big = {"b": "x" * 1100}
        cd = presence_data("big", too_big)
        data = await client.subscribe_error(
            channel, auth=client.presence_auth(server.key, server.secret, channel, cd), channel_data=cd
        )
        assert data["type"] == "LimitReached" and data["status"] == 4301, data
        roster = await join_presence(server, client, channel, "fits", fits)
        assert roster["hash"] == {"fits": fits}


async def test_presence_bad_signature_and_bad_channel_data(server: RunningServer) -> None:
    channel = uniq("presence-bad-")
    async with await WsClient.connect(server.ws_url()) as client:
        cd = presence_data("u1")
        # Signed over other channel_data than the one sent.
        auth = client.presence_auth(server.key, server.secret, channel, presence_data("u2"))
        data = await client.subscribe_error(channel, auth=auth, channel_data=cd)
        assert data["type"] == "AuthError" and data["status"] == 401, data
        # Signed like a private channel (no channel_data) while not signed in.
        data = await client.subscribe_error(channel, auth=client.private_auth(server.key, server.secret, channel))
        assert data["status"] in (400, 401), data
        # Correctly signed, but channel_data that is not a member description.
        for bad in ("not json", "[1]", '{"user_info": {}}', '{"user_id": ""}', '{"user_id": true}'):
            data = await client.subscribe_error(
                channel, auth=client.presence_auth(server.key, server.secret, channel, bad), channel_data=bad
            )
            assert (data["type"], data["status"]) == ("InvalidChannelData", 400), (bad, data)
        await client.ping()


# -- encrypted ---------------------------------------------------------------------------------


async def test_private_encrypted_subscribe_ok_client_events_refused(server: RunningServer) -> None:
    channel = uniq("private-encrypted-")
    a, b = await connect_many(server.ws_url(), 2)
    try:
        for c in (a, b):
            assert await c.subscribe(channel, auth=c.private_auth(server.key, server.secret, channel)) == {
                "event": "pusher_internal:subscription_succeeded", "channel": channel, "data": "{}",
            }
        await a.send("client-secret", {"nonce": "n", "ciphertext": "c"}, channel=channel)
        await a.expect_error(4301, channel=channel)
        await b.expect_nothing()
        await a.ping()
    finally:
        await close_all([a, b])


# -- cache -------------------------------------------------------------------------------------


async def test_cache_channel_miss_then_replay(server: RunningServer, api: Api) -> None:
    channel = uniq("cache-")
    async with await WsClient.connect(server.ws_url()) as first:
        await first.subscribe(channel)
        assert await first.recv() == {"event": "pusher:cache_miss", "channel": channel}
        api.trigger_ok(channel, "price", '{"v":1}')
        api.trigger_ok(channel, "price", '{"v":2}')
        assert await first.recv() == {"event": "price", "channel": channel, "data": '{"v":1}'}
        assert await first.recv() == {"event": "price", "channel": channel, "data": '{"v":2}'}

    # A later subscriber gets the last event at once, after subscription_succeeded.
    async with await WsClient.connect(server.ws_url()) as later:
        await later.subscribe(channel)
        assert await later.recv() == {"event": "price", "channel": channel, "data": '{"v":2}'}
        await later.expect_nothing()


async def test_private_cache_channel_replay(server: RunningServer, api: Api) -> None:
    channel = uniq("private-cache-")
    api.trigger_ok(channel, "state", "on")
    async with await WsClient.connect(server.ws_url()) as client:
        await client.subscribe(channel, auth=client.private_auth(server.key, server.secret, channel))
        assert await client.recv() == {"event": "state", "channel": channel, "data": "on"}


# -- user channels and names -------------------------------------------------------------------


async def test_server_to_user_channel_refused_without_signin(server: RunningServer) -> None:
    async with await WsClient.connect(server.ws_url()) as client:
        for channel in ("#server-to-user-x", "#server-to-user-42"):
            data = await client.subscribe_error(channel, auth="")
            assert data["type"] == "AuthError", data
            assert data["status"] in (401, 403), data
        await client.ping()


async def test_invalid_channel_names_refused(server: RunningServer) -> None:
    cases = [
        ("bad channel", "InvalidChannel", 400),
        ("bad*chars", "InvalidChannel", 400),
        ("caf\u00e9", "InvalidChannel", 400),
        ("#foo", "InvalidChannel", 400),
        ("", "InvalidChannel", 400),
        ("x" * 201, "LimitReached", 4009),
    ]
    async with await WsClient.connect(server.ws_url()) as client:
        for name, type_, status in cases:
            data = await client.subscribe_error(name)
            assert (data["type"], data["status"]) == (type_, status), (name, data)
        # 200 characters is fine.
        name = "y" * 200
        assert await client.subscribe(name)
        await client.ping()
