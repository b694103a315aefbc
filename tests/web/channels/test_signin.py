"""`pusher:signin` on the raw protocol (docs/protocol/channels.md §2.6, §3): successes, every refusal,
watchlist limit, the sign-in timeout of apps that require authentication, and who may subscribe to
`#server-to-user-{id}`.

Refusals are `pusher:error` 4009 followed by a close with 4009. Tokens are made with hmac from the
reference formula (tests/support/user_auth.py), over exactly the strings sent, malformed ones included.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.support.server import RunningServer
from tests.support.user_auth import sign_user_data
from tests.support.ws_client import WsClient, close_all
from tests.web.channels.conftest import sdk_for, uniq

Open = Callable[..., Awaitable[WsClient]]


@pytest.fixture
async def ws(server: RunningServer) -> AsyncIterator[Open]:
    opened: list[WsClient] = []

    async def _open(srv: RunningServer | None = None) -> WsClient:
        client = await WsClient.connect((srv or server).ws_url())
        opened.append(client)
        return client

    yield _open
    await close_all(opened)


def signin_data(server: RunningServer, client: WsClient, user_data: str, *,
                secret: str | None = None) -> dict[str, str]:
    assert client.socket_id is not None
    return {"auth": sign_user_data(server.key, secret or server.secret, client.socket_id, user_data),
            "user_data": user_data}


async def signin(server: RunningServer, client: WsClient, user: dict[str, Any] | str) -> dict[str, Any]:
    user_data = user if isinstance(user, str) else json.dumps(user)
    await client.send("pusher:signin", signin_data(server, client, user_data))
    frame = await client.expect("pusher:signin_success")
    assert frame == {"event": "pusher:signin_success", "data": {"user_data": user_data}}, frame
    return frame


async def assert_refused(client: WsClient) -> str:
    """The connection gets pusher:error 4009 and is closed with 4009; returns the error message."""
    error = await client.expect_error(4009)
    await client.expect_close(4009)
    assert client.close_code == 4009
    return str(error["message"])


async def assert_alive(client: WsClient) -> None:
    await client.expect_nothing(0.2)
    await client.ping()


# -- success ---------------------------------------------------------------------------------------------


async def test_signin_success_echoes_user_data_verbatim(server: RunningServer, ws: Open) -> None:
    client = await ws()
    user = uniq("u-")
    # Odd spacing and key order: the server must sign and echo the string as sent, not a re-serialisation.
    user_data = '{ "user_info" : {"name":"Zoë"},  "id":"' + user + '" }'
    await signin(server, client, user_data)
    await client.subscribe(f"#server-to-user-{user}", auth="")
    await assert_alive(client)


async def test_signin_again_as_the_same_user_succeeds(server: RunningServer, ws: Open) -> None:
    client = await ws()
    user = uniq("u-")
    await signin(server, client, {"id": user})
    await signin(server, client, {"id": user, "user_info": {"name": "again"}})
    await assert_alive(client)
    # Still one delivery per event: signing in twice does not register the connection twice.
    sdk_for(server).send_to_user(user, "once", {"n": 1})
    frame = await client.recv()
    assert frame["event"] == "once" and frame["channel"] == f"#server-to-user-{user}", frame
    await client.expect_nothing(0.3)


# -- refusals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "user_data"),
    [
        ("missing id", '{"user_info": {"name": "x"}}'),
        ("numeric id", '{"id": 12345}'),
        ("empty id", '{"id": ""}'),
        ("id with a space", '{"id": "a b"}'),
        ("not JSON", "{id: 'bob'"),
        ("JSON array", '["bob"]'),
        ("JSON string", '"bob"'),
        ("watchlist not a list", '{"id": "bob", "watchlist": "carol"}'),
    ],
)
async def test_signin_refused_bad_user_data(server: RunningServer, ws: Open, case: str, user_data: str) -> None:
    client = await ws()
    await client.send("pusher:signin", signin_data(server, client, user_data))  # correctly signed
    await assert_refused(client)


async def test_signin_refused_bad_signature(server: RunningServer, ws: Open) -> None:
    client = await ws()
    user_data = json.dumps({"id": uniq("u-")})
    await client.send("pusher:signin", signin_data(server, client, user_data, secret="wrong-secret"))
    await assert_refused(client)


async def test_signin_refused_token_for_another_socket(server: RunningServer, ws: Open) -> None:
    client, other = await ws(), await ws()
    data = signin_data(server, other, json.dumps({"id": uniq("u-")}))
    await client.send("pusher:signin", data)
    await assert_refused(client)
    await assert_alive(other)


@pytest.mark.parametrize(
    "data",
    [
        {"user_data": '{"id": "bob"}'},  # no auth
        {"auth": "test-key:00", "user_data": {"id": "bob"}},  # user_data not a string
        "not an object",
    ],
    ids=["no auth", "user_data object", "data string"],
)
async def test_signin_refused_malformed_frame(server: RunningServer, ws: Open, data: Any) -> None:
    client = await ws()
    await client.send("pusher:signin", data)
    await assert_refused(client)


async def test_signin_as_a_different_user_is_refused(server: RunningServer, ws: Open) -> None:
    client, watcher = await ws(), await ws()
    first, second = uniq("first-"), uniq("second-")
    await signin(server, watcher, {"id": uniq("w-"), "watchlist": [first]})
    assert (await watcher.expect("pusher_internal:watchlist_events"))["data"]["events"] == [
        {"name": "offline", "user_ids": [first]}]
    await signin(server, client, {"id": first})
    online = await watcher.expect("pusher_internal:watchlist_events")
    assert online["data"] == {"events": [{"name": "online", "user_ids": [first]}]}, online
    await client.send("pusher:signin", signin_data(server, client, json.dumps({"id": second})))
    await assert_refused(client)
    # The refused connection is gone: its first user went offline.
    offline = await watcher.expect("pusher_internal:watchlist_events")
    assert offline["data"] == {"events": [{"name": "offline", "user_ids": [first]}]}, offline


async def test_watchlist_initial_state_mixes_online_and_offline(server: RunningServer, ws: Open) -> None:
    bob, watcher = await ws(), await ws()
    bob_id, carol_id = uniq("bob-"), uniq("carol-")
    await signin(server, bob, {"id": bob_id})
    await signin(server, watcher, {"id": uniq("w-"), "watchlist": [carol_id, bob_id]})
    frame = await watcher.expect("pusher_internal:watchlist_events")
    assert frame == {"event": "pusher_internal:watchlist_events", "data": {"events": [
        {"name": "online", "user_ids": [bob_id]}, {"name": "offline", "user_ids": [carol_id]}]}}, frame
    await bob.close()
    frame = await watcher.expect("pusher_internal:watchlist_events")
    assert frame["data"] == {"events": [{"name": "offline", "user_ids": [bob_id]}]}, frame
    await assert_alive(watcher)


# -- watchlist limit ------------------------------------------------------------------------------------


async def test_watchlist_over_100_ids_is_cut_with_a_4302_warning(server: RunningServer, ws: Open) -> None:
    client = await ws()
    watched = [uniq(f"w{i}-") for i in range(105)]
    await signin(server, client, {"id": uniq("u-"), "watchlist": watched})
    frames = [await client.recv(), await client.recv()]
    errors = [f for f in frames if f["event"] == "pusher:error"]
    lists = [f for f in frames if f["event"] == "pusher_internal:watchlist_events"]
    assert len(errors) == 1 and len(lists) == 1, frames
    assert errors[0]["data"]["code"] == 4302 and errors[0]["data"]["message"], errors
    assert "channel" not in errors[0], errors
    assert lists[0]["data"] == {"events": [{"name": "offline", "user_ids": watched[:100]}]}, lists
    await assert_alive(client)


# -- #server-to-user-{id} -------------------------------------------------------------------------------


async def test_user_channel_only_for_that_signed_in_user(server: RunningServer, ws: Open) -> None:
    alice, bob, anon = await ws(), await ws(), await ws()
    alice_id, bob_id = uniq("alice-"), uniq("bob-")
    await signin(server, alice, {"id": alice_id})
    await signin(server, bob, {"id": bob_id})
    channel = f"#server-to-user-{bob_id}"
    refused = await alice.subscribe_error(channel, auth="")
    assert refused["status"] in (401, 403), refused
    refused = await anon.subscribe_error(channel, auth="")
    assert refused["status"] in (401, 403), refused
    await bob.subscribe(channel, auth="")
    # Refusal does not leak events: only bob gets what is sent to bob.
    sdk_for(server).send_to_user(bob_id, "hi-bob", {})
    assert (await bob.recv())["event"] == "hi-bob"
    for client in (alice, anon):
        await assert_alive(client)
    # User channels are the server's plumbing, not the app's channels: /channels does not list them.
    listed = sdk_for(server).channels_info()["channels"]
    assert channel not in listed and not any(name.startswith("#") for name in listed), listed


async def test_presence_member_from_signin_without_channel_data(server: RunningServer, ws: Open) -> None:
    signed, unsigned = await ws(), await ws()
    user = uniq("m-")
    await signin(server, signed, {"id": user, "user_info": {"name": "Mia"}})
    channel = uniq("presence-signed-")
    ok = await signed.subscribe(channel, auth=signed.private_auth(server.key, server.secret, channel))
    assert json.loads(ok["data"])["presence"] == {"ids": [user], "hash": {user: {"name": "Mia"}}, "count": 1}, ok
    # Without a sign-in there is no member to take: refused, and the connection stays.
    refused = await unsigned.subscribe_error(channel, auth=unsigned.private_auth(server.key, server.secret, channel))
    assert refused["status"] >= 400, refused
    await assert_alive(unsigned)


# -- sign-in timeout for apps that require user authentication ------------------------------------------


async def test_signin_timeout_when_user_authentication_is_required(make_server: Callable[..., RunningServer],
                                                                   ws: Open) -> None:
    srv = make_server(env={"TIDINGS_DEFAULT_APP_USER_AUTHENTICATION": "true",
                           "TIDINGS_USER_AUTHENTICATION_TIMEOUT": "1"})
    idle, public, signed, private = [await ws(srv) for _ in range(4)]
    await public.subscribe(uniq("public-"), auth="")  # a public channel does not authorize a connection
    await signin(srv, signed, {"id": uniq("u-")})
    channel = uniq("private-")
    await private.subscribe(channel, auth=private.private_auth(srv.key, srv.secret, channel))

    started = asyncio.get_running_loop().time()
    for client in (idle, public):
        error = await client.expect_error(4009)
        await client.expect_close(4009)
        assert "timeout" in str(error["message"]).lower(), error
    waited = asyncio.get_running_loop().time() - started
    # The 1 s deadline, not the 30 s default; what a loaded machine adds on top does not matter.
    assert waited < 15, waited
    await asyncio.sleep(max(0.0, 2.2 - waited))  # well past the deadline
    for client in (signed, private):
        await assert_alive(client)

