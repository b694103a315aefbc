"""Per-user timelines: the last events that concerned each user, kept whether or not a console is open, so
the timeline of a user who is offline now is still there.

Bounds (docs/console.md): at most `per_user` entries per user (the oldest dropped first); in memory (one node),
at most `max_bytes` of entries over all users, the least recently active users dropped first; in Redis
(scale-out, `RedisTimeline` in cluster.py), each user's list is trimmed to `per_user` and expires `ttl` seconds
after the user's last entry. Entries are the console records' JSON; newest first when read.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Protocol

PER_USER = 200
MAX_BYTES = 32 * 1024 * 1024
OVERHEAD = 100  # bytes per entry beyond its JSON: the bytes object and its deque slot

Key = tuple[str, str, str]  # product, scope (app id or instance id), user id


class Timeline(Protocol):
    def add(self, key: Key, body: bytes) -> None:
        """Synchronous and cheap: called from the event stream."""
        ...

    async def get(self, key: Key, limit: int) -> list[bytes]:
        """The user's last `limit` entries, newest first."""
        ...

    async def close(self) -> None: ...


class MemoryTimeline:
    def __init__(self, per_user: int = PER_USER, max_bytes: int = MAX_BYTES) -> None:
        self.per_user = per_user
        self.max_bytes = max_bytes
        self.size = 0
        self._users: OrderedDict[Key, deque[bytes]] = OrderedDict()

    def add(self, key: Key, body: bytes) -> None:
        entries = self._users.pop(key, None)
        if entries is None:
            entries = deque()
        if len(entries) >= self.per_user:
            self.size -= len(entries.popleft()) + OVERHEAD
        entries.append(body)
        self.size += len(body) + OVERHEAD
        self._users[key] = entries  # most recently active last
        while self.size > self.max_bytes and self._users:
            _, dropped = self._users.popitem(last=False)
            self.size -= sum(len(b) + OVERHEAD for b in dropped)

    async def get(self, key: Key, limit: int) -> list[bytes]:
        entries = self._users.get(key)
        if not entries:
            return []
        return list(reversed(entries))[:limit]

    @property
    def users(self) -> int:
        return len(self._users)

    async def close(self) -> None:
        self._users.clear()
        self.size = 0
