"""Users at scale on one node (docs/users.md): live watchlists, who is online, per-user guard rails, the
connection quota, session lifetimes and counts-only presence, over the raw protocol with the HTTP calls made
by the official `pusher` Python SDK (tests/support/users_sdk.py). Two nodes: tests/scaleout/test_users_at_scale.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pusher
import pytest

from tests.support import users_sdk
from tests.support.server import RunningServer
from tests.support.user_auth import sign_user_data
from tests.support.ws_client import WsClient, close_all
from tests.web.channels.conftest import CliApp, cli, create_app, uniq

Open = Callable[..., Awaitable[WsClient]]
POLL = 30.0  # seconds: generous bounds, the machine may be loaded


def app_with(server: RunningServer, *limits: str, flags: tuple[str, ...] = ()) -> CliApp:
    app = create_app(server, *flags)
    if limits:
        cli(server, "apps", "update", app.id, *(arg for limit in limits for arg in ("--limit", limit)))
    return app


def sdk_of(server: RunningServer, app: CliApp) -> pusher.Pusher:
    return pusher.Pusher(app_id=app.id, key=app.key, secret=app.secret, host=server.host, port=server.port,
                         ssl=False, timeout=10)


@pytest.fixture
async def ws(server: RunningServer) -> AsyncIterator[Open]:
    opened: list[WsClient] = []

    async def _open(app: CliApp) -> WsClient:
        client = await WsClient.connect(server.ws_url(app.key))
        opened.append(client)
        return client

    yield _open
    await close_all(opened)


async def signin(client: WsClient, app: CliApp, user: dict[str, Any]) -> None:
    assert client.socket_id is not None
    user_data = json.dumps(user)
    await client.send("pusher:signin", {"auth": sign_user_data(app.key, app.secret, client.socket_id, user_data),
                                        "user_data": user_data})
    await client.expect("pusher:signin_success")


async def watchlist_events(client: WsClient) -> dict[str, list[str]]:
    frame = await client.wait_for("pusher_internal:watchlist_events", timeout=POLL)
    data = json.loads(frame["data"]) if isinstance(frame["data"], str) else frame["data"]
    return {e["name"]: sorted(e["user_ids"]) for e in data["events"]}


async def poll(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + POLL
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


# -- live watchlists -----------------------------------------------------------------------------------------


async def test_a_watchlist_is_replaced_on_every_connection_without_signing_in_again(
    server: RunningServer, ws: Open
) -> None:
    app = app_with(server)
    sdk = sdk_of(server, app)
    alice = uniq("alice-")
    bob, carol, dan = uniq("bob-"), uniq("carol-"), uniq("dan-")
    for uid in (bob, dan):
        await signin(await ws(app), app, {"id": uid})
    a1, a2 = await ws(app), await ws(app)
    for conn in (a1, a2):
        await signin(conn, app, {"id": alice, "watchlist": [bob]})
        assert await watchlist_events(conn) == {"online": [bob]}

    assert users_sdk.replace_watchlist(sdk, alice, [bob, carol, dan]) == {}
    for conn in (a1, a2):  # the state of the ids added, nothing about bob again
        assert await watchlist_events(conn) == {"online": [dan], "offline": [carol]}

    # Through the path without /apps/{app_id} (as terminate_connections): bob is no longer watched.
    assert users_sdk.replace_watchlist(sdk, alice, [carol], prefixed=False) == {}
    await asyncio.sleep(0.3)
    c = await ws(app)
    await signin(c, app, {"id": carol})
    for conn in (a1, a2):
        assert await watchlist_events(conn) == {"online": [carol]}
    b2 = await ws(app)
    await signin(b2, app, {"id": bob})  # bob's second connection: no state change either way
    await c.close()
    for conn in (a1, a2):
        assert await watchlist_events(conn) == {"offline": [carol]}
        await conn.expect_nothing(0.3)  # and nothing about bob or dan


async def test_a_watchlist_change_is_refused_when_it_is_not_one(server: RunningServer) -> None:
    app = app_with(server, "max_watchlist_size=3")
    sdk = sdk_of(server, app)
    # Not ids, empty, over the limit, ids no sign-in can have (a space, NUL, oversize).
    for body in ([1, 2], ["a", ""], ["a", "b", "c", "d"], ["a b"], ["a\x00"], ["x" * 1000]):
        with pytest.raises(pusher.errors.PusherBadRequest):
            users_sdk.replace_watchlist(sdk, "alice", body)  # type: ignore[arg-type]
    with pytest.raises(pusher.errors.PusherBadRequest):
        users_sdk.sdk_put(sdk, "/apps/{app}/users/alice/watchlist", {"ids": ["a"]})
    with pytest.raises(pusher.errors.PusherBadRequest):
        users_sdk.replace_watchlist(sdk, "not a user id", ["a"])
    wrong = pusher.Pusher(app_id=app.id, key=app.key, secret="not-the-secret", host=server.host, port=server.port,
                          ssl=False)
    with pytest.raises(pusher.errors.PusherBadAuth):
        users_sdk.replace_watchlist(wrong, "alice", ["a"])
    assert users_sdk.replace_watchlist(sdk, "nobody-online", ["a", "b", "c"]) == {}


# -- who is online -------------------------------------------------------------------------------------------


async def test_who_is_online_pages_through_the_users_with_a_total(server: RunningServer, ws: Open) -> None:
    app = app_with(server)
    sdk = sdk_of(server, app)
    ids = sorted(f"u{i:02d}-{uniq('')}" for i in range(23))
    before = time.time()
    for uid in ids:
        await signin(await ws(app), app, {"id": uid})
    await signin(await ws(app), app, {"id": ids[0]})  # a second connection
    got, total, pages = users_sdk.all_online_users(sdk, limit=10)
    assert got == ids and total == 23 and pages == 3
    first = users_sdk.online_users(sdk, limit=5)
    assert first["users"][0] == {"id": ids[0], "connections": 2} and len(first["users"]) == 5
    one = users_sdk.user(sdk, ids[0])
    assert one["online"] is True and one["connections"] == 2 and one["id"] == ids[0]
    assert before - 1 <= one["since"] <= time.time() + 1
    assert users_sdk.user(sdk, "nobody") == {"id": "nobody", "online": False, "connections": 0, "since": None}
    for bad in ("0", "1001", "ten"):
        with pytest.raises(pusher.errors.PusherBadRequest):
            users_sdk.online_users(sdk, limit=bad)  # type: ignore[arg-type]


# -- guard rails ---------------------------------------------------------------------------------------------


async def test_a_users_connection_beyond_the_cap_closes_their_oldest(server: RunningServer, ws: Open) -> None:
    app = app_with(server, "max_connections_per_user=2")
    bob, other = uniq("bob-"), uniq("eve-")
    c1, c2, c3 = await ws(app), await ws(app), await ws(app)
    e1 = await ws(app)
    await signin(e1, app, {"id": other})
    await signin(c1, app, {"id": bob})
    await signin(c2, app, {"id": bob})
    await c1.expect_nothing(0.2)
    await signin(c3, app, {"id": bob})
    error = await c1.expect_error(4004)
    assert "oldest" in error["message"]
    await c1.expect_close(4004)
    for conn in (c2, c3, e1):
        assert (await conn.ping())["event"] == "pusher:pong"
    sdk = sdk_of(server, app)
    await poll(lambda: users_sdk.user(sdk, bob)["connections"] == 2, "bob has 2 connections")


async def test_client_events_are_limited_per_user_across_their_connections(server: RunningServer, ws: Open) -> None:
    app = app_with(server, "client_events_per_second_per_user=3", "client_events_per_second=100",
                   flags=("--client-events",))
    alice = uniq("alice-")
    channel = uniq("private-room-")
    conns = [await ws(app), await ws(app)]
    for conn in conns:
        await signin(conn, app, {"id": alice})
        await conn.subscribe(channel, auth=conn.private_auth(app.key, app.secret, channel))
    for i in range(10):  # 10 within a few windows of 1 s: one window has more than 3, whatever the timing
        await conns[i % 2].send("client-x", {"i": i}, channel=channel)
    refused = []
    for conn in conns:
        while True:
            try:
                frame = await conn.wait_for("pusher:error", timeout=1.0)
            except (AssertionError, TimeoutError):
                break
            refused.append(frame)
    assert refused and all(f["data"]["code"] == 4301 for f in refused), refused
    assert "for this user" in refused[0]["data"]["message"]
    assert all(conn.is_open for conn in conns)  # a warning, not a close


async def test_a_session_ends_at_expires_at_on_every_connection(server: RunningServer, ws: Open) -> None:
    app = app_with(server)
    carol = uniq("carol-")
    conns = [await ws(app), await ws(app)]
    for conn in conns:
        await signin(conn, app, {"id": carol, "expires_at": int(time.time()) + 2})
    for conn in conns:
        error = await conn.wait_for("pusher:error", timeout=POLL)
        assert error["data"] == {"code": 4009, "message": "The signed-in session expired."}
        await conn.expect_close(4009, timeout=POLL)


async def test_the_apps_maximum_session_age(server: RunningServer, ws: Open) -> None:
    app = app_with(server, "max_session_seconds=1")
    conn = await ws(app)
    await signin(conn, app, {"id": uniq("dan-")})
    await conn.wait_for("pusher:error", timeout=POLL)
    await conn.expect_close(4009, timeout=POLL)


async def test_max_connections_is_given_back_when_a_connection_closes(server: RunningServer) -> None:
    app = app_with(server, "max_connections=2")
    first = await WsClient.connect(server.ws_url(app.key))
    second = await WsClient.connect(server.ws_url(app.key))
    third = await WsClient.open(server.ws_url(app.key))
    await third.expect_error(4004)
    await third.expect_close(4004)
    await first.close()

    async def opens() -> bool:
        client = await WsClient.open(server.ws_url(app.key))
        frame = await client.recv()
        await client.close()
        return frame["event"] == "pusher:connection_established"

    deadline = time.monotonic() + POLL
    while not await opens():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    await second.close()


# -- large presence ------------------------------------------------------------------------------------------


async def test_a_presence_channel_above_the_threshold_runs_counts_only(server: RunningServer, ws: Open) -> None:
    app = app_with(server, "presence_counts_only_above=3", "max_presence_members=1000")
    channel = uniq("presence-big-")
    conns: list[WsClient] = []
    for i in range(6):
        conn = await ws(app)
        channel_data = json.dumps({"user_id": f"m{i}", "user_info": {"i": i}})
        joined = await conn.subscribe(channel, auth=conn.presence_auth(app.key, app.secret, channel, channel_data),
                                      channel_data=channel_data)
        presence = json.loads(joined["data"])["presence"]
        if i < 3:
            assert presence["count"] == i + 1 and sorted(presence["ids"]) == [f"m{j}" for j in range(i + 1)]
        else:  # the count, and the joiner alone as roster
            assert presence == {"ids": [f"m{i}"], "hash": {f"m{i}": {"i": i}}, "count": i + 1}
        conns.append(conn)
    first = conns[0]
    seen: list[dict[str, Any]] = []

    def named(event: str) -> list[Any]:
        return [json.loads(f["data"]) for f in seen if f.get("event") == event]

    async def until_count(n: int) -> None:
        deadline = time.monotonic() + POLL
        while not (named("pusher_internal:subscription_count") or [{}])[-1].get("subscription_count") == n:
            assert time.monotonic() < deadline, seen
            seen.extend(await frames(first))

    await until_count(6)  # the member count, as pusher-js reads subscription_count
    # Members 4 to 6 joined a counts-only channel: no member_added for them.
    assert [d["user_id"] for d in named("pusher_internal:member_added")] == ["m1", "m2"]
    await conns[5].close()
    await conns[4].close()
    await until_count(4)
    assert named("pusher_internal:member_removed") == []  # they left a counts-only channel

    sdk = sdk_of(server, app)
    page = users_sdk.sdk_get(sdk, f"/apps/{{app}}/channels/{channel}/users", {"limit": "3"})
    assert page == {"users": [{"id": "m0"}, {"id": "m1"}, {"id": "m2"}], "next_cursor": "m2", "total": 4}
    page = users_sdk.sdk_get(sdk, f"/apps/{{app}}/channels/{channel}/users", {"limit": "3", "cursor": "m2"})
    assert page == {"users": [{"id": "m3"}], "next_cursor": None, "total": 4}
    assert sdk.users_info(channel) == {"users": [{"id": f"m{i}"} for i in range(4)]}  # the SDK's call: all


async def frames(conn: WsClient) -> list[dict[str, Any]]:
    """The frames the client receives until ~0.5 s pass without one."""
    found = []
    while True:
        try:
            found.append(await conn.recv(timeout=0.5))
        except AssertionError:
            return found
