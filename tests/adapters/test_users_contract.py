"""The users-at-scale part of the adapter contract (adapters/users.py), on LocalAdapter and RedisAdapter alike,
plus what only a cluster shows: two nodes sharing the quotas, and a dead node's share given back."""

from __future__ import annotations

import asyncio
import time

from tests.adapters.conftest import MakeNode
from tidings.adapters import Adapter
from tidings.adapters.base import Member

APP = "app1"


async def test_online_users_page_in_id_order_with_a_total(adapter: Adapter) -> None:
    ids = [f"user-{i:03d}" for i in range(25)]
    for uid in reversed(ids):
        await adapter.sign_in(APP, uid, ())
    await adapter.sign_in(APP, "user-007", ())  # a second connection of one user
    await adapter.sign_in("other", "someone", ())
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await adapter.online_users(APP, cursor, 10)
        assert page.total == 25
        assert len(page.users) <= 10
        seen += [u.user_id for u in page.users]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids and pages == 3
    counts = {u.user_id: u.connections for u in (await adapter.online_users(APP, None, 100)).users}
    assert counts["user-007"] == 2 and counts["user-000"] == 1
    # Signed out: gone from the list and the total.
    await adapter.sign_out(APP, "user-000")
    page = await adapter.online_users(APP, None, 100)
    assert page.total == 24 and "user-000" not in [u.user_id for u in page.users] and page.next_cursor is None


async def test_user_presence_counts_connections_since_the_first(adapter: Adapter) -> None:
    assert await adapter.user_presence(APP, "alice") is None
    before = time.time()
    await adapter.sign_in(APP, "alice", ())
    first = await adapter.user_presence(APP, "alice")
    assert first is not None and first.connections == 1
    assert before - 2 <= first.since <= time.time() + 2  # Redis's clock and ours: allow a little skew
    await asyncio.sleep(0.01)
    await adapter.sign_in(APP, "alice", ())
    second = await adapter.user_presence(APP, "alice")
    assert second is not None and second.connections == 2 and second.since == first.since
    await adapter.sign_out(APP, "alice")
    await adapter.sign_out(APP, "alice")
    assert await adapter.user_presence(APP, "alice") is None


async def test_admission_holds_the_limit_and_gives_back(adapter: Adapter) -> None:
    assert [await adapter.admit(APP, 2) for _ in range(3)] == [True, True, False]
    assert await adapter.admit("other", 2)  # per app
    await adapter.release(APP)
    assert await adapter.admit(APP, 2)
    assert not await adapter.admit(APP, 2)
    assert not await adapter.admit(APP, 0)


async def test_connections_per_user_return_the_oldest_beyond_the_limit(adapter: Adapter) -> None:
    assert await adapter.track_connection(APP, "bob", "1.1", 2) == []
    await asyncio.sleep(0.002)  # distinct times on Redis's microsecond clock
    assert await adapter.track_connection(APP, "bob", "1.2", 2) == []
    await asyncio.sleep(0.002)
    assert await adapter.track_connection(APP, "bob", "1.3", 2) == ["1.1"]
    assert await adapter.track_connection(APP, "carol", "2.1", 2) == []  # per user
    await adapter.untrack_connection(APP, "bob", "1.2")
    await asyncio.sleep(0.002)
    assert await adapter.track_connection(APP, "bob", "1.4", 2) == []
    await asyncio.sleep(0.002)
    assert await adapter.track_connection(APP, "bob", "1.5", 1) == ["1.3", "1.4"]  # a lower limit: oldest first


async def test_client_events_per_user_window(adapter: Adapter) -> None:
    assert [await adapter.client_event_allowed(APP, "dan", 3) for _ in range(5)] == [True] * 3 + [False] * 2
    assert await adapter.client_event_allowed(APP, "erin", 3)  # per user
    deadline = time.monotonic() + 30
    while not await adapter.client_event_allowed(APP, "dan", 3):  # the next window
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)


async def test_counts_only_joins_skip_the_roster_but_count(adapter: Adapter) -> None:
    ch = "presence-big"
    for i in range(5):
        joined = await adapter.join(APP, ch, Member(f"u{i}", {"i": i}, 100, roster_up_to=3), False)
        assert joined.member_count == i + 1
        assert bool(joined.members) == (i + 1 <= 3)  # the roster only while at most 3 members
    again = await adapter.join(APP, ch, Member("u0", {"i": 0}, 100, roster_up_to=3), False)
    assert again.member_count == 5 and not again.first_member
    left = await adapter.leave(APP, ch, "u1")
    assert left.last_member and left.member_count == 4


async def test_members_page_through_a_roster(adapter: Adapter) -> None:
    ch = "presence-paged"
    ids = sorted(f"m{i:02d}" for i in range(23))
    for uid in ids:
        await adapter.join(APP, ch, Member(uid, None, 100), False)
    got: list[str] = []
    cursor = None
    while True:
        page = await adapter.members_page(APP, ch, cursor, 10)
        assert page.total == 23
        got += page.user_ids
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert got == ids


async def test_two_nodes_share_the_quota_and_a_dead_nodes_share_is_given_back(make_node: MakeNode) -> None:
    a, _ = await make_node(node_id="node-a")
    b, _ = await make_node(node_id="node-b")
    assert await a.admit(APP, 3) and await a.admit(APP, 3)
    assert await b.admit(APP, 3)
    assert not await b.admit(APP, 3) and not await a.admit(APP, 3)  # one quota for the cluster
    # b's user connection list entries and quota share go when b is cleaned up as dead.
    await b.track_connection(APP, "zoe", "9.1", 5)
    await b.sign_in(APP, "zoe", ())
    await a.clean_user_state("node-b")
    await a.release(APP)  # and one of a's own
    assert await a.admit(APP, 3) and await a.admit(APP, 3)  # 1 left of a's, 2 free
    assert not await a.admit(APP, 3)
    assert await a.track_connection(APP, "zoe", "9.2", 1) == []  # b's 9.1 is no longer counted


async def test_a_stopped_node_s_users_leave_the_online_list(make_node: MakeNode) -> None:
    a, _ = await make_node(node_id="node-a", dead_after=1.0, heartbeat_interval=0.2)
    b, _ = await make_node(node_id="node-b", dead_after=1.0, heartbeat_interval=0.2)
    await a.sign_in(APP, "amy", ())
    await b.sign_in(APP, "ben", ())
    page = await a.online_users(APP, None, 10)
    assert [u.user_id for u in page.users] == ["amy", "ben"]
    await b.close()  # a clean stop takes its share back as a dead node's would be
    deadline = time.monotonic() + 30
    while [u.user_id for u in (await a.online_users(APP, None, 10)).users] != ["amy"]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    assert await a.user_presence(APP, "ben") is None
