"""The offline user mailbox under one contract (adapters/mailbox.py): the database one (in-process adapter,
SQLite and PostgreSQL) and the Redis one (next to a Redis adapter's counts), all real servers.

Order, the per-user limit, expiry (an injected clock), the sweep, put-back, and the atomicity that makes an
event delivered exactly once: a concurrent subscribe (join + take) and send end with the event either live
(the sender saw the subscription) or replayed (the take found it), never both, never neither.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.adapters.conftest import REDIS_URL, drop_keys, start_redis
from tests.storage.postgres import temporary_database
from tidings.adapters import Adapter, AdapterUnavailable, LocalAdapter
from tidings.adapters.mailbox import DatabaseMailbox, Mailbox
from tidings.adapters.mailbox_redis import RedisMailbox
from tidings.channels.apps import App, AppLimits
from tidings.channels.mailbox import Expired, Kept
from tidings.channels.names import USER_CHANNEL_PREFIX
from tidings.storage import MailboxStore, open_storage

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    adapter: Adapter
    mailbox: Mailbox
    clock: Clock

    async def subscribe(self, app: App, user_id: str) -> list[Kept]:
        """What Hub.subscribe does for a user channel: join, then take, as one step."""
        async with self.mailbox.joining(app.id, user_id):
            await self.adapter.join(app.id, USER_CHANNEL_PREFIX + user_id, None, False)
            taken = await self.mailbox.take(app.id, user_id)
        return taken.entries

    async def unsubscribe(self, app: App, user_id: str) -> None:
        await self.adapter.leave(app.id, USER_CHANNEL_PREFIX + user_id, None)


def make_app(seconds: int = 600, events: int = 100) -> App:
    return App(id=f"mb-{secrets.token_hex(4)}", key=secrets.token_hex(10), secret="s", user_mailbox=seconds,
               limits=AppLimits(user_mailbox_events=events))


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with temporary_database("tidings_mailbox") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "redis"])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    clock = Clock()
    if request.param == "redis":
        prefix = f"tidings-test-{secrets.token_hex(4)}"
        adapter, _ = await start_redis(prefix)
        mailbox = RedisMailbox(REDIS_URL, prefix=prefix, clock=clock)
        try:
            yield Rig(adapter, mailbox, clock)
        finally:
            await mailbox.close()
            await adapter.close()
            await drop_keys(prefix)
        return
    url = f"sqlite+aiosqlite:///{tmp_path / 'tidings.db'}" if request.param == "sqlite" else request.getfixturevalue(
        "pg_url"
    )
    storage = await open_storage(url)
    await storage.migrate()
    local = LocalAdapter()
    try:
        yield Rig(local, DatabaseMailbox(MailboxStore(storage.engine), local, clock=clock), clock)
    finally:
        await storage.close()


async def test_kept_for_an_offline_user_and_replayed_once_in_order(rig: Rig) -> None:
    app = make_app()
    for i in range(5):
        assert await rig.mailbox.keep(app, ["bob"], f"ev-{i}", f'{{"n":{i}}}') == {"bob": 0}
    assert await rig.mailbox.count(app.id, "bob") == 5
    got = await rig.subscribe(app, "bob")
    assert [(k.event, k.data) for k in got] == [(f"ev-{i}", f'{{"n":{i}}}') for i in range(5)]
    assert all(k.expires_at == T0 + 600 for k in got)
    assert await rig.mailbox.count(app.id, "bob") == 0
    await rig.unsubscribe(app, "bob")
    assert await rig.subscribe(app, "bob") == []  # once


async def test_peek_lists_without_taking(rig: Rig) -> None:
    app = make_app()
    for i in range(3):
        await rig.mailbox.keep(app, ["bob"], f"ev-{i}", f"d{i}")
    assert [(k.event, k.data) for k in await rig.mailbox.peek(app.id, "bob", 2)] == [("ev-0", "d0"), ("ev-1", "d1")]
    assert await rig.mailbox.peek(app.id, "carol", 10) == []
    assert len(await rig.subscribe(app, "bob")) == 3  # peeking took nothing
    assert await rig.mailbox.peek(app.id, "bob", 10) == []


async def test_a_subscribed_user_is_reachable_and_nothing_is_kept(rig: Rig) -> None:
    app = make_app()
    await rig.subscribe(app, "alice")
    assert await rig.mailbox.keep(app, ["alice", "bob"], "ev", "d") == {"bob": 0}
    assert await rig.mailbox.count(app.id, "alice") == 0
    await rig.unsubscribe(app, "alice")
    assert await rig.mailbox.keep(app, ["alice"], "ev2", "d") == {"alice": 0}
    assert [k.event for k in await rig.subscribe(app, "alice")] == ["ev2"]


async def test_mailboxes_are_per_app_and_per_user(rig: Rig) -> None:
    one, two = make_app(), make_app()
    await rig.mailbox.keep(one, ["bob"], "for-one", "1")
    await rig.mailbox.keep(two, ["bob"], "for-two", "2")
    await rig.mailbox.keep(one, ["carol"], "for-carol", "3")
    assert [k.event for k in await rig.subscribe(two, "bob")] == ["for-two"]
    assert [k.event for k in await rig.subscribe(one, "bob")] == ["for-one"]
    assert [k.event for k in await rig.subscribe(one, "carol")] == ["for-carol"]


async def test_hostile_text_round_trips(rig: Rig) -> None:
    app = make_app()
    event, data = "ev\x00 \n ☃ \"q\"", '{"x": "\\u0000"} \x00 Zoë 😀 ' + "y" * 10_000
    await rig.mailbox.keep(app, ["bob"], event, data)
    [got] = await rig.subscribe(app, "bob")
    assert (got.event, got.data) == (event, data)


async def test_over_the_limit_the_oldest_are_dropped_and_counted(rig: Rig) -> None:
    app = make_app(events=3)
    results = [await rig.mailbox.keep(app, ["bob"], f"ev-{i}", "d") for i in range(5)]
    assert results == [{"bob": 0}, {"bob": 0}, {"bob": 0}, {"bob": 1}, {"bob": 1}]
    assert [k.event for k in await rig.subscribe(app, "bob")] == ["ev-2", "ev-3", "ev-4"]


async def test_expired_entries_are_dropped_at_take_and_counted(rig: Rig) -> None:
    app = make_app(seconds=10)
    await rig.mailbox.keep(app, ["bob"], "old", "d")
    rig.clock.now += 6
    await rig.mailbox.keep(app, ["bob"], "new", "d")
    rig.clock.now += 5  # "old" is 11 s old, "new" 5
    async with rig.mailbox.joining(app.id, "bob"):
        await rig.adapter.join(app.id, USER_CHANNEL_PREFIX + "bob", None, False)
        taken = await rig.mailbox.take(app.id, "bob")
    assert [k.event for k in taken.entries] == ["new"]
    assert taken.expired == 1


async def test_sweep_drops_expired_entries_once_and_counts_them_per_user(rig: Rig) -> None:
    app = make_app(seconds=10)
    await rig.mailbox.keep(app, ["bob", "carol"], "old", "d")
    await rig.mailbox.keep(app, ["bob"], "old2", "d")
    rig.clock.now += 8
    await rig.mailbox.keep(app, ["bob"], "new", "d")
    assert await rig.mailbox.sweep() == []  # nothing due yet
    rig.clock.now += 3
    swept = sorted(await rig.mailbox.sweep(), key=lambda e: e.user_id)
    assert swept == [Expired(app.id, "bob", 2), Expired(app.id, "carol", 1)]
    assert await rig.mailbox.sweep() == []  # idempotent
    assert await rig.mailbox.count(app.id, "carol") == 0
    assert await rig.mailbox.count(app.id, "bob") == 1
    rig.clock.now += 20
    assert await rig.mailbox.sweep() == [Expired(app.id, "bob", 1)]
    assert await rig.subscribe(app, "bob") == []


async def test_sweep_handles_many_users(rig: Rig) -> None:
    app = make_app(seconds=1)
    users = [f"u{i}" for i in range(450)]  # more than one Redis sweep batch
    await rig.mailbox.keep(app, users, "ev", "d")
    rig.clock.now += 2
    swept = await rig.mailbox.sweep()
    assert sorted(e.user_id for e in swept) == sorted(users)
    assert all(e.count == 1 for e in swept)


async def test_put_back_restores_the_entries_in_front_and_keeps_the_limit(rig: Rig) -> None:
    app = make_app(events=4)
    for i in range(3):
        await rig.mailbox.keep(app, ["bob"], f"ev-{i}", "d")
    taken = await rig.subscribe(app, "bob")
    assert await rig.mailbox.put_back(app, "bob", taken) == 0
    await rig.unsubscribe(app, "bob")
    assert [k.event for k in await rig.subscribe(app, "bob")] == ["ev-0", "ev-1", "ev-2"]
    await rig.unsubscribe(app, "bob")
    small = app.model_copy(update={"limits": AppLimits(user_mailbox_events=2)})
    assert await rig.mailbox.put_back(small, "bob", taken) == 1  # the oldest goes
    assert [k.event for k in await rig.subscribe(app, "bob")] == ["ev-1", "ev-2"]


async def test_put_back_entries_still_expire(rig: Rig) -> None:
    app = make_app(seconds=10)
    await rig.mailbox.keep(app, ["bob"], "ev", "d")
    taken = await rig.subscribe(app, "bob")
    await rig.mailbox.put_back(app, "bob", taken)
    rig.clock.now += 11
    assert await rig.mailbox.sweep() == [Expired(app.id, "bob", 1)]


async def test_concurrent_subscribe_and_send_deliver_exactly_once(rig: Rig) -> None:
    """Many rounds of one send racing one subscription (and a second send right after): every event ends
    live (the sender saw the subscription) or taken by the subscription, and none is left behind."""
    app = make_app()
    rng = random.Random(12)
    for round_ in range(40):
        user = f"racer{round_}"
        live: list[str] = []
        taken: list[Kept] = []

        async def send(event: str, delay: float, user: str = user, live: list[str] = live) -> None:
            await asyncio.sleep(delay)
            if not await rig.mailbox.keep(app, [user], event, "d"):
                live.append(event)

        async def subscribe(delay: float, user: str = user, taken: list[Kept] = taken) -> None:
            await asyncio.sleep(delay)
            taken.extend(await rig.subscribe(app, user))

        await asyncio.gather(
            send("a", rng.uniform(0, 0.004)), send("b", rng.uniform(0, 0.004)), subscribe(rng.uniform(0, 0.004))
        )
        delivered = live + [k.event for k in taken]
        assert sorted(delivered) == ["a", "b"], (round_, live, taken)
        assert await rig.mailbox.count(app.id, user) == 0, round_  # nothing kept for a subscribed user


async def test_two_subscriptions_at_once_take_the_mailbox_once(rig: Rig) -> None:
    app = make_app()
    for i in range(3):
        await rig.mailbox.keep(app, ["bob"], f"ev-{i}", "d")
    first, second = await asyncio.gather(rig.subscribe(app, "bob"), rig.subscribe(app, "bob"))
    assert sorted([len(first), len(second)]) == [0, 3]


async def test_redis_mailbox_sees_subscriptions_made_on_other_nodes() -> None:
    prefix = f"tidings-test-{secrets.token_hex(4)}"
    node1, _ = await start_redis(prefix)
    node2, _ = await start_redis(prefix)
    on1 = RedisMailbox(REDIS_URL, prefix=prefix)
    on2 = RedisMailbox(REDIS_URL, prefix=prefix)
    app = make_app()
    try:
        assert await on1.keep(app, ["bob"], "kept", "d") == {"bob": 0}
        await node2.join(app.id, USER_CHANNEL_PREFIX + "bob", None, False)
        assert [k.event for k in (await on2.take(app.id, "bob")).entries] == ["kept"]
        assert await on1.keep(app, ["bob"], "live", "d") == {}
        await node2.leave(app.id, USER_CHANNEL_PREFIX + "bob", None)
        assert await on1.keep(app, ["bob"], "kept-again", "d") == {"bob": 0}
    finally:
        for mailbox in (on1, on2):
            await mailbox.close()
        for node in (node1, node2):
            await node.close()
        await drop_keys(prefix)


async def test_redis_mailbox_unreachable_is_adapter_unavailable() -> None:
    mailbox = RedisMailbox("redis://127.0.0.1:1/0", timeout=1)
    try:
        with pytest.raises(AdapterUnavailable):
            await mailbox.keep(make_app(), ["bob"], "ev", "d")
        with pytest.raises(AdapterUnavailable):
            await mailbox.take("app", "bob")
        with pytest.raises(AdapterUnavailable):
            await mailbox.sweep()
    finally:
        await mailbox.close()


def test_database_mailbox_refuses_a_shared_adapter() -> None:
    class Shared(LocalAdapter):
        shared = True

    with pytest.raises(ValueError, match="RedisMailbox"):
        DatabaseMailbox(MailboxStore.__new__(MailboxStore), Shared())
