"""The Redis adapter when Redis stalls or goes away (docs/scale-out.md, "Outages").

A private `redis-server` (tests/support/outage.py) is paused with SIGSTOP: its sockets stay open and nothing
answers, the worst case for a client. The contract: commands fail as AdapterUnavailable within the timeout,
bus messages wait in a bounded buffer and reach the other nodes once, in order, when Redis answers again, and
nobody is declared dead for having been paused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.adapters.conftest import Received
from tests.support.outage import PrivateRedis
from tidings.adapters import AdapterUnavailable, bus
from tidings.adapters.base import Member
from tidings.adapters.redis import RedisAdapter

pytestmark = pytest.mark.slow  # a private Redis server, paused and stopped for seconds

APP = "app1"
TIMEOUT = 1.0  # the adapters' Redis timeout in these tests

Make = Callable[..., Awaitable[tuple[RedisAdapter, Received]]]


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    with PrivateRedis.running() as server:
        yield server


@pytest.fixture
async def make(private_redis: PrivateRedis) -> AsyncIterator[Make]:
    """Nodes on the private Redis; Redis is resumed before they are closed."""
    nodes: list[RedisAdapter] = []

    async def _make(**kwargs: Any) -> tuple[RedisAdapter, Received]:
        received: Received = []
        node = RedisAdapter(private_redis.url, prefix="outage", timeout=TIMEOUT, **kwargs)
        await node.start(lambda m, own: received.append((m, own)))
        nodes.append(node)
        return node, received

    yield _make
    private_redis.resume()
    for node in nodes:
        await node.close()


async def until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def published(received: Received) -> list[str]:
    return [m.data for m, _ in received if isinstance(m, bus.Publish)]


# -- the buffer --------------------------------------------------------------------------------


async def test_messages_sent_during_a_pause_arrive_once_and_in_order(
    make: Make, private_redis: PrivateRedis
) -> None:
    a, got_a = await make()
    b, got_b = await make()
    c, got_c = await make()
    a.broadcast(bus.Publish(APP, "e", ("x",), "before"))
    await until(lambda: published(got_b) == ["before"], "the first message")
    private_redis.pause()
    # 8 s: longer than redis-py's own default timeout (5 s) too. Several publish attempts time out
    # meanwhile, and each may still reach Redis when it resumes: receivers must drop the repeats.
    for i in range(40):
        a.broadcast(bus.Publish(APP, "e", ("x",), str(i)))
        await asyncio.sleep(0.2)
    assert a.pending >= 30
    private_redis.resume()
    want = ["before", *map(str, range(40))]
    await until(lambda: published(got_b) == want and published(got_c) == want, "every message on b and c")
    await until(lambda: a.pending == 0, "a's buffer empty")
    await asyncio.sleep(0.5)  # duplicates, if any, would have arrived by now
    assert published(got_b) == want and published(got_c) == want
    assert got_a == []
    print(f"duplicates dropped: b {b.duplicates}, c {c.duplicates}")


def test_broadcast_refuses_when_the_buffer_is_full_and_queues_nothing() -> None:
    # Not started: nothing drains the buffer, so its bounds are all that is tested.
    node = RedisAdapter("redis://127.0.0.1:1/0", buffer_messages=3, buffer_bytes=10_000)
    for i in range(3):
        node.broadcast(bus.Publish(APP, "e", ("x",), str(i)))
    with pytest.raises(AdapterUnavailable, match="3 bus messages"):
        node.broadcast(bus.Publish(APP, "e", ("x",), "3"))
    assert node.pending == 3 and node._seq == 3  # the refused message took no sequence number

    by_bytes = RedisAdapter("redis://127.0.0.1:1/0", buffer_messages=1000, buffer_bytes=300)
    by_bytes.broadcast(bus.Publish(APP, "e", ("x",), "a" * 150))
    with pytest.raises(AdapterUnavailable):
        by_bytes.broadcast(bus.Publish(APP, "e", ("x",), "b" * 150))
    by_bytes.broadcast(bus.Publish(APP, "e", ("x",), "small"))  # what fits still goes
    assert by_bytes.pending == 2


async def test_a_full_buffer_refuses_until_redis_takes_it(make: Make, private_redis: PrivateRedis) -> None:
    a, _ = await make(buffer_messages=5)
    b, got_b = await make()
    private_redis.pause()
    for i in range(5):
        a.broadcast(bus.Publish(APP, "e", ("x",), str(i)))
    with pytest.raises(AdapterUnavailable):
        a.broadcast(bus.Publish(APP, "e", ("x",), "refused"))
    private_redis.resume()
    await until(lambda: a.pending == 0, "the buffer sent")
    a.broadcast(bus.Publish(APP, "e", ("x",), "after"))
    await until(lambda: published(got_b) == ["0", "1", "2", "3", "4", "after"], "all but the refused one")


# -- receiving: duplicates and gaps ------------------------------------------------------------------


async def test_receivers_drop_what_they_have_seen(
    make: Make, private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    b, got_b = await make()
    raw = aioredis.from_url(private_redis.url)

    async def send(node: str, seq: int, data: str) -> None:
        await raw.publish("outage:bus", bus.encode(bus.Publish(APP, "e", ("x",), data), node, seq))

    try:
        with caplog.at_level(logging.WARNING, "tidings.adapters.redis"):
            for node, seq, data in [("n1", 1, "a"), ("n1", 1, "a again"), ("n1", 2, "b"), ("n2", 1, "other node"),
                                    ("n1", 1, "old"), ("n1", 3, "c"), ("n1", 6, "after a gap"), ("n1", 5, "late")]:
                await send(node, seq, data)
            await send("n2", 2, "last")
            await until(lambda: "last" in published(got_b), "the last message")
    finally:
        await raw.aclose()
    assert published(got_b) == ["a", "b", "other node", "c", "after a gap", "last"]
    assert any("missed 2 bus message(s) from node n1" in r.getMessage() for r in caplog.records)


# -- commands fail fast -------------------------------------------------------------------------


async def all_calls(node: RedisAdapter) -> dict[str, Awaitable[Any]]:
    member = Member("alice", None, 100)
    return {
        "join": node.join(APP, "presence-x", member, False),
        "leave": node.leave(APP, "presence-x", "alice"),
        "members": node.members(APP, "presence-x"),
        "channels": node.channels(APP),
        "channel": node.channel(APP, "x"),
        "sign_in": node.sign_in(APP, "alice", ("bob",)),
        "online": node.online(APP, ("bob",)),
        "sign_out": node.sign_out(APP, "alice"),
        "set_cached": node.set_cached(APP, "cache-x", "e", "{}"),
        "cached": node.cached(APP, "cache-x"),
    }


async def check_all_unavailable(node: RedisAdapter) -> None:
    for name, call in (await all_calls(node)).items():
        started = time.monotonic()
        with pytest.raises(AdapterUnavailable):
            await asyncio.wait_for(call, 30)  # a hang fails here, not the suite
        took = time.monotonic() - started
        assert took < 2 * TIMEOUT + 3, f"{name} took {took:.1f}s"  # connect + read timeouts at most
    started = time.monotonic()
    assert await node.ping() is False
    assert time.monotonic() - started < 2 * TIMEOUT + 3


async def test_every_call_fails_as_unavailable_while_redis_is_paused(make: Make, private_redis: PrivateRedis) -> None:
    node, _ = await make()
    await node.join(APP, "x", None, False)
    private_redis.pause()
    await check_all_unavailable(node)
    private_redis.resume()
    assert (await node.channel(APP, "x")).subscription_count == 1  # and it works again


async def test_every_call_fails_as_unavailable_when_redis_is_gone(make: Make, private_redis: PrivateRedis) -> None:
    node, _ = await make()
    private_redis.kill()
    await check_all_unavailable(node)


async def test_start_fails_fast_on_a_paused_redis(private_redis: PrivateRedis) -> None:
    private_redis.pause()
    node = RedisAdapter(private_redis.url, prefix="outage", timeout=TIMEOUT)
    started = time.monotonic()
    with pytest.raises(AdapterUnavailable):
        await asyncio.wait_for(node.start(lambda m, own: None), 30)
    assert time.monotonic() - started < 2 * TIMEOUT + 3


# -- dead nodes -----------------------------------------------------------------------------------


async def test_a_pause_longer_than_dead_after_declares_nobody_dead(make: Make, private_redis: PrivateRedis) -> None:
    fast = {"heartbeat_interval": 0.2, "dead_after": 1.0}
    a, got_a = await make(**fast)
    b, got_b = await make(**fast)
    c, got_c = await make(**fast)
    await b.join(APP, "news", None, False)
    private_redis.pause()
    await asyncio.sleep(3.0)  # three times dead_after: every heartbeat is stale when Redis answers again
    private_redis.resume()
    await asyncio.sleep(3.0)
    assert (a.cleaned, b.cleaned, c.cleaned) == ([], [], [])
    assert not [m for m, _ in got_a + got_b + got_c if isinstance(m, bus.Reset)]
    assert await a.channels(APP) == {"news": 1}

    # A node that really died afterwards is still found out, once the others' heartbeats run again.
    for task in c._tasks:
        task.cancel()
    await until(lambda: bool(a.cleaned or b.cleaned), "a survivor cleaned the dead node", 10)
    assert (a.cleaned or b.cleaned) == [c.node_id]


# -- closing ------------------------------------------------------------------------------------


class SwallowingPipeline:
    """A publish that never answers and, when cancelled, returns instead of raising: redis-py can swallow a
    cancellation that lands inside one of its calls (seen as close() hanging for good on its writer task)."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def __aenter__(self) -> SwallowingPipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def publish(self, channel: str, body: bytes) -> None:
        return None

    async def execute(self) -> list[Any]:
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return []
        return []


async def test_close_ends_even_if_a_cancellation_is_swallowed(private_redis: PrivateRedis) -> None:
    node = RedisAdapter(private_redis.url, prefix="outage", timeout=TIMEOUT)
    await node.start(lambda m, own: None)
    real = node._redis.pipeline
    stuck = SwallowingPipeline()
    calls = iter([stuck])
    node._redis.pipeline = lambda transaction=True: next(calls, None) or real(transaction=transaction)  # type: ignore[method-assign]
    node.broadcast(bus.Publish(APP, "e", ("x",), "0"))
    await asyncio.wait_for(stuck.entered.wait(), 10)
    started = time.monotonic()
    await asyncio.wait_for(node.close(), 30)  # (a cancellation by wait_for itself may be swallowed too)
    assert time.monotonic() - started < TIMEOUT + 3
