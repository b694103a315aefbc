"""A small async read-through cache with a time to live, for rows read on hot request paths.

Apps and Beams instances are read on every connect or API call; a short TTL keeps those reads off the
database while changes made with the CLI still take effect within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    def __init__(
        self,
        load: Callable[[str], Awaitable[V | None]],
        ttl: float,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, V | None]] = {}

    async def get(self, key: str) -> V | None:
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await self._load(key)
        if len(self._entries) >= self._max:
            self._entries.clear()  # bounds memory against floods of unknown keys
        self._entries[key] = (now + self._ttl, value)
        return value
