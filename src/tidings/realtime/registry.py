"""Apps by key and by id, read from storage and reused for a short time.

Lookups happen on every connect and every HTTP API call; a short TTL keeps them off the database
while `tidings apps disable` still takes effect within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from tidings.channels.apps import App
from tidings.storage import AppStore


class AppRegistry:
    def __init__(self, store: AppStore, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._by_key: dict[str, tuple[float, App | None]] = {}
        self._by_id: dict[str, tuple[float, App | None]] = {}
        self._known: dict[str, App] = {}

    async def by_key(self, key: str) -> App | None:
        return await self._get(self._by_key, key, self._store.get_by_key)

    async def by_id(self, app_id: str) -> App | None:
        return await self._get(self._by_id, app_id, self._store.get)

    def known(self, app_id: str) -> App | None:
        """The app as last loaded, without I/O: for synchronous listeners such as webhooks."""
        return self._known.get(app_id)

    async def _get(
        self,
        cache: dict[str, tuple[float, App | None]],
        k: str,
        load: Callable[[str], Awaitable[App | None]],
    ) -> App | None:
        now = self._clock()
        hit = cache.get(k)
        if hit is not None and hit[0] > now:
            return hit[1]
        app = await load(k)
        if len(cache) > 10_000:
            cache.clear()  # bound memory against floods of unknown keys
        cache[k] = (now + self._ttl, app)
        if app is not None:
            self._known[app.id] = app
        return app
