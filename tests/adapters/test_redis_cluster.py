"""What only the Redis adapter does: several nodes on one Redis, the bus, and dead-node cleanup."""

from __future__ import annotations

import asyncio
import time

from tests.adapters.conftest import MakeNode, Received
from tidings.adapters import bus
from tidings.adapters.base import Member

APP = "app1"


async def until(predicate: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def kinds(received: Received) -> list[tuple[str, bool]]:
    return [(m.TAG, own) for m, own in received]


async def test_bus_reaches_the_other_nodes_not_the_sender(make_node: MakeNode) -> None:
    a, got_a = await make_node()
    b, got_b = await make_node()
    c, got_c = await make_node()
    for i in range(3):
        a.broadcast(bus.Publish(APP, "e", ("x",), str(i)))
    await until(lambda: len(got_b) == 3 and len(got_c) == 3, "three messages on b and c")
    assert [m.data for m, _ in got_b if isinstance(m, bus.Publish)] == ["0", "1", "2"]  # in order
    await asyncio.sleep(0.1)
    assert got_a == []


async def test_transitions_are_cluster_wide(make_node: MakeNode) -> None:
    a, _ = await make_node()
    b, _ = await make_node()
    ch = "presence-room"
    assert (await a.join(APP, ch, Member("alice", None, 100), False)).first_member
    joined = await b.join(APP, ch, Member("alice", None, 100), False)
    assert not joined.first_member and joined.count == 2
    assert not (await a.leave(APP, ch, "alice")).last_member
    left = await b.leave(APP, ch, "alice")
    assert left.last_member and left.vacated
    first, _ = await a.sign_in(APP, "bob", ())
    assert first
    first, online = await b.sign_in(APP, "carol", ("bob",))
    assert first and online == {"bob"}
    assert not (await b.sign_in(APP, "bob", ()))[0]


async def test_a_node_only_takes_back_its_own_share(make_node: MakeNode) -> None:
    a, _ = await make_node()
    b, _ = await make_node()
    await a.join(APP, "news", None, False)
    left = await b.leave(APP, "news", None)  # b never joined
    assert (left.count, left.vacated) == (1, False)
    assert not await b.sign_out(APP, "nobody")


async def test_dead_node_is_cleaned_up_by_one_survivor(make_node: MakeNode) -> None:
    fast = {"heartbeat_interval": 0.2, "dead_after": 1.0}
    a, got_a = await make_node(**fast)
    b, got_b = await make_node(**fast)
    dying, _ = await make_node(**fast)
    await a.join(APP, "presence-room", Member("alice", None, 100), False)
    await dying.join(APP, "presence-room", Member("alice", None, 100), False)  # alice also on a: stays
    await dying.join(APP, "presence-room", Member("dave", None, 100), False)
    await dying.join(APP, "news", None, False)
    await a.join(APP, "news", None, False)
    await dying.join(APP, "sport", None, False)
    await dying.sign_in(APP, "dave", ())
    # Die without a word: no more heartbeats, no clean close.
    for task in dying._tasks:
        task.cancel()
    started = time.monotonic()
    await until(lambda: a.cleaned or b.cleaned, "a survivor cleaned the dead node")
    # dead_after plus a few heartbeats, and slack for a loaded machine: far from the 10 s default dead_after.
    assert time.monotonic() - started < 1.0 + 0.2 * 3 + 3.0
    assert len(a.cleaned) + len(b.cleaned) == 1  # one survivor only (SET NX lock)
    cleaner, other = (got_a, got_b) if a.cleaned else (got_b, got_a)
    await until(lambda: len(other) >= 4, "the other survivor heard of it")
    assert await a.members(APP, "presence-room") == {"alice": None}
    assert await a.channels(APP) == {"presence-room": 1, "news": 1}
    assert await a.online(APP, ("dave",)) == set()
    assert (bus.MemberRemoved(APP, "presence-room", "alice"), True) not in cleaner
    assert (bus.MemberRemoved(APP, "presence-room", "dave"), True) in cleaner
    assert (bus.UserStatus(APP, "dave", online=False), True) in cleaner
    assert {("cnt", m.channel, m.count) for m, _ in cleaner if isinstance(m, bus.Count)} == {
        ("cnt", "presence-room", 1), ("cnt", "news", 1), ("cnt", "sport", 0),
    }
    assert all(not own for _, own in other)  # only the cleaner emits webhooks
    await dying._redis.aclose()


async def test_a_node_declared_dead_resets(make_node: MakeNode) -> None:
    a, got_a = await make_node(heartbeat_interval=0.2, dead_after=1.0)
    await a._redis.zrem(f"{a.prefix}:nodes", a.node_id)  # as a survivor's cleanup would
    await until(lambda: ("reset", True) in kinds(got_a), "a reset")
