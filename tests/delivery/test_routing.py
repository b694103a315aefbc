"""User-first routing (docs/user-first-delivery.md): each user of a publish carrying `channels` gets the event over
their signed-in connections or the push on their devices, decided once, never both. SQLite and PostgreSQL alike, with a
real hub (fake transports) as the Channels side."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.delivery.support import (
    EVERY_PLATFORM,
    INSTANCE,
    FakeTime,
    add_devices,
    fresh_instance,
    providers,
    publish,
    requests,
)
from tests.realtime.fakes import Transport, connect, feed
from tidings.beams import events as ev
from tidings.channels import signatures
from tidings.channels.apps import App
from tidings.delivery import DeliveryConfig, DeliveryWorker, HubChannels
from tidings.delivery.status import publish_status
from tidings.realtime.hub import Hub
from tidings.storage import Storage
from tidings.storage.routes import PUSH, Route
from tidings.storage.schema import beams_deliveries, beams_routes

APP = App(id="app-r", key="key-r", secret="secret-r", beams_instance=INSTANCE)
ROUTED = {**EVERY_PLATFORM, "channels": {"event": "order-shipped", "data": '{"order":42}'}}
OWNERS = {"web-a1": "alice", "apns-a2": "alice", "web-b1": "bob", "fcm-c1": "carol"}


@pytest.fixture
async def beams(storage: Storage) -> Storage:
    await fresh_instance(storage)
    await storage.apps.create(APP)
    await add_devices(storage, OWNERS, user=OWNERS.get)
    return storage


def signin(conn: Any, user: str) -> dict[str, Any]:
    user_data = json.dumps({"id": user})
    auth = signatures.token(APP.key, APP.secret, signatures.signin_string(conn.socket_id, user_data))
    return {"event": "pusher:signin", "data": {"user_data": user_data, "auth": auth}}


async def signed_in(hub: Hub, user: str) -> Transport:
    """A connection signed in as `user` and subscribed to its user channel, as pusher-js does after signin()."""
    conn, transport = connect(hub, APP)
    await feed(hub, conn, signin(conn, user))
    await feed(hub, conn, {"event": "pusher:subscribe", "data": {"channel": f"#server-to-user-{user}"}})
    assert "pusher_internal:subscription_succeeded" in transport.events()
    return transport


def user_events(transport: Transport) -> list[dict[str, Any]]:
    return [f for f in transport.frames if f["event"] == "order-shipped"]


async def device_rows(storage: Storage, publish_id: str) -> set[str]:
    query = select(beams_deliveries.c.device_id).where(beams_deliveries.c.publish_id == publish_id)
    async with storage.engine.connect() as conn:
        return set((await conn.scalars(query)).all())


async def route_rows(storage: Storage, publish_id: str) -> dict[str, tuple[str, bool]]:
    r = beams_routes.c
    query = select(r.user_id, r.route, r.delivered_at).where(r.publish_id == publish_id)
    async with storage.engine.connect() as conn:
        return {row.user_id: (row.route, row.delivered_at is not None) for row in (await conn.execute(query)).all()}


def collect(stream: ev.EventStream) -> list[ev.Event]:
    seen: list[ev.Event] = []
    stream.subscribe(seen.append)
    return seen


# -- the worker with a hub -----------------------------------------------------------------------------


async def test_a_signed_in_user_gets_the_event_and_no_push_the_others_are_pushed(beams: Storage) -> None:
    hub = Hub(ev.EventStream())
    alice = await signed_in(hub, "alice")
    await publish(beams, "pub-1", "users", ["alice", "bob", "nobody"], ROUTED)
    fake = providers()
    stream = ev.EventStream()
    seen = collect(stream)

    await DeliveryWorker(beams, fake, stream=stream, channels=HubChannels(hub)).drain()

    got = user_events(alice)
    assert [(f["channel"], f["data"]) for f in got] == [("#server-to-user-alice", '{"order":42}')]
    assert requests(fake) == {("pub-1", "web-b1"): 1}  # bob's device; none of alice's
    assert await device_rows(beams, "pub-1") == {"web-b1"}
    assert await route_rows(beams, "pub-1") == {
        "alice": ("socket", True), "bob": ("push", False), "nobody": ("push", False)
    }
    routed = {(e.user_id, e.route, e.app_id) for e in seen if isinstance(e, ev.BeamsUserRouted)}
    assert routed == {("alice", "socket", APP.id), ("bob", "push", APP.id), ("nobody", "push", APP.id)}
    assert isinstance(seen[-1], ev.BeamsPublishFinished)

    status = await publish_status(beams, INSTANCE, "pub-1")
    assert status is not None and status["status"] == "done"
    assert status["routing"] == {"socket": 1, "push": 2, "pending": 0}
    assert status["devices"]["sent"] == 1


async def test_every_tab_of_a_user_gets_the_event_once(beams: Storage) -> None:
    hub = Hub(ev.EventStream())
    tabs = [await signed_in(hub, "alice") for _ in range(2)]
    await publish(beams, "pub-1", "users", ["alice"], ROUTED)
    fake = providers()
    await DeliveryWorker(beams, fake, channels=HubChannels(hub)).drain()
    assert [len(user_events(t)) for t in tabs] == [1, 1]
    assert requests(fake) == {}


async def test_a_user_who_left_is_pushed(beams: Storage) -> None:
    hub = Hub(ev.EventStream())
    conn, transport = connect(hub, APP)
    await feed(hub, conn, signin(conn, "alice"))
    await feed(hub, conn, {"event": "pusher:subscribe", "data": {"channel": "#server-to-user-alice"}})
    await hub.remove(conn)
    await publish(beams, "pub-1", "users", ["alice"], ROUTED)
    fake = providers()
    await DeliveryWorker(beams, fake, channels=HubChannels(hub)).drain()
    assert user_events(transport) == []
    assert requests(fake) == {("pub-1", "web-a1"): 1, ("pub-1", "apns-a2"): 1}


async def test_a_publish_without_channels_is_pushed_as_before_even_to_signed_in_users(beams: Storage) -> None:
    hub = Hub(ev.EventStream())
    alice = await signed_in(hub, "alice")
    await publish(beams, "pub-1", "users", ["alice"])
    fake = providers()
    await DeliveryWorker(beams, fake, channels=HubChannels(hub)).drain()
    assert user_events(alice) == []
    assert requests(fake) == {("pub-1", "web-a1"): 1, ("pub-1", "apns-a2"): 1}
    assert await route_rows(beams, "pub-1") == {}
    status = await publish_status(beams, INSTANCE, "pub-1")
    assert status is not None and "routing" not in status


async def test_without_a_view_of_channels_everyone_is_pushed(beams: Storage) -> None:
    """`tidings worker` without Redis: no hub, so no one can be seen signed in."""
    await publish(beams, "pub-1", "users", ["alice", "bob"], ROUTED)
    fake = providers()
    await DeliveryWorker(beams, fake).drain()
    assert set(requests(fake)) == {("pub-1", "web-a1"), ("pub-1", "apns-a2"), ("pub-1", "web-b1")}
    assert await route_rows(beams, "pub-1") == {"alice": ("push", False), "bob": ("push", False)}


async def test_an_instance_unlinked_since_the_publish_pushes_everyone(beams: Storage) -> None:
    hub = Hub(ev.EventStream())
    alice = await signed_in(hub, "alice")
    await publish(beams, "pub-1", "users", ["alice"], ROUTED)
    await beams.apps.update(APP.id, beams_instance=None)
    fake = providers()
    await DeliveryWorker(beams, fake, channels=HubChannels(hub)).drain()
    assert user_events(alice) == []
    assert len(requests(fake)) == 2


async def test_users_are_decided_a_page_at_a_time(beams: Storage) -> None:
    hub = Hub(ev.EventStream())
    users = [f"u{n:03d}" for n in range(600)]
    await add_devices(beams, [f"web-u{n:03d}" for n in range(600)], user=lambda d: d[4:])
    transports = {u: await signed_in(hub, u) for u in users[::2]}
    await publish(beams, "pub-1", "users", users, ROUTED)
    fake = providers()
    worker = DeliveryWorker(beams, fake, channels=HubChannels(hub))
    assert await worker.step()
    assert len(await route_rows(beams, "pub-1")) == 250  # one page per step
    await worker.drain()
    assert all(len(user_events(t)) == 1 for t in transports.values())
    assert set(requests(fake)) == {("pub-1", f"web-{u}") for u in users[1::2]}
    status = await publish_status(beams, INSTANCE, "pub-1")
    assert status is not None and status["routing"] == {"socket": 300, "push": 300, "pending": 0}


# -- the store: decided once, atomically ---------------------------------------------------------------


async def test_a_decision_is_stored_once_and_a_later_one_changes_nothing(beams: Storage) -> None:
    await publish(beams, "pub-1", "users", ["alice", "bob", "carol"], ROUTED)
    routes = beams.delivery.routes
    now = FakeTime().now
    first = await routes.decide("pub-1", "w1", {"alice": Route("socket", APP.id)}, lease_seconds=30, now=now)
    assert first is not None and first.first and not first.complete
    assert first.to_send == {"alice": APP.id} and first.devices == 0
    # A second worker read the page before the first stored it, and saw alice signed out: the stored route wins,
    # it writes no device row for alice and does not send her event either.
    second = await routes.decide("pub-1", "w2", {"alice": PUSH, "bob": PUSH}, lease_seconds=30, now=now)
    assert second is not None and not second.first and not second.complete
    assert second.routes == {"alice": Route("socket", APP.id), "bob": PUSH}
    assert second.new == {"bob": PUSH} and second.to_send == {}
    assert await device_rows(beams, "pub-1") == {"web-b1"}
    assert await routes.next_users("pub-1", 10) == ["carol"]
    third = await routes.decide("pub-1", "w2", {"carol": PUSH}, lease_seconds=30, now=now)
    assert third is not None and third.complete
    assert await routes.next_users("pub-1", 10) is None  # fully decided
    assert await device_rows(beams, "pub-1") == {"web-b1", "fcm-c1"}


async def test_a_socket_route_whose_sender_died_is_sent_again_over_the_socket_never_pushed(beams: Storage) -> None:
    hub = Hub(ev.EventStream())
    alice = await signed_in(hub, "alice")
    await publish(beams, "pub-1", "users", ["alice", "bob"], ROUTED)
    clock = FakeTime()
    # The decider stored its decision (alice: socket), then died before sending it.
    decided = await beams.delivery.routes.decide(
        "pub-1", "dead-worker", {"alice": Route("socket", APP.id), "bob": PUSH}, lease_seconds=30, now=clock.now
    )
    assert decided is not None and decided.complete
    fake = providers()
    worker = DeliveryWorker(beams, fake, DeliveryConfig(lease_seconds=30), channels=HubChannels(hub),
                            clock=clock, sleep=clock.sleep)
    await worker.drain()
    assert user_events(alice) == []  # the dead worker's lease still runs: not yet
    assert requests(fake) == {("pub-1", "web-b1"): 1}
    status = await publish_status(beams, INSTANCE, "pub-1")
    assert status is not None and status["status"] == "running"  # not finished while a socket route is unsent

    clock.now += timedelta(seconds=31)
    await worker.drain()
    assert len(user_events(alice)) == 1
    assert await device_rows(beams, "pub-1") == {"web-b1"}  # still none of alice's devices
    assert await route_rows(beams, "pub-1") == {"alice": ("socket", True), "bob": ("push", False)}
    status = await publish_status(beams, INSTANCE, "pub-1")
    assert status is not None and status["status"] == "done"


async def test_a_worker_without_a_channels_view_leaves_a_dead_senders_socket_route_alone(beams: Storage) -> None:
    await publish(beams, "pub-1", "users", ["alice"], ROUTED)
    clock = FakeTime()
    await beams.delivery.routes.decide(
        "pub-1", "dead-worker", {"alice": Route("socket", APP.id)}, lease_seconds=30, now=clock.now
    )
    clock.now += timedelta(seconds=31)
    fake = providers()
    worker = DeliveryWorker(beams, fake, clock=clock, sleep=clock.sleep)
    assert not await worker.step()
    assert requests(fake) == {}  # never a push for a socket route
    assert await route_rows(beams, "pub-1") == {"alice": ("socket", False)}


async def test_the_route_and_the_device_rows_are_one_transaction(
    beams: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    await publish(beams, "pub-1", "users", ["alice", "bob"], ROUTED)
    routes = beams.delivery.routes

    async def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("the database went away between the two writes")

    monkeypatch.setattr(routes, "_insert_devices", broken)
    with pytest.raises(RuntimeError):
        await routes.decide("pub-1", "w1", {"alice": PUSH, "bob": PUSH}, lease_seconds=30, now=FakeTime().now)
    assert await route_rows(beams, "pub-1") == {}  # no decision without its device rows
    assert await device_rows(beams, "pub-1") == set()
