"""The single-process adapter: the cluster is this process, so the shared state is a few dicts.

Nothing here suspends: the hub's `await adapter.join(...)` runs straight through, so one node behaves
exactly as it did before adapters existed (same order of frames, no extra event-loop turns).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tidings.adapters.base import Cached, ChannelInfo, Joined, Left, Member, Message, Sink
from tidings.adapters.users_local import LocalUserState


@dataclass(slots=True)
class _Entry:
    event: str
    data: str
    expires_at: float


class LocalAdapter(LocalUserState):
    shared = False

    def __init__(self, *, cache_ttl: float = 1800.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.node_id = "local"
        self._cache_ttl = cache_ttl
        self._clock = clock
        self._counts: dict[tuple[str, str], int] = {}
        # (app, channel) -> user id -> [socket count, user_info]; dicts keep join order for the roster.
        self._presence: dict[tuple[str, str], dict[str, list[Any]]] = {}
        self._users: dict[tuple[str, str], int] = {}
        self._cache: dict[tuple[str, str], _Entry] = {}
        self.init_user_state()

    async def start(self, sink: Sink) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    def broadcast(self, message: Message) -> None:
        return None  # there is no other node

    async def join(self, app_id: str, channel: str, member: Member | None, cache: bool) -> Joined:
        key = (app_id, channel)
        first = False
        members: dict[str, Any] = {}
        if member is not None:
            roster = self._presence.setdefault(key, {})
            entry = roster.get(member.user_id)
            if entry is None:
                if len(roster) >= member.limit:
                    if not roster:
                        del self._presence[key]
                    return Joined(self._counts.get(key, 0), full=True)
                roster[member.user_id] = [1, member.user_info]
                first = True
            else:
                entry[0] += 1
            if member.roster_up_to is None or len(roster) <= member.roster_up_to:
                members = {uid: e[1] for uid, e in roster.items()}
        count = self._counts[key] = self._counts.get(key, 0) + 1
        return Joined(count, first, False, members, await self.cached(app_id, channel) if cache else None,
                      member_count=len(self._presence.get(key, ())))

    async def leave(self, app_id: str, channel: str, user_id: str | None) -> Left:
        key = (app_id, channel)
        last = False
        if user_id is not None:
            roster = self._presence.get(key)
            entry = roster.get(user_id) if roster is not None else None
            if roster is not None and entry is not None:
                entry[0] -= 1
                if entry[0] <= 0:
                    del roster[user_id]
                    last = True
                    if not roster:
                        del self._presence[key]
        members = len(self._presence.get(key, ()))
        if key not in self._counts:
            return Left(0, last, member_count=members)
        count = self._counts[key] - 1
        if count <= 0:
            del self._counts[key]
            return Left(0, last, vacated=True, member_count=members)
        self._counts[key] = count
        return Left(count, last, member_count=members)

    async def members(self, app_id: str, channel: str) -> dict[str, Any]:
        return {uid: e[1] for uid, e in self._presence.get((app_id, channel), {}).items()}

    async def channels(self, app_id: str) -> dict[str, int]:
        return {ch: n for (app, ch), n in self._counts.items() if app == app_id}

    async def channel(self, app_id: str, channel: str) -> ChannelInfo:
        key = (app_id, channel)
        return ChannelInfo(self._counts.get(key, 0), len(self._presence.get(key, ())))

    async def subscribed(self, app_id: str, channels: Sequence[str]) -> set[str]:
        return {ch for ch in channels if self._counts.get((app_id, ch), 0) > 0}

    async def sign_in(self, app_id: str, user_id: str, watchlist: tuple[str, ...]) -> tuple[bool, set[str]]:
        key = (app_id, user_id)
        n = self._users[key] = self._users.get(key, 0) + 1
        if n == 1:
            self.user_came_online(app_id, user_id)
        return n == 1, {w for w in watchlist if (app_id, w) in self._users}

    async def online(self, app_id: str, user_ids: tuple[str, ...]) -> set[str]:
        return {u for u in user_ids if (app_id, u) in self._users}

    async def sign_out(self, app_id: str, user_id: str) -> bool:
        key = (app_id, user_id)
        n = self._users.get(key, 0) - 1
        if n > 0:
            self._users[key] = n
            return False
        self.user_went_offline(app_id, user_id)
        return self._users.pop(key, None) is not None

    async def set_cached(self, app_id: str, channel: str, event: str, data: str) -> None:
        self._cache[(app_id, channel)] = _Entry(event, data, self._clock() + self._cache_ttl)

    async def cached(self, app_id: str, channel: str) -> Cached | None:
        entry = self._cache.get((app_id, channel))
        if entry is None:
            return None
        left = entry.expires_at - self._clock()
        if left <= 0:
            del self._cache[(app_id, channel)]
            return None
        return Cached(entry.event, entry.data, left)
