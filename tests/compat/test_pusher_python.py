"""The official `pusher` Python server SDK (3.3.4) against a real running server.

Subscribers are plain Pusher-protocol WebSocket connections (tests/compat/wsclient.py); the SDK's
return values are checked against them. The SDK sends body_md5 on GET requests too, so every GET here
also checks that the server accepts it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pusher
import pytest
from pusher.errors import PusherBadAuth, PusherBadRequest, PusherBadStatus

from tests.compat.wsclient import WsClient
from tests.support.server import RunningServer

pytestmark = [pytest.mark.compat, pytest.mark.slow]


@pytest.fixture
def sdk(server: RunningServer) -> pusher.Pusher:
    return pusher.Pusher(
        app_id=server.app_id, key=server.key, secret=server.secret,
        host=server.host, port=server.port, ssl=False, timeout=5,
    )


@pytest.fixture
def ws(server: RunningServer) -> Iterator[Callable[[], WsClient]]:
    opened: list[WsClient] = []

    def _open() -> WsClient:
        client = WsClient(server)
        opened.append(client)
        return client

    yield _open
    for client in opened:
        client.close()


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


def eventually(check: Callable[[], Any], timeout: float = 30) -> Any:
    """Retry `check` (which asserts) until it passes: unsubscribe and close have no acknowledgement."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_trigger(sdk: pusher.Pusher, ws: Callable[[], WsClient], uid: str) -> None:
    a, b = ws(), ws()
    one, two = f"news-{uid}", f"sport-{uid}"
    a.subscribe(one)
    a.subscribe(two)
    b.subscribe(one)

    assert isinstance(sdk.trigger([one, two], "headline", {"title": "Grüße", "n": 1}), dict)
    for client, channel in ((a, one), (a, two), (b, one)):
        frame = client.expect("headline", channel)
        assert isinstance(frame["data"], str)
        assert json.loads(frame["data"]) == {"title": "Grüße", "n": 1}

    # A string is delivered verbatim (not re-encoded).
    sdk.trigger(one, "raw", "just text, not JSON")
    assert a.expect("raw", one)["data"] == "just text, not JSON"
    assert b.expect("raw", one)["data"] == "just text, not JSON"

    # socket_id excludes that connection only.
    sdk.trigger(one, "not-for-a", {"x": 1}, socket_id=a.socket_id)
    assert json.loads(b.expect("not-for-a", one)["data"]) == {"x": 1}
    assert [f for f in a.drain() if f.get("event") == "not-for-a"] == []


def test_trigger_batch(sdk: pusher.Pusher, ws: Callable[[], WsClient], uid: str) -> None:
    a, b = ws(), ws()
    one, two = f"batch-one-{uid}", f"batch-two-{uid}"
    a.subscribe(one)
    a.subscribe(two)
    b.subscribe(two)

    result = sdk.trigger_batch([
        {"channel": one, "name": "first", "data": {"i": 1}},
        {"channel": two, "name": "second", "data": "two"},
        {"channel": two, "name": "third", "data": {"i": 3}, "socket_id": b.socket_id},
    ])
    assert isinstance(result, dict)
    assert json.loads(a.expect("first", one)["data"]) == {"i": 1}
    assert a.expect("second", two)["data"] == "two"
    assert json.loads(a.expect("third", two)["data"]) == {"i": 3}
    assert b.expect("second", two)["data"] == "two"
    assert [f for f in b.drain() if f.get("event") == "third"] == []


def test_channels_info(sdk: pusher.Pusher, ws: Callable[[], WsClient], uid: str) -> None:
    public = f"public-{uid}"
    room, hall = f"presence-{uid}-room", f"presence-{uid}-hall"
    alice1, alice2, bob = ws(), ws(), ws()
    alice1.subscribe(public)
    alice1.subscribe(room, sdk, user="alice")
    alice2.subscribe(room, sdk, user="alice")
    bob.subscribe(room, sdk, user="bob")
    bob.subscribe(hall, sdk, user="bob")

    everything = sdk.channels_info()
    assert {public, room, hall} <= set(everything["channels"]), everything

    mine = sdk.channels_info(prefix_filter=f"presence-{uid}-", attributes=["user_count"])
    assert set(mine["channels"]) == {room, hall}, mine
    assert mine["channels"][room]["user_count"] == 2, mine
    assert mine["channels"][hall]["user_count"] == 1, mine

    only_public = sdk.channels_info(prefix_filter=f"public-{uid}")
    assert set(only_public["channels"]) == {public}, only_public

    # user_count only makes sense with filter_by_prefix=presence-.
    with pytest.raises(PusherBadRequest):
        sdk.channels_info(attributes=["user_count"])

    # Vacated channels disappear.
    bob.unsubscribe(hall)
    eventually(lambda: _assert_channels(sdk, f"presence-{uid}-", {room}))


def _assert_channels(sdk: pusher.Pusher, prefix: str, expected: set[str]) -> None:
    got = sdk.channels_info(prefix_filter=prefix)
    assert set(got["channels"]) == expected, got


def test_channel_info(sdk: pusher.Pusher, ws: Callable[[], WsClient], uid: str) -> None:
    public, room = f"counted-{uid}", f"presence-counted-{uid}"
    a, b, c = ws(), ws(), ws()
    a.subscribe(public)
    b.subscribe(public)
    a.subscribe(room, sdk, user="alice")
    b.subscribe(room, sdk, user="alice")
    c.subscribe(room, sdk, user="carol")

    assert sdk.channel_info(public, ["subscription_count"]) == {"occupied": True, "subscription_count": 2}
    info = sdk.channel_info(room, ["user_count"])
    assert info["occupied"] is True
    assert info["user_count"] == 2, info
    assert sdk.channel_info(f"empty-{uid}")["occupied"] is False

    with pytest.raises(PusherBadRequest):
        sdk.channel_info(public, ["user_count"])  # not a presence channel

    b.unsubscribe(public)
    eventually(lambda: _assert_equal(sdk.channel_info(public, ["subscription_count"]),
                                     {"occupied": True, "subscription_count": 1}))
    a.close()
    eventually(lambda: _assert_equal(sdk.channel_info(public, ["subscription_count"])["occupied"], False))


def _assert_equal(got: Any, expected: Any) -> None:
    assert got == expected


def test_users_info(sdk: pusher.Pusher, ws: Callable[[], WsClient], uid: str) -> None:
    room = f"presence-users-{uid}"
    alice1, alice2, bob = ws(), ws(), ws()
    succeeded = alice1.subscribe(room, sdk, user="alice")
    presence = json.loads(succeeded["data"])["presence"]
    assert presence == {"ids": ["alice"], "hash": {"alice": {"name": "alice"}}, "count": 1}
    alice2.subscribe(room, sdk, user="alice")
    bob.subscribe(room, sdk, user="bob")

    users = sdk.users_info(room)["users"]
    assert sorted(users, key=lambda u: u["id"]) == [{"id": "alice"}, {"id": "bob"}]

    bob.close()
    eventually(lambda: _assert_equal(sdk.users_info(room)["users"], [{"id": "alice"}]))
    alice1.close()
    time.sleep(0.2)
    assert sdk.users_info(room)["users"] == [{"id": "alice"}]  # alice2 is still there

    with pytest.raises(PusherBadRequest):
        sdk.users_info(f"not-presence-{uid}")


def test_bad_credentials_are_refused(server: RunningServer, ws: Callable[[], WsClient], uid: str) -> None:
    listener = ws()
    channel = f"guarded-{uid}"
    listener.subscribe(channel)
    wrong_secret = pusher.Pusher(
        app_id=server.app_id, key=server.key, secret="not-the-secret",
        host=server.host, port=server.port, ssl=False, timeout=5,
    )
    with pytest.raises(PusherBadAuth):
        wrong_secret.trigger(channel, "sneaky", {})
    with pytest.raises(PusherBadAuth):
        wrong_secret.channels_info()
    unknown_app = pusher.Pusher(
        app_id="999999", key=server.key, secret=server.secret,
        host=server.host, port=server.port, ssl=False, timeout=5,
    )
    with pytest.raises((PusherBadAuth, PusherBadStatus)):
        unknown_app.trigger(channel, "sneaky", {})
    assert [f for f in listener.drain() if f.get("event") == "sneaky"] == []
