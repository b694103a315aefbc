"""Redis' errors as ours, for every module that talks to Redis (the adapter, the mailbox, the users' state)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from redis.exceptions import RedisError

from tidings.adapters.base import AdapterUnavailable


@contextlib.contextmanager
def unavailable() -> Iterator[None]:
    """Redis errors (timeouts included: redis' TimeoutError is a RedisError, asyncio's an OSError) become
    AdapterUnavailable, which the HTTP API answers with 503."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise AdapterUnavailable(f"Redis did not answer: {exc}") from exc
