"""Cross-node state for Channels: the in-process adapter (default) and Redis (scale-out)."""

from __future__ import annotations

from tidings.adapters.base import Adapter, AdapterUnavailable
from tidings.adapters.local import LocalAdapter

__all__ = ["Adapter", "AdapterUnavailable", "LocalAdapter", "open_adapter"]


def open_adapter(
    redis_url: str | None,
    *,
    prefix: str = "tidings",
    cache_ttl: float = 1800.0,
    heartbeat_interval: float = 2.0,
    dead_after: float = 10.0,
    timeout: float = 3.0,
    buffer_messages: int = 10_000,
    buffer_bytes: int = 16 * 2**20,
) -> Adapter:
    """The adapter for this configuration. `timeout` bounds every Redis command; `buffer_messages` and
    `buffer_bytes` bound the bus messages kept while Redis does not answer (see adapters/redis.py)."""
    if not redis_url:
        return LocalAdapter(cache_ttl=cache_ttl)
    from tidings.adapters.redis import RedisAdapter  # only scale-out setups import redis

    return RedisAdapter(
        redis_url, prefix=prefix, cache_ttl=cache_ttl, heartbeat_interval=heartbeat_interval,
        dead_after=dead_after, timeout=timeout, buffer_messages=buffer_messages, buffer_bytes=buffer_bytes,
    )
