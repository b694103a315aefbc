"""The hub and the offline user mailbox, with fake transports and a real SQLite mailbox: the order of frames
around a user channel subscription, put-back when the connection closes while subscribing, the user channel
given back first when a connection closes, and `publish` (Beams routing's path) never keeping anything.

A gate in the store's `take` holds a subscription between its adapter join and its take, where the races are.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.realtime.fakes import Transport, connect, feed
from tests.realtime.test_hub import signin
from tidings.adapters import LocalAdapter
from tidings.adapters.mailbox import DatabaseMailbox
from tidings.channels.apps import App
from tidings.channels.mailbox import Kept
from tidings.realtime import events as ev
from tidings.realtime.connection import Connection
from tidings.realtime.hub import Hub
from tidings.storage import MailboxStore, Storage, open_storage

APP = App(id="1", key="k", secret="s", user_mailbox=600)
BOB = "#server-to-user-bob"


class GatedStore(MailboxStore):
    """`take` waits for `gate` when one is set, after telling `reached`."""

    gate: asyncio.Event | None = None
    reached: asyncio.Event | None = None

    async def take(self, app_id: str, user_id: str) -> list[Kept]:
        if self.gate is not None and self.reached is not None:
            self.reached.set()
            await self.gate.wait()
        return await super().take(app_id, user_id)


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    storage = await open_storage(f"sqlite+aiosqlite:///{tmp_path / 'tidings.db'}")
    await storage.migrate()
    yield storage
    await storage.close()


@pytest.fixture
def store(storage: Storage) -> GatedStore:
    return GatedStore(storage.engine)


@pytest.fixture
def hub(store: GatedStore) -> tuple[Hub, list[ev.Event]]:
    adapter = LocalAdapter()
    stream = ev.EventStream()
    seen: list[ev.Event] = []
    stream.subscribe(seen.append)
    return Hub(stream, adapter, mailbox=DatabaseMailbox(store, adapter)), seen


def user_events(t: Transport) -> list[tuple[str, str]]:
    return [(f["event"], f.get("data", "")) for f in t.frames if f.get("channel") == BOB]


async def signed_in(hub: Hub, user: str = "bob") -> tuple[Connection, Transport]:
    conn, t = connect(hub, APP)
    await feed(hub, conn, signin(conn, user))
    return conn, t


def subscribe(conn: Connection) -> dict[str, object]:
    return {"event": "pusher:subscribe", "data": {"channel": BOB}}


async def test_live_events_during_the_subscription_come_after_the_kept_ones(
    hub: tuple[Hub, list[ev.Event]], store: GatedStore
) -> None:
    h, seen = hub
    assert await h.trigger(APP, "kept", [BOB], "1") == 0
    assert await h.trigger(APP, "kept", [BOB], "2") == 0
    first, first_t = await signed_in(h)
    store.gate, store.reached = asyncio.Event(), asyncio.Event()
    subscribing = asyncio.create_task(feed(h, first, subscribe(first)))
    await store.reached.wait()  # joined (bob is reachable now), the take not done
    # Live now, through publish (Beams routing's path: bob counts as subscribed): held back, not written yet.
    h.publish(APP.id, "live", [BOB], "3")
    # Through the HTTP path: its decision waits for the subscription's take (one step, adapters/mailbox.py).
    triggering = asyncio.create_task(h.trigger(APP, "live", [BOB], "4"))
    await asyncio.sleep(0.05)
    assert not triggering.done()
    assert user_events(first_t) == []
    store.gate.set()
    await subscribing
    assert await triggering == 1  # live, to bob's connection
    assert user_events(first_t) == [
        ("pusher_internal:subscription_succeeded", "{}"), ("kept", "1"), ("kept", "2"), ("live", "3"), ("live", "4"),
    ]
    replayed = [e for e in seen if isinstance(e, ev.MailboxReplayed)]
    assert [(e.user_id, e.count, e.socket_id) for e in replayed] == [("bob", 2, first.socket_id)]
    assert [e.user_id for e in seen if isinstance(e, ev.MailboxKept)] == ["bob", "bob"]


async def test_a_connection_closed_while_subscribing_puts_the_kept_events_back(
    hub: tuple[Hub, list[ev.Event]], store: GatedStore
) -> None:
    h, _ = hub
    await h.trigger(APP, "kept", [BOB], "1")
    conn, t = await signed_in(h)
    store.gate, store.reached = asyncio.Event(), asyncio.Event()
    subscribing = asyncio.create_task(feed(h, conn, subscribe(conn)))
    await store.reached.wait()
    await h.remove(conn)
    store.gate.set()
    await subscribing
    assert user_events(t) == []
    assert await h.adapter.channels(APP.id) == {}  # the subscription was given back
    store.gate = None
    again, again_t = await signed_in(h)
    await feed(h, again, subscribe(again))
    assert user_events(again_t)[1:] == [("kept", "1")]


async def test_closing_gives_the_user_channel_back_first(hub: tuple[Hub, list[ev.Event]]) -> None:
    h, _ = hub
    conn, _ = await signed_in(h)
    await feed(h, conn, subscribe(conn))
    await feed(h, conn, {"event": "pusher:subscribe", "data": {"channel": "news"}})
    order: list[str] = []
    leave = h.adapter.leave

    async def recording(app_id: str, channel: str, user_id: str | None):  # type: ignore[no-untyped-def]
        order.append(channel)
        return await leave(app_id, channel, user_id)

    h.adapter.leave = recording  # type: ignore[method-assign]
    await h.remove(conn)
    assert order == [BOB, "news"]
    assert await h.trigger(APP, "after", [BOB], "x") == 0
    assert await h.mailbox.count(APP.id, "bob") == 1  # type: ignore[union-attr]


async def test_publish_never_keeps_and_mailbox_off_keeps_nothing(hub: tuple[Hub, list[ev.Event]]) -> None:
    h, seen = hub
    h.publish(APP.id, "routed", [BOB], "x")
    off = APP.model_copy(update={"user_mailbox": 0})
    await h.trigger(off, "ev", [BOB], "x")
    assert h.mailbox is not None and await h.mailbox.count(APP.id, "bob") == 0
    assert not [e for e in seen if isinstance(e, ev.MailboxKept)]
    # A signed-in connection that never subscribed: publish still reaches it, as without a mailbox.
    conn, t = await signed_in(h)
    h.publish(APP.id, "routed", [BOB], json.dumps({"n": 1}))
    assert user_events(t) == [("routed", '{"n": 1}')]
