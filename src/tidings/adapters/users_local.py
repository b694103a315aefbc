"""The single-process half of adapters/users.py: dicts, nothing suspends (mixed into LocalAdapter)."""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from typing import Any

from tidings.adapters.users import MembersPage, OnlineUser, UserPresence, UsersPage


class LocalUserState:
    # Shared with LocalAdapter, which owns them.
    _users: dict[tuple[str, str], int]
    _presence: dict[tuple[str, str], dict[str, list[Any]]]
    # Ours.
    _since: dict[tuple[str, str], float]
    _connections: dict[str, int]
    _per_user: dict[tuple[str, str], dict[str, None]]  # (app, user) -> socket ids, oldest first
    _windows: dict[tuple[str, str], tuple[float, int]]  # (app, user) -> (window start, events in it)
    _wall: Callable[[], float]
    _mono: Callable[[], float]

    def init_user_state(self) -> None:
        self._since = {}
        self._connections = {}
        self._per_user = {}
        self._windows = {}
        self._wall = time.time
        self._mono = time.monotonic

    def user_came_online(self, app_id: str, user_id: str) -> None:
        self._since[(app_id, user_id)] = self._wall()

    def user_went_offline(self, app_id: str, user_id: str) -> None:
        self._since.pop((app_id, user_id), None)

    async def admit(self, app_id: str, limit: int) -> bool:
        n = self._connections.get(app_id, 0)
        if n >= limit:
            return False
        self._connections[app_id] = n + 1
        return True

    async def release(self, app_id: str) -> None:
        n = self._connections.get(app_id, 0) - 1
        if n > 0:
            self._connections[app_id] = n
        else:
            self._connections.pop(app_id, None)

    async def track_connection(self, app_id: str, user_id: str, socket_id: str, limit: int) -> list[str]:
        sockets = self._per_user.setdefault((app_id, user_id), {})
        sockets[socket_id] = None
        over = len(sockets) - limit
        if over <= 0:
            return []
        oldest = list(sockets)[:over]
        for sid in oldest:
            del sockets[sid]
        return oldest

    async def untrack_connection(self, app_id: str, user_id: str, socket_id: str) -> None:
        key = (app_id, user_id)
        sockets = self._per_user.get(key)
        if sockets is not None:
            sockets.pop(socket_id, None)
            if not sockets:
                del self._per_user[key]

    async def client_event_allowed(self, app_id: str, user_id: str, limit: int) -> bool:
        key = (app_id, user_id)
        now = self._mono()
        start, n = self._windows.get(key, (now, 0))
        if now - start >= 1.0:
            start, n = now, 0
        self._windows[key] = (start, n + 1)
        if len(self._windows) > 100_000:  # forget finished windows now and then: bounded memory
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < 1.0}
        return n + 1 <= limit

    async def online_users(self, app_id: str, cursor: str | None, limit: int) -> UsersPage:
        ids = sorted(u for (a, u) in self._users if a == app_id)
        ids_after, more = _after(ids, cursor, limit)
        users = [OnlineUser(u, self._users[(app_id, u)]) for u in ids_after]
        return UsersPage(users, ids_after[-1] if more else None, len(ids))

    async def user_presence(self, app_id: str, user_id: str) -> UserPresence | None:
        n = self._users.get((app_id, user_id), 0)
        if n <= 0:
            return None
        return UserPresence(n, self._since.get((app_id, user_id), 0.0))

    async def members_page(self, app_id: str, channel: str, cursor: str | None, limit: int) -> MembersPage:
        ids = sorted(self._presence.get((app_id, channel), {}))
        page, more = _after(ids, cursor, limit)
        return MembersPage(page, page[-1] if more else None, len(ids))


def _after(ids: list[str], cursor: str | None, limit: int) -> tuple[list[str], bool]:
    """Up to `limit` of the sorted ids after `cursor`, and whether more follow."""
    start = bisect.bisect_right(ids, cursor) if cursor is not None else 0
    page = ids[start : start + limit]
    return page, start + limit < len(ids)
