"""pusher-js 8.6.0 (Node build) and the Node server SDK pusher 5.3.4 against a real running server.

Each test runs one script from tests/compat/node/ (see lib.mjs there); the script prints JSON lines of what
the SDKs saw and exits non-zero on error or after 10 s. Assertions live here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pusher
import pytest

from tests.compat.nodejs import NodeScript
from tests.support.auth_endpoint import AuthEndpoint
from tests.support.server import RunningServer

pytestmark = [pytest.mark.compat, pytest.mark.slow]

SOCKET_ID = re.compile(r"^\d+\.\d+$")
RunNode = Callable[..., NodeScript]


def python_sdk(server: RunningServer) -> pusher.Pusher:
    return pusher.Pusher(
        app_id=server.app_id, key=server.key, secret=server.secret,
        host=server.host, port=server.port, ssl=False, timeout=5,
    )


def test_connect(run_node: RunNode) -> None:
    script = run_node("connect.mjs")
    script.finish()
    a = script.one("connected", client="a")
    b = script.one("connected", client="b")
    assert a["state"] == "connected"
    assert SOCKET_ID.match(a["socket_id"]), a
    assert SOCKET_ID.match(b["socket_id"]), b
    assert a["socket_id"] != b["socket_id"]

    established = [f for f in script.frames("a") if f["event"] == "pusher:connection_established"]
    assert len(established) == 1, script.transcript()
    assert isinstance(established[0]["data"], str), established  # double-encoded, like Pusher
    handshake = json.loads(established[0]["data"])
    assert handshake["socket_id"] == a["socket_id"]
    assert handshake["activity_timeout"] == 120
    assert script.one("activity_timeout")["ms"] == 120_000

    assert script.one("pong")["frames"][0]["event"] == "pusher:pong"

    refused = script.one("unknown_key")
    assert refused["final_state"] == "disconnected", refused
    assert "connected" not in refused["states"], refused
    codes = [e.get("error", {}).get("data", {}).get("code") for e in refused["errors"]]
    assert 4001 in codes, refused
    # Refused (4001-4099), so pusher-js must not reconnect: exactly one socket was opened in 1.2 s.
    refused_sockets = [o["socket"] for o in script.events("ws_open") if "/app/no-such-key?" in o["url"]]
    assert len(refused_sockets) == 1, script.transcript()
    assert [c["code"] for c in script.closes() if c["socket"] == refused_sockets[0]] == [4001]


def test_public_channel_events_from_node_and_python_sdks(run_node: RunNode, server: RunningServer) -> None:
    script = run_node("public_events.mjs")
    ready = script.wait_for("ready")
    result = python_sdk(server).trigger(ready["channel"], "from-python", {"n": 3, "text": "from python"})
    assert isinstance(result, dict)
    script.finish()

    assert script.one("node_trigger")["status"] == 200
    assert script.one("received", name="from-node")["data"] == {"n": 1, "text": "héllo from node"}
    assert script.one("node_trigger_excluding")["status"] == 200
    assert script.one("received", name="not-for-a")["data"] == {"n": 2}
    assert script.one("excluded", client="a")["seen"] == []
    assert script.one("received", name="from-python")["data"] == {"n": 3, "text": "from python"}

    # The wire form: data is a JSON-encoded string, as real Pusher sends it.
    event = next(f for f in script.frames("a") if f["event"] == "from-python")
    assert event["channel"] == ready["channel"]
    assert isinstance(event["data"], str) and json.loads(event["data"]) == {"n": 3, "text": "from python"}


def test_private_channels(run_node: RunNode, auth_endpoint: AuthEndpoint) -> None:
    calls_before = len(auth_endpoint.calls)
    script = run_node("private_channels.mjs")
    script.finish()

    ok = script.one("subscribed")
    assert ok["channel"].startswith("private-orders-")
    assert script.one("trigger")["status"] == 200
    assert script.one("received", name="order-created")["data"] == {"id": 42}

    # The authorizer really went through the app's endpoint, once per channel.
    calls = [c for c in auth_endpoint.calls[calls_before:] if c.path == "/pusher/auth"]
    by_channel = {c.form["channel_name"]: c for c in calls}
    assert by_channel[ok["channel"]].status == 200
    assert SOCKET_ID.match(by_channel[ok["channel"]].form["socket_id"])

    forbidden = next(e for e in script.events("subscription_error") if "forbidden" in e["channel"])
    assert by_channel[forbidden["channel"]].status == 403
    assert forbidden["error"]["type"] == "AuthError"
    assert forbidden["error"]["status"] == 403
    # pusher-js never sent a subscribe for it.
    assert not any(
        f.get("channel") == forbidden["channel"] for f in script.frames()
    ), script.transcript()

    forged = next(e for e in script.events("subscription_error") if "forged" in e["channel"])
    # The server's own rejection, scoped to the channel: {type, error, status}.
    assert forged["error"]["type"] == "AuthError", forged
    assert forged["error"]["status"] == 401, forged
    assert isinstance(forged["error"]["error"], str) and forged["error"]["error"]
    assert script.one("state_after_rejection")["state"] == "connected"


def test_presence_members_once_per_user(run_node: RunNode) -> None:
    script = run_node("presence.mjs")
    script.finish()

    first = script.one("members", after="alice1 joined")
    assert first["count"] == 1
    assert first["me"] == {"id": "alice", "info": {"name": "alice"}}
    assert first["members"] == [{"id": "alice", "info": {"name": "alice"}}]

    with_bob = script.one("members", after="bob joined")
    assert with_bob["count"] == 2
    assert with_bob["me"]["id"] == "bob"
    assert with_bob["members"] == [
        {"id": "alice", "info": {"name": "alice"}},
        {"id": "bob", "info": {"name": "bob"}},
    ]
    assert script.one("member_added", client="alice1")["member"] == {"id": "bob", "info": {"name": "bob"}}

    second_alice = script.one("members", after="alice2 joined")
    assert second_alice["count"] == 2
    assert [m["id"] for m in second_alice["members"]] == ["alice", "bob"]

    # A second connection of alice is not a new member; closing one of two is not a departure.
    after_join = script.one("frames_seen", client="bob", after="alice2 joined")
    assert after_join["member_added"] == [], after_join
    after_first_leave = script.one("frames_seen", client="bob", after="alice1 left")
    assert after_first_leave["member_removed"] == [], after_first_leave
    assert [m["id"] for m in script.one("members", after="alice1 left")["members"]] == ["alice", "bob"]

    # Closing the last one is.
    final = script.one("frames_seen", client="bob", after="alice2 left")
    assert final["member_added"] == []
    assert len(final["member_removed"]) == 1, final
    assert final["member_removed"][0]["data"] == {"user_id": "alice"}
    events = script.one("member_events", client="bob")
    assert events["added"] == []
    assert [m["id"] for m in events["removed"]] == ["alice"]
    last = script.one("members", after="alice2 left")
    assert last["count"] == 1
    assert last["members"] == [{"id": "bob", "info": {"name": "bob"}}]
    # alice1 saw exactly bob arrive, never herself.
    added_seen_by_alice1 = script.one("frames_seen", client="alice1")["member_added"]
    assert [f["data"]["user_id"] for f in added_seen_by_alice1] == ["bob"]


def test_client_events(run_node: RunNode) -> None:
    script = run_node("client_events.mjs")
    script.finish()

    private = script.one("received", name="client-typing")
    assert private["data"] == {"text": "hi bob", "n": 1}
    assert private["metadata"] == {}  # no user_id on private channels
    assert script.one("trigger_returned")["value"] is True

    wave = script.one("received", name="client-wave")
    assert wave["data"] == {"from": "alice"}
    assert wave["metadata"] == {"user_id": "alice"}
    back = script.one("received", name="client-wave-back")
    assert back["data"] == {"from": "bob"}
    assert back["metadata"] == {"user_id": "bob"}

    echoes = script.one("echoes")
    assert echoes == {
        "event": "echoes", "private_to_alice": [], "presence_to_alice": [], "presence_to_bob": [],
    }
    wave_frame = next(f for f in script.frames("bob") if f["event"] == "client-wave")
    assert wave_frame["user_id"] == "alice"


def test_node_server_sdk(run_node: RunNode) -> None:
    script = run_node("server_sdk.mjs")
    script.finish()
    pub_a, pub_b, pres = script.one("subscribed")["channels"]

    assert script.one("trigger_multi")["status"] == 200
    assert script.one("received_multi")["data"] == [{"hello": "both"}] * 3
    assert script.one("trigger_batch")["status"] == 200
    assert script.one("received_batch")["data"] == [{"i": 1}, {"i": 2}]

    channels = script.one("get_channels")
    assert channels["status"] == 200
    assert {pub_a, pub_b, pres} <= set(channels["body"]["channels"]), channels

    presence = script.one("get_channels_presence")
    assert presence["status"] == 200
    assert presence["body"]["channels"][pres]["user_count"] == 2, presence
    assert all(name.startswith("presence-") for name in presence["body"]["channels"]), presence

    public = script.one("get_channel", channel=pub_a)
    assert public["status"] == 200
    assert public["body"] == {"occupied": True, "subscription_count": 2}, public
    room = script.one("get_channel", channel=pres)
    assert room["status"] == 200
    assert room["body"]["occupied"] is True
    assert room["body"]["user_count"] == 2, room
    empty = [e for e in script.events("get_channel") if e["channel"] not in (pub_a, pres)]
    assert len(empty) == 1 and empty[0]["status"] == 200
    assert empty[0]["body"]["occupied"] is False, empty

    users = script.one("get_users", channel=pres)
    assert users["status"] == 200
    assert sorted(users["body"]["users"], key=lambda u: u["id"]) == [{"id": "alice"}, {"id": "bob"}]
    assert script.one("get_users", channel=pub_a)["status"] == 400

    assert script.one("trigger_bad_secret")["status"] == 401
