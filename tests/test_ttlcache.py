"""The read-through cache of apps and Beams instances: TTL, one load per key at a time, and the last copy
served while the database errors (retried after an interval, warned about once per outage)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from tidings.errors import StorageError
from tidings.ttlcache import TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Store:
    """A loader whose answers the test controls: a value, an error, or a wait at a gate."""

    def __init__(self) -> None:
        self.values: dict[str, str | None] = {}
        self.down = False
        self.gate: asyncio.Event | None = None
        self.calls: list[str] = []

    async def load(self, key: str) -> str | None:
        self.calls.append(key)
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise StorageError("reading app: connection refused")
        return self.values.get(key)


@pytest.fixture
def store() -> Store:
    s = Store()
    s.values = {"a": "app-a", "b": "app-b"}
    return s


async def test_reads_once_per_ttl(store: Store) -> None:
    clock = Clock()
    cache = TTLCache(store.load, 5, clock=clock)
    assert await cache.get("a") == "app-a"
    clock.now += 4.9
    store.values["a"] = "app-a2"
    assert await cache.get("a") == "app-a"
    assert store.calls == ["a"]
    clock.now += 0.2
    assert await cache.get("a") == "app-a2"
    assert await cache.get("nope") is None and await cache.get("nope") is None  # unknown keys are cached too
    assert store.calls == ["a", "a", "nope"]


async def test_concurrent_callers_share_one_load(store: Store) -> None:
    cache = TTLCache(store.load, 5)
    store.gate = asyncio.Event()
    waiting = [asyncio.create_task(cache.get("a")) for _ in range(20)]
    await asyncio.sleep(0.01)
    store.gate.set()
    assert await asyncio.gather(*waiting) == ["app-a"] * 20
    assert store.calls == ["a"]


async def test_last_copy_served_while_storage_errors(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    cache = TTLCache(store.load, 5, clock=clock, retry_interval=1.0, what="app")
    assert await cache.get("a") == "app-a"
    store.down = True
    clock.now += 10
    with caplog.at_level(logging.WARNING, "tidings.ttlcache"):
        for _ in range(50):
            assert await cache.get("a") == "app-a"
        assert store.calls == ["a", "a"]  # one failed load, not one per request
        clock.now += 1.01
        for _ in range(50):
            assert await cache.get("a") == "app-a"
        assert store.calls == ["a", "a", "a"]  # retried after the interval
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings  # once per key per outage
    assert "app 'a'" in warnings[0].getMessage() and "connection refused" in warnings[0].getMessage()

    store.down = False
    store.values["a"] = "app-a2"
    clock.now += 1.01
    assert await cache.get("a") == "app-a2"  # back: fresh again, and cached for the TTL
    assert await cache.get("a") == "app-a2"
    assert store.calls == ["a"] * 4

    store.down = True  # a second outage warns again
    clock.now += 10
    caplog.clear()
    with caplog.at_level(logging.WARNING, "tidings.ttlcache"):
        assert await cache.get("a") == "app-a2"
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


async def test_a_key_never_read_still_fails(store: Store) -> None:
    clock = Clock()
    cache = TTLCache(store.load, 5, clock=clock)
    store.down = True
    with pytest.raises(StorageError):
        await cache.get("a")
    with pytest.raises(StorageError):  # tried again, not remembered as a failure
        await cache.get("a")
    assert store.calls == ["a", "a"]
    store.down = False
    assert await cache.get("a") == "app-a"


async def test_concurrent_callers_of_a_key_never_read_share_the_failure(store: Store) -> None:
    cache = TTLCache(store.load, 5)
    store.down = True
    store.gate = asyncio.Event()
    waiting = [asyncio.create_task(cache.get("a")) for _ in range(5)]
    await asyncio.sleep(0.01)
    store.gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, StorageError) for r in results), results
    assert store.calls == ["a"]


async def test_a_hanging_load_holds_callers_up_for_stale_wait_at_most(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    # stale_wait well above what a loaded machine's pauses add, so "waited" and "did not wait" stay apart.
    cache = TTLCache(store.load, 5, clock=clock, stale_wait=1.0)
    assert await cache.get("a") == "app-a"
    store.gate = asyncio.Event()  # a paused database: the load never answers
    clock.now += 10
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, "tidings.ttlcache"):
        assert await cache.get("a") == "app-a"
        assert 0.95 <= time.monotonic() - started < 30
        clock.now += 1.1  # past stale_wait since the load started: no more waiting while it hangs
        started = time.monotonic()
        assert await cache.get("a") == "app-a"
        assert time.monotonic() - started < 0.5
    assert store.calls == ["a", "a"]  # still the one load
    assert len([r for r in caplog.records if "takes longer" in r.getMessage()]) == 1
    store.values["a"] = "app-a2"
    store.gate.set()
    await asyncio.sleep(0.01)
    assert await cache.get("a") == "app-a2"
    assert store.calls == ["a", "a"]


async def test_a_caller_that_gives_up_does_not_cancel_the_shared_load(store: Store) -> None:
    cache = TTLCache(store.load, 5)
    store.gate = asyncio.Event()
    first = asyncio.create_task(cache.get("a"))
    second = asyncio.create_task(cache.get("a"))
    await asyncio.sleep(0.01)
    first.cancel()
    store.gate.set()
    assert await second == "app-a"
    assert store.calls == ["a"]


async def test_a_flood_of_unknown_keys_does_not_evict_the_known_ones(store: Store) -> None:
    clock = Clock()
    cache = TTLCache(store.load, 5, clock=clock, max_entries=10)
    assert await cache.get("a") == "app-a"
    for i in range(30):
        assert await cache.get(f"unknown-{i}") is None
    store.down = True
    clock.now += 10
    assert await cache.get("a") == "app-a"  # its copy survived the flood
