"""Apps by key and by id, read from storage through a short-lived cache (see tidings.ttlcache).

While the database is down, an app that was read before is served from its last copy (new connections and
API calls keep working); an app never read fails as the storage error says.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tidings.channels.apps import App
from tidings.storage import AppStore
from tidings.ttlcache import TTLCache


class AppRegistry:
    def __init__(self, store: AppStore, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._by_key = TTLCache(store.get_by_key, ttl, clock=clock, what="app with key")
        self._by_id = TTLCache(store.get, ttl, clock=clock, what="app")
        self._known: dict[str, App] = {}

    async def by_key(self, key: str) -> App | None:
        return self._remember(await self._by_key.get(key))

    async def by_id(self, app_id: str) -> App | None:
        return self._remember(await self._by_id.get(app_id))

    def known(self, app_id: str) -> App | None:
        """The app as last loaded, without I/O: for synchronous listeners such as webhooks."""
        return self._known.get(app_id)

    def _remember(self, app: App | None) -> App | None:
        if app is not None:
            self._known[app.id] = app
        return app
