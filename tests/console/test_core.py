"""The console's pure parts: records built from any event, filters, the token and cookie, bounded views and
timelines, and the listener that costs nothing when nobody watches."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import ClassVar

import orjson
import pytest

from tidings.beams import events as bev
from tidings.console.auth import ConsoleAuth
from tidings.console.core import Console
from tidings.console.filters import Filter
from tidings.console.records import MAX_STRING, render, users_of
from tidings.console.timeline import OVERHEAD, MemoryTimeline
from tidings.console.views import View
from tidings.errors import ApiError, BadRequest, Unauthorized
from tidings.events import Event, Product
from tidings.realtime import events as cev

# -- records ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MailboxKept(Event):
    """A kind the console has never heard of (as other issues add them): shown with all its fields."""

    product: ClassVar[Product] = "channels"
    app_id: str
    user_id: str = field()
    event: str
    push_token: str  # named like a credential: never shown

    @property
    def scope(self) -> str:
        return self.app_id


def test_a_record_is_the_kind_and_every_field_of_any_event() -> None:
    record = render(MailboxKept("1", "bob", "order", "tok-123", at=1_700_000_000.5), "node-a")
    assert record == {
        "kind": "mailbox_kept", "time": "2023-11-14T22:13:20.500Z", "at": 1_700_000_000.5, "product": "channels",
        "node": "node-a", "app_id": "1", "user_id": "bob", "event": "order",
    }
    triggered = render(cev.EventTriggered("1", "ev", ("news", "#server-to-user-alice"), '{"a":1}'), "n")
    assert triggered["users"] == ["alice"] and triggered["channels"] == ["news", "#server-to-user-alice"]
    assert json.loads(orjson.dumps(triggered))["data"] == '{"a":1}'


def test_a_field_named_like_the_envelope_is_kept_under_another_key() -> None:
    accepted = bev.BeamsPublishAccepted("inst", "pub-1", "users", 2, target_ids=("ann", "ben"),
                                        payload={"web": {"notification": {"title": "Hi"}}, "apns_secret": "x"})
    record = render(accepted, "n")
    assert record["kind"] == "beams_publish_accepted" and record["kind_"] == "users"
    assert record["users"] == ["ann", "ben"] and users_of(accepted) == ["ann", "ben"]
    assert record["payload"]["web"]["notification"]["title"] == "Hi"
    assert record["payload"]["apns_secret"] == "***"
    assert record["instance_id"] == "inst" and record["product"] == "beams"


def test_long_payloads_are_cut() -> None:
    record = render(cev.ClientEventSent("1", "c", "client-x", "y" * (MAX_STRING + 10), "1.1", None), "n")
    assert len(record["data"]) < MAX_STRING + 100 and record["data"].endswith("characters, cut)")


def test_every_event_of_the_stream_renders_to_json() -> None:
    from tests.test_events import ALL, build

    for cls in ALL:
        body = orjson.dumps(render(build(cls), "n"))
        assert json.loads(body)["kind"], cls


# -- filters ------------------------------------------------------------------------------------------------


def test_filters() -> None:
    rec = render(cev.EventTriggered("1", "paid", ("orders-1", "#server-to-user-amy"), "{}"), "n")
    assert Filter.parse({}).matches(rec)
    assert Filter.parse({"channel": "orders-"}).matches(rec)
    assert not Filter.parse({"channel": "news"}).matches(rec)
    assert Filter.parse({"user": "amy"}).matches(rec) and not Filter.parse({"user": "bob"}).matches(rec)
    assert Filter.parse({"event": "paid", "kind": "client_event_sent, event_triggered"}).matches(rec)
    assert not Filter.parse({"kind": "subscribed"}).matches(rec)
    assert Filter.parse({"kind": "subscribed"}).matches({"kind": "gap", "missed": 3})
    with pytest.raises(BadRequest):
        Filter.parse({"channel": "x" * 500})


# -- the token and the cookie -------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_sessions_are_signed_with_the_token_and_expire() -> None:
    clock = Clock()
    auth = ConsoleAuth("right", clock=clock, session_seconds=60)
    cookie = auth.login("right", "1.2.3.4")
    assert auth.check_session(cookie)
    assert not ConsoleAuth("other", clock=clock).check_session(cookie)  # a new token ends every session
    expiry, mac = cookie.split(".")
    assert not auth.check_session(f"{int(expiry) + 1000}.{mac}")  # the expiry is signed
    clock.now += 61
    assert not auth.check_session(cookie)


def test_wrong_tokens_are_limited_per_address_and_the_window_passes() -> None:
    clock = Clock()
    auth = ConsoleAuth("right", clock=clock, attempts=3, window=60)
    for _ in range(3):
        with pytest.raises(Unauthorized):
            auth.check_bearer("Bearer wrong", "a")
    with pytest.raises(ApiError) as refused:
        auth.check_bearer("Bearer right", "a")
    assert refused.value.status == 429
    auth.check_bearer("Bearer right", "b")  # another address is not held up
    clock.now += 61
    auth.check_bearer("Bearer right", "a")
    with pytest.raises(Unauthorized):
        auth.check_bearer("Basic cmlnaHQ=", "a")


def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    import tidings.console.auth as auth_module

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth_module.hmac, "compare_digest", spy)
    auth = ConsoleAuth("right")
    with pytest.raises(Unauthorized):
        auth.check_token("a-much-longer-wrong-token", "x")
    # Digests of equal length whatever was given: neither the length nor the content shows in the time taken.
    assert calls and all(len(a) == len(b) == 32 for a, b in calls)


# -- views and timelines ------------------------------------------------------------------------------------


async def test_a_slow_view_keeps_its_bound_and_gets_a_gap_marker_in_order() -> None:
    view = View(frozenset({("channels", "1")}), Filter(), limit=3)
    for i in range(10):
        view.offer({"kind": "x", "i": i}, orjson.dumps({"kind": "x", "i": i}))
    assert len(view._items) == 3
    got = [json.loads(b) for b in await view.next(1)]
    assert [r.get("i") for r in got[:3]] == [0, 1, 2]
    assert got[3]["kind"] == "gap" and got[3]["missed"] == 7
    view.offer({"kind": "x", "i": 10}, b'{"kind":"x","i":10}')
    assert [json.loads(b)["i"] for b in await view.next(1)] == [10]
    assert await view.next(0.05) == []


async def test_memory_timeline_keeps_the_last_n_per_user_and_a_byte_bound() -> None:
    timeline = MemoryTimeline(per_user=3, max_bytes=3 * (10 + OVERHEAD) * 2)
    for i in range(5):
        timeline.add(("channels", "1", "amy"), f"amy-{i:05d}".encode())
    assert await timeline.get(("channels", "1", "amy"), 10) == [b"amy-00004", b"amy-00003", b"amy-00002"]
    for i in range(3):
        timeline.add(("channels", "1", "ben"), f"ben-{i:05d}".encode())
    timeline.add(("channels", "1", "cyd"), b"cyd-00000")  # over the bytes: the least recently active goes
    assert await timeline.get(("channels", "1", "amy"), 10) == []
    assert timeline.size <= timeline.max_bytes and timeline.users == 2


# -- the listener -------------------------------------------------------------------------------------------


def test_nothing_is_built_for_the_fan_out_counters_while_nobody_watches(monkeypatch: pytest.MonkeyPatch) -> None:
    import tidings.console.core as core

    built: list[Event] = []
    real = core.render
    monkeypatch.setattr(core, "render", lambda e, n: built.append(e) or real(e, n))
    timeline = MemoryTimeline()
    console = Console("n", timeline)
    console.on_event(cev.Published("1", "news", "ev", 5))
    console.on_event(cev.ChannelOccupied("1", "news"))
    assert built == []  # no view, no user: not even a record
    console.on_event(cev.UserOnline("1", "amy"))
    assert [type(e) for e in built] == [cev.UserOnline] and timeline.users == 1
    view = console.open(frozenset({("channels", "1")}), Filter())
    console.on_event(cev.Published("1", "news", "ev", 5))
    console.on_event(cev.Published("2", "news", "ev", 5))  # another app: not this view's
    assert len(view._items) == 1 and console.active
    console.close(view)
    assert not console.active and console.views == 0


def test_records_of_other_nodes_reach_the_views_of_their_scope() -> None:
    console = Console("here", MemoryTimeline())
    view = console.open(frozenset({("beams", "inst")}), Filter.parse({"user": "amy"}))
    theirs = render(bev.BeamsDeviceUserSet("inst", "web-1", "amy"), "there")
    other = render(bev.BeamsDeviceUserSet("inst", "web-2", "ben"), "there")
    console.receive([orjson.dumps(theirs), orjson.dumps(other), b"not json", b"[1]"])
    assert [json.loads(b)["node"] for b in view._items] == ["there"]
    assert console.dropped == 2

