"""Authenticated users with the official server SDKs, against a real running server.

The Python SDK (pusher 3.3.4) and the Node SDK (pusher 5.3.4, through tests/compat/node/user_sdk.mjs) sign
users in (`authenticate_user` / `authenticateUser`), send to them (`send_to_user` / `sendToUser`) and
terminate their connections (`terminate_user_connections` / `terminateUserConnections`). The WebSocket side
is a plain Pusher-protocol client (tests/support/ws_client.py), so every frame is checked as sent.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pusher
import pytest
from pusher.errors import PusherBadAuth

from tests.compat.nodejs import NodeScript
from tests.support.server import RunningServer
from tests.support.ws_client import WsClient, close_all

pytestmark = [pytest.mark.compat, pytest.mark.slow]

RunNode = Callable[..., NodeScript]
Open = Callable[[], Awaitable[WsClient]]


def python_sdk(server: RunningServer, secret: str | None = None) -> pusher.Pusher:
    return pusher.Pusher(
        app_id=server.app_id, key=server.key, secret=secret or server.secret,
        host=server.host, port=server.port, ssl=False, timeout=5,
    )


def uid(base: str) -> str:
    return f"{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def ws(server: RunningServer) -> AsyncIterator[Open]:
    opened: list[WsClient] = []

    async def _open() -> WsClient:
        client = await WsClient.connect(server.ws_url())
        opened.append(client)
        return client

    yield _open
    await close_all(opened)


async def node(run_node: RunNode, commands: list[dict[str, Any]], **env: str) -> list[dict[str, Any]]:
    """Run user_sdk.mjs with these commands; returns its results in order."""
    script = run_node("user_sdk.mjs", COMMANDS=json.dumps(commands), **env)
    await asyncio.to_thread(script.finish)
    results = script.events("result")
    assert len(results) == len(commands), script.transcript()
    return results


async def signin(client: WsClient, payload: dict[str, str], *, watchlist: bool = False) -> dict[str, Any]:
    """Send pusher:signin with an SDK's {auth, user_data}; the answer must echo user_data exactly."""
    await client.send("pusher:signin", payload)
    frame = await client.expect("pusher:signin_success")
    assert frame == {"event": "pusher:signin_success", "data": {"user_data": payload["user_data"]}}, frame
    if watchlist:
        return await client.expect("pusher_internal:watchlist_events")
    return frame


async def signin_python(client: WsClient, server: RunningServer, user_data: dict[str, Any]) -> None:
    assert client.socket_id is not None
    await signin(client, python_sdk(server).authenticate_user(client.socket_id, user_data))


async def assert_alive(client: WsClient) -> None:
    await client.expect_nothing(0.2)
    await client.ping()


# -- sign-in tokens from the SDKs --------------------------------------------------------------------


async def test_python_sdk_authenticate_user_is_accepted(server: RunningServer, ws: Open) -> None:
    client = await ws()
    user, w1, w2 = uid("py-user"), uid("w1"), uid("w2")
    user_data = {"id": user, "user_info": {"name": "Zoë", "roles": ["a", "b"]}, "watchlist": [w1, w2]}
    assert client.socket_id is not None
    payload = python_sdk(server).authenticate_user(client.socket_id, user_data)
    assert set(payload) == {"auth", "user_data"} and json.loads(payload["user_data"]) == user_data
    watch = await signin(client, payload, watchlist=True)
    assert watch == {"event": "pusher_internal:watchlist_events",
                     "data": {"events": [{"name": "offline", "user_ids": [w1, w2]}]}}, watch
    channel = f"#server-to-user-{user}"
    await client.subscribe(channel, auth="")
    await assert_alive(client)


async def test_node_sdk_authenticate_user_is_accepted(server: RunningServer, ws: Open, run_node: RunNode) -> None:
    client, other = await ws(), await ws()
    user = uid("node-user")
    user_data = {"id": user, "user_info": {"name": "Zoë"}, "watchlist": [uid("nobody")]}
    results = await node(run_node, [
        {"op": "authenticate", "socket_id": client.socket_id, "user_data": user_data},
        {"op": "authenticate", "socket_id": client.socket_id, "user_data": {"id": user}},
    ])
    payload = results[0]["value"]
    assert set(payload) == {"auth", "user_data"} and json.loads(payload["user_data"]) == user_data, payload
    await signin(client, payload, watchlist=True)
    # Signing in again as the same user (with other user_data) is fine.
    await signin(client, results[1]["value"])
    await client.subscribe(f"#server-to-user-{user}", auth="")
    # A token made for one socket is refused on another: 4009 and close.
    await other.send("pusher:signin", payload)
    await other.expect_error(4009)
    await other.expect_close(4009)
    await assert_alive(client)


# -- sending to a user -------------------------------------------------------------------------------


async def test_send_to_user_from_python_and_node_sdks(server: RunningServer, ws: Open, run_node: RunNode) -> None:
    u1, u2, v, anon = await ws(), await ws(), await ws(), await ws()
    user, other = uid("u"), uid("v")
    for client in (u1, u2):
        await signin_python(client, server, {"id": user})
    await signin_python(v, server, {"id": other})
    channel = f"#server-to-user-{user}"
    await u1.subscribe(channel, auth="")  # u2 does not subscribe: delivery does not depend on it

    result = python_sdk(server).send_to_user(user, "from-python", {"text": "héllo", "n": 1})
    assert result == {}, result
    for client in (u1, u2):
        frame = await client.recv()
        assert set(frame) == {"event", "channel", "data"}, frame
        assert frame["event"] == "from-python" and frame["channel"] == channel, frame
        assert json.loads(frame["data"]) == {"text": "héllo", "n": 1}, frame

    results = await node(run_node, [
        {"op": "send", "user_id": user, "event": "from-node", "data": "plain text, not JSON"},
        {"op": "send", "user_id": user, "event": "from-node-obj", "data": {"n": 2}},
    ])
    assert [(r["status"], r["body"]) for r in results] == [(200, {}), (200, {})], results
    for client in (u1, u2):
        assert await client.recv() == {"event": "from-node", "channel": channel, "data": "plain text, not JSON"}
        frame = await client.recv()
        assert frame["event"] == "from-node-obj" and json.loads(frame["data"]) == {"n": 2}, frame
    for client in (u1, u2, v, anon):
        await client.expect_nothing(0.3)


# -- terminating a user's connections ------------------------------------------------------------------


async def test_terminate_user_connections_python_sdk(server: RunningServer, ws: Open) -> None:
    u1, u2, v, anon = await ws(), await ws(), await ws(), await ws()
    user, other = uid("t"), uid("v")
    for client in (u1, u2):
        await signin_python(client, server, {"id": user})
    await signin_python(v, server, {"id": other})
    # anon subscribes to a presence channel AS this user id, without signing in: it is not terminated,
    # termination is about signed-in connections only.
    channel_data = json.dumps({"user_id": user})
    presence = f"presence-{uid('p')}"
    await anon.subscribe(presence, auth=anon.presence_auth(server.key, server.secret, presence, channel_data),
                         channel_data=channel_data)

    # /users/{id}/terminate_connections, without the /apps/{app_id} prefix.
    assert python_sdk(server).terminate_user_connections(user) == {}
    for client in (u1, u2):
        error = await client.expect_error(4009)
        assert "disconnected" in error["message"], error
        await client.expect_close(4009)
    for client in (v, anon):
        await assert_alive(client)
    # Nobody left to terminate: still a success.
    assert python_sdk(server).terminate_user_connections(user) == {}


async def test_terminate_user_connections_node_sdk(server: RunningServer, ws: Open, run_node: RunNode) -> None:
    u1, u2, v = await ws(), await ws(), await ws()
    user, other = uid("t"), uid("v")
    for client in (u1, u2):
        await signin_python(client, server, {"id": user})
    await signin_python(v, server, {"id": other})
    results = await node(run_node, [{"op": "terminate", "user_id": user}])
    assert (results[0]["status"], results[0]["body"]) == (200, {}), results
    for client in (u1, u2):
        await client.expect_error(4009)
        await client.expect_close(4009)
    await assert_alive(v)


async def test_terminate_with_a_wrong_secret_is_refused(server: RunningServer, ws: Open, run_node: RunNode) -> None:
    client = await ws()
    user = uid("t")
    await signin_python(client, server, {"id": user})
    with pytest.raises(PusherBadAuth):
        python_sdk(server, secret="not-the-secret").terminate_user_connections(user)
    results = await node(run_node, [{"op": "terminate", "user_id": user}], PUSHER_SECRET="not-the-secret")
    assert results[0]["status"] == 401, results
    await assert_alive(client)
    # And the user is still reachable.
    python_sdk(server).send_to_user(user, "still-here", {})
    frame = await client.recv()
    assert frame["event"] == "still-here", frame
