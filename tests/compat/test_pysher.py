"""pysher 1.0.8 (Python WebSocket client; speaks protocol 6, signs channels itself when given `secret=`)
against a real running server, with events published through the official `pusher` Python server SDK."""

from __future__ import annotations

import json
import queue
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pusher
import pysher
import pytest

from tests.support.server import RunningServer

pytestmark = [pytest.mark.compat, pytest.mark.slow]

TIMEOUT = 30  # waits for what the server owes: generous, a loaded machine may take seconds


class Client:
    """A pysher client whose callbacks feed a queue the test can wait on."""

    def __init__(self, server: RunningServer, secret: str | None = None, user_data: dict[str, Any] | None = None):
        self.pysher = pysher.Pusher(
            server.key, custom_host=server.host, port=server.port, secure=False,
            secret=server.secret if secret is None else secret, user_data=user_data,
            reconnect_interval=1,
        )
        self.connected = threading.Event()
        self.events: queue.Queue[tuple[str, str, Any]] = queue.Queue()
        self.seen: list[tuple[str, str, Any]] = []
        self.bound: list[tuple[str, str, Any]] = []
        self.pysher.connection.bind("pusher:connection_established", self._on_connect)
        # pysher sends pusher:subscribe before it registers the Channel object, so a fast answer can be
        # dropped by its own dispatch; record every channel frame at the connection level instead.
        dispatch = self.pysher.connection.event_handler

        def on_channel_event(event: str, data: Any, channel: str) -> None:
            self.seen.append((channel, event, data))
            self.events.put((channel, event, data))
            dispatch(event, data, channel)

        self.pysher.connection.event_handler = on_channel_event

    def _on_connect(self, data: Any) -> None:
        self.established = data
        self.connected.set()

    def connect(self) -> Client:
        self.pysher.connect()
        assert self.connected.wait(TIMEOUT), f"pysher did not connect (state {self.pysher.connection.state})"
        return self

    @property
    def socket_id(self) -> str:
        return str(self.pysher.connection.socket_id)

    def subscribe(self, channel: str, *events: str) -> Any:
        """Subscribe, and bind `events` through pysher's own Channel.bind (recorded in `bound`)."""
        ch = self.pysher.subscribe(channel)
        for name in events:
            ch.bind(name, self._binder(channel, name))
        return ch

    def _binder(self, channel: str, name: str) -> Callable[[Any], None]:
        def record(data: Any) -> None:
            self.bound.append((channel, name, data))

        return record

    def expect(self, channel: str, name: str, timeout: float = TIMEOUT) -> Any:
        """Data of the next `name` event on `channel`; fails on a subscription error or timeout."""
        while True:
            try:
                got_channel, got_name, data = self.events.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no {name} on {channel}; seen: {self.seen}") from None
            if (got_channel, got_name) == (channel, name):
                return data
            if got_name == "pusher:subscription_error" and name != got_name:
                raise AssertionError(f"subscription error on {got_channel}: {data}")

    def disconnect(self) -> None:
        # The socket is closed at once; websocket-client's reader thread can idle in select() for a
        # while afterwards (a client-library quirk), so do not wait for it: it is a daemon thread.
        self.pysher.disconnect(timeout=0.2)


@pytest.fixture
def clients(server: RunningServer) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def _make(**kwargs: Any) -> Client:
        client = Client(server, **kwargs)
        made.append(client)
        return client.connect()

    yield _make
    for client in made:
        client.disconnect()


@pytest.fixture
def sdk(server: RunningServer) -> pusher.Pusher:
    return pusher.Pusher(
        app_id=server.app_id, key=server.key, secret=server.secret,
        host=server.host, port=server.port, ssl=False, timeout=5,
    )


def test_connect(clients: Callable[..., Client]) -> None:
    client = clients()
    assert re.fullmatch(r"\d+\.\d+", client.socket_id)
    assert json.loads(client.established)["activity_timeout"] == 120
    assert client.pysher.connection.state == "connected"


def test_public_and_private_channels(clients: Callable[..., Client], sdk: pusher.Pusher) -> None:
    suffix = uuid.uuid4().hex[:8]
    public, private = f"pysher-{suffix}", f"private-pysher-{suffix}"
    client = clients()
    client.subscribe(public, "update")
    client.subscribe(private, "secret-update")
    assert json.loads(client.expect(public, "pusher_internal:subscription_succeeded")) == {}
    assert json.loads(client.expect(private, "pusher_internal:subscription_succeeded")) == {}

    sdk.trigger(public, "update", {"v": 1})
    assert json.loads(client.expect(public, "update")) == {"v": 1}
    sdk.trigger(private, "secret-update", {"v": 2})
    assert json.loads(client.expect(private, "secret-update")) == {"v": 2}
    sdk.trigger([public, private], "update", "both")
    sdk.trigger(private, "secret-update", "private only")
    assert client.expect(public, "update") == "both"
    assert client.expect(private, "secret-update") == "private only"
    # ... and pysher's own Channel.bind callbacks saw the same events.
    assert [(ch, name) for ch, name, _ in client.bound] == [
        (public, "update"), (private, "secret-update"), (public, "update"), (private, "secret-update"),
    ]

    assert sdk.channel_info(private, ["subscription_count"]) == {"occupied": True, "subscription_count": 1}


def test_private_channel_with_wrong_secret_is_refused(clients: Callable[..., Client]) -> None:
    channel = f"private-pysher-bad-{uuid.uuid4().hex[:8]}"
    client = clients(secret="not-the-secret")
    client.subscribe(channel)
    error = client.expect(channel, "pusher:subscription_error")
    if isinstance(error, str):
        error = json.loads(error)
    assert error["status"] == 401, error
    assert ("pusher_internal:subscription_succeeded" not in
            [name for ch, name, _ in client.seen if ch == channel])


def test_presence_and_client_events(clients: Callable[..., Client], sdk: pusher.Pusher) -> None:
    channel = f"presence-pysher-{uuid.uuid4().hex[:8]}"
    ann = clients(user_data={"user_id": "ann", "user_info": {"name": "Ann"}})
    ben = clients(user_data={"user_id": "ben", "user_info": {"name": "Ben"}})

    ann.subscribe(channel, "pusher_internal:member_added", "client-hello")
    first = json.loads(ann.expect(channel, "pusher_internal:subscription_succeeded"))
    assert first["presence"] == {"ids": ["ann"], "hash": {"ann": {"name": "Ann"}}, "count": 1}

    ben.subscribe(channel, "client-hello")
    both = json.loads(ben.expect(channel, "pusher_internal:subscription_succeeded"))["presence"]
    assert sorted(both["ids"]) == ["ann", "ben"]
    assert both["count"] == 2
    assert both["hash"] == {"ann": {"name": "Ann"}, "ben": {"name": "Ben"}}
    assert json.loads(ann.expect(channel, "pusher_internal:member_added")) == {
        "user_id": "ben", "user_info": {"name": "Ben"},
    }

    users = sdk.users_info(channel)["users"]
    assert sorted(u["id"] for u in users) == ["ann", "ben"]

    # pysher sends client events with the data as an object; the server relays it to the others only.
    ben.pysher.channel(channel).trigger("client-hello", {"from": "ben"})
    received = ann.expect(channel, "client-hello")
    assert (json.loads(received) if isinstance(received, str) else received) == {"from": "ben"}
    with pytest.raises(AssertionError):
        ben.expect(channel, "client-hello", timeout=0.5)
