"""Adapters under one contract: the in-process one and Redis (the real server at 127.0.0.1:6379, never faked).

Each Redis test gets its own key prefix and deletes its keys afterwards. If Redis is down, tests fail
with a message saying so (they are not skipped).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from tidings.adapters import Adapter, AdapterUnavailable, LocalAdapter
from tidings.adapters.bus import BusMessage
from tidings.adapters.redis import RedisAdapter

REDIS_URL = "redis://127.0.0.1:6379/0"

Received = list[tuple[BusMessage, bool]]
MakeNode = Callable[..., Awaitable[tuple[RedisAdapter, Received]]]


async def start_redis(prefix: str, **kwargs: Any) -> tuple[RedisAdapter, Received]:
    received: Received = []
    adapter = RedisAdapter(REDIS_URL, prefix=prefix, **kwargs)
    try:
        await adapter.start(lambda m, own: received.append((m, own)))
    except AdapterUnavailable as exc:
        pytest.fail(f"Redis at {REDIS_URL} is not reachable (the adapter tests need it): {exc}", pytrace=False)
    return adapter, received


async def drop_keys(prefix: str) -> None:
    client = aioredis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"tidings-test-{secrets.token_hex(4)}"


@pytest.fixture(params=["local", "redis"])
async def adapter(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[Adapter]:
    if request.param == "local":
        yield LocalAdapter(cache_ttl=60)
        return
    node, _ = await start_redis(prefix, cache_ttl=60)
    try:
        yield node
    finally:
        await node.close()
        await drop_keys(prefix)


@pytest.fixture
async def make_node(prefix: str) -> AsyncIterator[MakeNode]:
    """Several Redis adapters sharing one prefix: the nodes of one cluster."""
    nodes: list[RedisAdapter] = []

    async def _make(**kwargs: Any) -> tuple[RedisAdapter, Received]:
        node, received = await start_redis(prefix, **kwargs)
        nodes.append(node)
        return node, received

    yield _make
    for node in nodes:
        await node.close()
    await drop_keys(prefix)
