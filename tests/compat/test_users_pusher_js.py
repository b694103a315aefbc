"""Authenticated users with pusher-js 8.6.0 (Node build), against a real running server.

pusher-js signs in through `userAuthentication: {endpoint, transport: 'ajax'}` pointed at a test endpoint
(tests/support/user_auth.py) that answers with the official Python SDK's `authenticate_user`. Events and
terminations come from both server SDKs: pusher 3.3.4 (Python, here) and pusher 5.3.4 (Node, in the
script). Scripts live in tests/compat/node/user_*.mjs and print JSON lines; assertions are here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pusher
import pytest

from tests.compat.nodejs import NodeScript
from tests.support.server import RunningServer
from tests.support.user_auth import UserAuthEndpoint

pytestmark = [pytest.mark.compat, pytest.mark.slow]

RunNode = Callable[..., NodeScript]


@pytest.fixture(scope="module")
def user_auth(server: RunningServer) -> Iterator[UserAuthEndpoint]:
    with UserAuthEndpoint(server.app_id, server.key, server.secret) as endpoint:
        yield endpoint


@pytest.fixture
def run_user_script(run_node: RunNode, user_auth: UserAuthEndpoint) -> RunNode:
    def _run(script: str, timeout_ms: int = 15_000, **env: str) -> NodeScript:
        return run_node(
            script, timeout_ms=timeout_ms,
            USER_AUTH_ENDPOINT=user_auth.user_auth_url(), USER_CHANNEL_AUTH_ENDPOINT=user_auth.channel_auth_url,
            **env,
        )

    return _run


def python_sdk(server: RunningServer) -> pusher.Pusher:
    return pusher.Pusher(
        app_id=server.app_id, key=server.key, secret=server.secret,
        host=server.host, port=server.port, ssl=False, timeout=5,
    )


def socket_of(script: NodeScript, client: str) -> int:
    """The WebSocket number (see lib.mjs) of a pusher-js client's first connection."""
    return next(i["socket"] for i in script.lines if i.get("event") == "socket" and i["client"] == client)


def close_codes(script: NodeScript, client: str) -> list[int]:
    sock = socket_of(script, client)
    return [c["code"] for c in script.closes() if c["socket"] == sock]


def sockets_opened(script: NodeScript, client: str) -> int:
    return len([i for i in script.lines if i.get("event") == "socket" and i["client"] == client])


def user_events(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if str(f.get("channel", "")).startswith("#server-to-user-")
            and not f["event"].startswith("pusher")]


# -- sign-in and sending to a user -----------------------------------------------------------------------


def test_signin_and_send_to_user_from_both_sdks(
    run_user_script: RunNode, server: RunningServer, user_auth: UserAuthEndpoint
) -> None:
    script = run_user_script("user_send.mjs")
    ready = script.wait_for("ready")
    alice, bob = ready["alice"], ready["bob"]
    result = python_sdk(server).send_to_user(alice, "from-python", {"n": 2, "via": "python", "text": "héllo"})
    assert isinstance(result, dict), result
    script.finish()

    # Sign-in went through the test endpoint, signed by the Python SDK, and pusher-js accepted the answer.
    calls = [c for c in user_auth.calls if c.path == "/pusher/user-auth" and c.query.get("user") in (alice, bob)]
    assert len(calls) == 3 and all(c.status == 200 for c in calls), calls
    for name, uid in (("alice1", alice), ("alice2", alice), ("bob", bob)):
        signed = script.one("signed_in", client=name)
        assert signed["user_data"] == {"id": uid, "user_info": {"name": uid}}, signed
        assert signed["user_channel"] == f"#server-to-user-{uid}"
        success = script.one("signin_success", client=name)
        # The server echoes user_data exactly as the SDK serialised it.
        assert json.loads(success["data"]["user_data"]) == signed["user_data"], success
        frames = script.frames(name)
        assert not [f for f in frames if f["event"] in ("pusher:error", "pusher:subscription_error")], frames
        assert any(f["event"] == "pusher_internal:subscription_succeeded" and f["channel"] == f"#server-to-user-{uid}"
                   for f in frames), frames

    assert [s["status"] for s in script.events("node_send")] == [200, 200], script.transcript()
    received = script.one("received")
    for name in ("alice1", "alice2"):
        got = sorted(received[name], key=lambda e: e["name"])
        assert got == [
            {"name": "from-node", "data": {"n": 1, "via": "node"}},
            {"name": "from-python", "data": {"n": 2, "via": "python", "text": "héllo"}},
        ], (name, received)
    assert received["bob"] == [{"name": "for-bob", "data": {"n": 3}}], received
    assert received["anon"] == [], received

    # On the wire: each delivery exactly once, on the user's channel, data as a JSON string.
    for name, uid, n in (("alice1", alice, 2), ("alice2", alice, 2), ("bob", bob, 1)):
        events = user_events(script.frames(name))
        assert len(events) == n, (name, events)
        assert all(f["channel"] == f"#server-to-user-{uid}" and isinstance(f["data"], str) for f in events), events
    assert user_events(script.frames("anon")) == []


# -- terminating a user's connections ---------------------------------------------------------------


def test_terminate_user_connections_from_both_sdks(run_user_script: RunNode, server: RunningServer) -> None:
    script = run_user_script("user_terminate.mjs")
    ready = script.wait_for("ready_python")
    # The Python SDK posts to /users/{id}/terminate_connections, without the /apps/{id} prefix.
    result = python_sdk(server).terminate_user_connections(ready["alice"])
    assert result == {}, result
    script.finish()

    node = script.one("node_terminate")
    assert node["status"] == 200, node
    assert node["body"] == {}, node

    after_node = script.one("after_node_terminate")["states"]
    assert after_node["dave1"] == after_node["dave2"] == "disconnected", after_node
    assert after_node["alice1"] == after_node["alice2"] == after_node["bob"] == "connected", after_node

    after_python = script.one("after_python_terminate")["states"]
    assert after_python == {
        "alice1": "disconnected", "alice2": "disconnected",
        "dave1": "disconnected", "dave2": "disconnected", "bob": "connected",
    }, after_python

    for name in ("alice1", "alice2", "dave1", "dave2"):
        assert close_codes(script, name) == [4009], (name, script.transcript())
        errors = [f for f in script.frames(name) if f["event"] == "pusher:error"]
        assert [e["data"]["code"] for e in errors] == [4009], (name, errors)
        # 4009 is "refused": pusher-js does not reconnect.
        assert sockets_opened(script, name) == 1, (name, script.transcript())
    # Until the script's own clean-up after "done", bob was never disconnected.
    done = next(i for i, line in enumerate(script.lines) if line.get("event") == "done")
    bob_socket = socket_of(script, "bob")
    early = [line for line in script.lines[:done]
             if (line.get("event") == "state_change" and line["client"] == "bob" and line["current"] != "connected")
             or (line.get("event") == "ws_close" and line["socket"] == bob_socket)]
    assert early == [], script.transcript()
    assert script.one("final")["states"]["bob"] == "connected"
    assert script.one("node_send")["status"] == 200
    assert [e["data"] for e in script.events("user_event", client="bob")] == [{"ok": True}]


# -- watchlists ------------------------------------------------------------------------------------------


def test_watchlist_online_offline(run_user_script: RunNode) -> None:
    script = run_user_script("user_watchlist.mjs")
    script.finish()
    suffix = script.one("signed_in", client="alice")["user_data"]["id"].removeprefix("alice-")
    bob, carol = f"bob-{suffix}", f"carol-{suffix}"
    assert script.one("signed_in", client="alice")["user_data"]["watchlist"] == [bob, carol]

    seen = {s["after"]: s["seen"] for s in script.events("watchlist_seen")}
    initial = [{"name": "offline", "event": {"name": "offline", "user_ids": [bob, carol]}}]
    assert seen["alice signed in"] == initial, seen
    online = initial + [{"name": "online", "event": {"name": "online", "user_ids": [bob]}}]
    assert seen["bob1 signed in"] == online, seen
    assert seen["bob2 signed in"] == online, "a second connection of bob must not announce him again"
    assert seen["bob1 closed"] == online, "bob is still online on his other connection"
    offline = online + [{"name": "offline", "event": {"name": "offline", "user_ids": [bob]}}]
    assert seen["bob2 closed"] == offline, seen

    # The wire form pusher-js reads: no channel, data {"events": [{"name", "user_ids"}]}.
    frames = [f for f in script.frames("alice") if f["event"] == "pusher_internal:watchlist_events"]
    assert len(frames) == 3, frames
    assert all("channel" not in f for f in frames), frames
    assert frames[0]["data"] == {"events": [{"name": "offline", "user_ids": [bob, carol]}]}, frames
    assert script.one("dan_watchlist_frames")["n"] == 0, script.transcript()


# -- presence members from the sign-in ------------------------------------------------------------------


def test_presence_member_comes_from_signin(run_user_script: RunNode, user_auth: UserAuthEndpoint) -> None:
    script = run_user_script("user_presence.mjs")
    script.finish()
    info = script.one("channel")
    name, alice, bob = info["name"], info["alice"], info["bob"]
    alice_member = {"id": alice, "info": {"name": "Alice A"}}
    bob_member = {"id": bob, "info": {"name": "Bob B"}}

    # Neither authorization carried channel_data: only `auth` over socket_id:channel.
    calls = [c for c in user_auth.calls if c.path == "/pusher/auth" and c.form.get("channel_name") == name]
    assert len(calls) == 1 and calls[0].status == 200, calls
    assert set(calls[0].response) == {"auth"}, calls[0].response
    assert set(script.one("node_channel_auth")["auth"]) == {"auth"}, script.transcript()
    for client in ("alice", "bob"):
        subs = [json.loads(json.dumps(f["data"])) for f in script.frames(client, "out")
                if f["event"] == "pusher:subscribe" and f["data"]["channel"] == name]
        assert len(subs) == 1 and "channel_data" not in subs[0], subs

    first = script.one("members", after="alice joined")
    assert first["count"] == 1 and first["me"] == alice_member and first["members"] == [alice_member], first
    both = sorted([alice_member, bob_member], key=lambda m: m["id"])
    joined = script.one("members", after="bob joined")
    assert joined["count"] == 2 and joined["me"] == bob_member and joined["members"] == both, joined
    assert script.one("member_added")["member"] == bob_member
    users = script.one("users")
    assert users["status"] == 200, users
    assert sorted(u["id"] for u in users["body"]["users"]) == sorted([alice, bob]), users
    assert script.one("member_removed")["member"] == bob_member
    left = script.one("members", after="bob left")
    assert left["count"] == 1 and left["members"] == [alice_member], left

    # The raw presence payload the server built from the sign-ins.
    succeeded = next(f for f in script.frames("bob")
                     if f["event"] == "pusher_internal:subscription_succeeded" and f["channel"] == name)
    presence = json.loads(succeeded["data"])["presence"]
    assert presence["count"] == 2 and sorted(presence["ids"]) == sorted([alice, bob]), presence
    assert presence["hash"] == {alice: {"name": "Alice A"}, bob: {"name": "Bob B"}}, presence
