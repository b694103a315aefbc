"""The adapter contract, run against LocalAdapter and RedisAdapter alike (see conftest.py)."""

from __future__ import annotations

from tidings.adapters import Adapter
from tidings.adapters.base import Member

APP = "app1"


def member(user: str, info: object = None, limit: int = 100) -> Member:
    return Member(user, info if info is not None else {"name": user}, limit)


async def test_counts_go_up_and_down_and_report_vacated(adapter: Adapter) -> None:
    first = await adapter.join(APP, "news", None, False)
    second = await adapter.join(APP, "news", None, False)
    assert (first.count, second.count) == (1, 2)  # count 1: this join occupied the channel
    assert await adapter.channels(APP) == {"news": 2}
    assert (await adapter.channel(APP, "news")).subscription_count == 2
    left = await adapter.leave(APP, "news", None)
    assert (left.count, left.vacated) == (1, False)
    left = await adapter.leave(APP, "news", None)
    assert (left.count, left.vacated) == (0, True)
    assert await adapter.channels(APP) == {}
    # A leave nobody joined for changes nothing and announces nothing.
    left = await adapter.leave(APP, "news", None)
    assert (left.count, left.vacated) == (0, False)


async def test_apps_are_separate(adapter: Adapter) -> None:
    await adapter.join(APP, "news", None, False)
    await adapter.join("other", "news", None, False)
    await adapter.join("other", "sport", None, False)
    assert await adapter.channels(APP) == {"news": 1}
    assert await adapter.channels("other") == {"news": 1, "sport": 1}


async def test_presence_members_are_users_not_sockets(adapter: Adapter) -> None:
    ch = "presence-room"
    a1 = await adapter.join(APP, ch, member("alice", {"name": "Alice"}), False)
    assert a1.first_member and a1.members == {"alice": {"name": "Alice"}}
    a2 = await adapter.join(APP, ch, member("alice", {"name": "Alice"}), False)
    assert not a2.first_member and a2.count == 2
    b = await adapter.join(APP, ch, member("bob", {"n": [1, 2]}), False)
    assert b.first_member and b.members == {"alice": {"name": "Alice"}, "bob": {"n": [1, 2]}}
    info = await adapter.channel(APP, ch)
    assert (info.subscription_count, info.user_count) == (3, 2)
    assert await adapter.members(APP, ch) == {"alice": {"name": "Alice"}, "bob": {"n": [1, 2]}}

    assert not (await adapter.leave(APP, ch, "alice")).last_member  # alice has another socket
    assert (await adapter.leave(APP, ch, "alice")).last_member
    assert await adapter.members(APP, ch) == {"bob": {"n": [1, 2]}}
    left = await adapter.leave(APP, ch, "bob")
    assert left.last_member and left.vacated
    assert await adapter.members(APP, ch) == {}


async def test_presence_limit_refuses_new_users_only(adapter: Adapter) -> None:
    ch = "presence-small"
    assert not (await adapter.join(APP, ch, member("a", limit=2), False)).full
    assert not (await adapter.join(APP, ch, member("b", limit=2), False)).full
    refused = await adapter.join(APP, ch, member("c", limit=2), False)
    assert refused.full and refused.count == 2
    assert not (await adapter.join(APP, ch, member("a", limit=2), False)).full  # a second socket of a member
    assert set(await adapter.members(APP, ch)) == {"a", "b"}
    assert (await adapter.channel(APP, ch)).subscription_count == 3


async def test_users_online_and_offline(adapter: Adapter) -> None:
    first, online = await adapter.sign_in(APP, "bob", ("alice", "carol"))
    assert first and online == set()
    first, online = await adapter.sign_in(APP, "alice", ("bob", "carol"))
    assert first and online == {"bob"}
    first, _ = await adapter.sign_in(APP, "bob", ())
    assert not first
    assert await adapter.online(APP, ("alice", "bob", "carol")) == {"alice", "bob"}
    assert not await adapter.sign_out(APP, "bob")
    assert await adapter.sign_out(APP, "bob")
    assert await adapter.online(APP, ("bob",)) == set()
    assert not await adapter.sign_out(APP, "bob")  # never below zero


async def test_cache_channel_keeps_the_last_event(adapter: Adapter) -> None:
    ch = "cache-prices"
    assert await adapter.cached(APP, ch) is None
    assert (await adapter.join(APP, ch, None, True)).cached is None
    await adapter.set_cached(APP, ch, "tick", '{"p":1}')
    await adapter.set_cached(APP, ch, "tick", '{"p":2}')
    cached = await adapter.cached(APP, ch)
    assert cached is not None and (cached.event, cached.data) == ("tick", '{"p":2}')
    assert 0 < cached.ttl <= 60
    joined = await adapter.join(APP, ch, None, True)
    assert joined.cached is not None and joined.cached.data == '{"p":2}'
    assert (await adapter.join(APP, ch, None, False)).cached is None  # not asked for


async def test_ping(adapter: Adapter) -> None:
    assert await adapter.ping()
