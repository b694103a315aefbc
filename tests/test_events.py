"""The one event stream: what every event carries (product, scope, user id, time) and how listeners are called."""

from __future__ import annotations

import dataclasses
import logging
import time
import types
import typing

import pytest

from tests.realtime.fakes import connect, feed
from tests.realtime.test_hub import APP, hub_with_events, presence, signin
from tidings.beams import events as bev
from tidings.events import Event, EventStream
from tidings.realtime import events as cev

# Placeholder values for building any event from its fields' types.
SAMPLES: dict[object, object] = {
    str: "x", int: 1, bool: False, str | None: "x", int | None: 1, tuple[str, ...]: ("x",), object: {"x": 1},
}


def concrete(module: types.ModuleType, base: type[Event]) -> list[type[Event]]:
    return [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, base) and v is not base]


ALL = [*concrete(cev, cev.ChannelsEvent), *concrete(bev, bev.BeamsEvent)]


def build(cls: type[Event]) -> Event:
    """An event with a placeholder in every field but `at`."""
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.name != "at"]
    args = [SAMPLES[hints[f.name]] for f in fields if not f.kw_only]
    return cls(*args, **{f.name: SAMPLES[hints[f.name]] for f in fields if f.kw_only})


def test_every_event_is_found() -> None:
    assert len(ALL) == 32 and cev.Published in ALL and bev.BeamsDelivered in ALL


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_event_says_product_scope_user_and_time(cls: type[Event]) -> None:
    before = time.time()
    event = build(cls)
    assert event.product == ("channels" if issubclass(cls, cev.ChannelsEvent) else "beams")
    assert event.scope == "x"  # the first field: app_id or instance_id
    assert event.user_id is None or event.user_id == "x"  # a value, never the base's property leaking in
    assert before <= event.at <= time.time()
    declares_user = any(f.name == "user_id" for f in dataclasses.fields(cls))
    assert (event.user_id == "x") == declares_user
    # `user_id: str` without `= field()` would take the base's property for its default.
    assert not any(isinstance(f.default, property) for f in dataclasses.fields(cls))


def test_users_are_named_where_there_is_one() -> None:
    named = {c.__name__ for c in ALL if any(f.name == "user_id" for f in dataclasses.fields(c))}
    assert named == {
        "ConnectionClosed", "SlowConsumerCut", "SignedIn", "Subscribed", "Unsubscribed", "UserOnline",
        "UserOffline", "MemberAdded", "MemberRemoved", "ClientEventSent", "BeamsDelivered", "BeamsDeviceUserSet",
        "BeamsNotificationReported", "BeamsUserRouted", "BeamsOutboxKept", "MailboxKept", "MailboxDropped",
        "MailboxReplayed", "MailboxExpired", "WatchlistChanged",
    }


def test_time_is_not_part_of_equality_and_fields_stay_positional() -> None:
    assert cev.MemberAdded("1", "presence-a", "u1") == cev.MemberAdded("1", "presence-a", "u1", at=0.0)
    closed = cev.ConnectionClosed("1", "1.1", "closed", user_id="alice")
    assert (closed.app_id, closed.scope, closed.user_id) == ("1", "1", "alice")


def test_a_raising_listener_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    stream = EventStream()
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    stream.subscribe(broken)
    stream.subscribe(seen.append)
    with caplog.at_level(logging.ERROR, logger="tidings.events"):
        stream.emit(cev.ChannelOccupied("1", "news"))
    assert len(seen) == 1 and "boom" in caplog.text


def test_a_listener_may_unsubscribe_while_an_event_is_emitted() -> None:
    stream = EventStream()
    seen: list[str] = []

    class Once:
        def on_event(self, event: Event) -> None:
            seen.append("once")
            stream.unsubscribe(self.on_event)  # a new bound method each time: unsubscribed by equality

    stream.subscribe(Once().on_event)
    stream.subscribe(lambda event: seen.append("always"))
    stream.emit(cev.ChannelOccupied("1", "a"))
    stream.emit(cev.ChannelOccupied("1", "b"))
    assert seen == ["once", "always", "always"]


async def test_the_hub_names_the_user_of_a_closed_connection() -> None:
    hub, seen = hub_with_events()
    (alice, _), (anonymous, _) = connect(hub, APP), connect(hub, APP)
    await feed(hub, alice, signin(alice, "alice"))
    await feed(hub, alice, presence(alice, "alice"))
    await hub.remove(alice)
    await hub.remove(anonymous)
    closed = {e.socket_id: e.user_id for e in seen if isinstance(e, cev.ConnectionClosed)}
    assert closed == {alice.socket_id: "alice", anonymous.socket_id: None}
    timeline = [type(e).__name__ for e in seen if e.user_id == "alice"]
    assert timeline == [
        "SignedIn", "UserOnline", "Subscribed", "MemberAdded", "MemberRemoved", "UserOffline", "ConnectionClosed"
    ]
