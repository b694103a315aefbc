"""The bus codec: every kind round-trips, and bytes that are not a message are refused, never half-read."""

from __future__ import annotations

import pytest

from tidings.adapters import bus

MESSAGES: list[bus.BusMessage] = [
    bus.Publish("a1", "ev", ("news", "sport"), '{"x":1}', "1.2"),
    bus.Publish("a1", "ev", ("news",), "d"),
    bus.ClientEvent("a1", "private-c", "client-x", "{}", "alice"),
    bus.ClientEvent("a1", "private-c", "client-x", "{}"),
    bus.MemberAdded("a1", "presence-c", "alice", {"name": "Alice", "n": [1, 2]}),
    bus.MemberRemoved("a1", "presence-c", "alice"),
    bus.Count("a1", "news", 3),
    bus.UserStatus("a1", "bob", online=True),
    bus.Terminate("a1", "bob"),
    bus.Watchlist("a1", "bob", ("alice", "carol")),
    bus.Watchlist("a1", "bob", ()),
    bus.PresenceCount("a1", "presence-big"),
    bus.CloseConnections("a1", "bob", ("1.2", "3.4"), 4004, "Too many connections"),
    bus.Reset(),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.TAG)
def test_round_trip(message: bus.BusMessage) -> None:
    envelope = bus.decode(bus.encode(message, "node-1", 42))
    assert envelope == bus.Envelope("node-1", 42, message)


@pytest.mark.parametrize(
    "body",
    [
        b"", b"{", b"{}", b"[]", b'["pub","n"]', b'["nope","n",1]', b'["cnt","n",1,"a","c"]',
        b'["cnt","n",1,"a","c","3"]', b'["cnt","n",1,"a","c",true]', b'["pub","n",1,"a","e","news","d",null]',
        b'["pub","n",1,"a","e",[1],"d",null]', b'["watch","n",1,"a","u","online"]', b'["term","n","1","a","u"]',
        b'["mrem","n",1,"a","c",null]', b'["cev","n",1,"a",7,"e","d",null]', b"\x00",
        b'["wl","n",1,"a","u","alice"]', b'["wl","n",1,"a","u",[1]]', b'["close","n",1,"a","u",["1.2"],"4004","r"]',
        b'["pcnt","n",1,"a"]',
    ],
)
def test_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(bus.BadMessage):
        bus.decode(body)
