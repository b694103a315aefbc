"""The offline user mailbox behind one Protocol, and its single-process implementation (the database).

The one rule every implementation keeps: "is anyone subscribed to `#server-to-user-{id}`?" and "keep the
event" are one atomic step with respect to "subscribe" and "take the mailbox", so an event is either delivered
live or kept and replayed, never both and never neither:

- `keep` keeps the event for those of the users with no subscription anywhere, and says which; the caller
  publishes it live to the others.
- a subscription to the user channel runs its adapter join and its `take` inside `joining(...)`: a `keep`
  decided before the join is in what `take` reads; one decided after it sees the subscription and goes live.

`DatabaseMailbox` (here) is for one process (the in-process adapter, whose counts are this process's): one
asyncio lock per (app, user) makes check+insert and join+take atomic, the rows live in the database
(storage/mailbox.py). `RedisMailbox` (adapters/mailbox_redis.py) keeps them in Redis next to the adapter's
counts and gets atomicity from Lua scripts. Both pass tests/adapters/test_mailbox_contract.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from tidings.adapters.base import Adapter
from tidings.channels import names
from tidings.channels.apps import App
from tidings.channels.mailbox import Expired, Kept, Taken, new_entry

Clock = Callable[[], float]  # seconds since the epoch


class Mailbox(Protocol):
    async def keep(self, app: App, user_ids: Sequence[str], event: str, data: str) -> dict[str, int]:
        """Keep the event for each user with no subscription to their user channel anywhere. Returns the
        users it was kept for, each with how many older entries were dropped to stay within the app's
        `user_mailbox_events`; the others are reachable, and the caller delivers live to them. Raises
        AdapterUnavailable or StorageError (nothing kept) when the store does not answer."""
        ...

    def joining(self, app_id: str, user_id: str) -> AbstractAsyncContextManager[None]:
        """Around a connection's adapter join of the user channel and its `take`."""
        ...

    async def take(self, app_id: str, user_id: str) -> Taken:
        """Remove and return the user's entries, oldest first; expired ones are dropped and counted."""
        ...

    async def put_back(self, app: App, user_id: str, entries: Sequence[Kept]) -> int:
        """Entries taken for a subscription that did not complete (the connection closed meanwhile), back
        in front of the mailbox; called while that subscription still counts. Returns how many were dropped
        beyond the limit."""
        ...

    async def sweep(self) -> list[Expired]:
        """Drop every expired entry (idempotent: any node, any time); returns what was dropped, per user."""
        ...

    async def peek(self, app_id: str, user_id: str, limit: int) -> list[Kept]:
        """The user's first `limit` entries, oldest first, left in place (expired ones not yet swept included)."""
        ...

    async def count(self, app_id: str, user_id: str) -> int:
        """Entries kept for the user (expired ones not yet swept included)."""
        ...

    async def close(self) -> None: ...


class KeyedLocks:
    """One asyncio.Lock per key, created on demand and forgotten once nobody holds or waits for it."""

    __slots__ = ("_locks",)

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, list[int]]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, keys: Sequence[tuple[str, str]]) -> AsyncIterator[None]:
        """All of `keys`, taken in sorted order (two callers never wait for each other in a cycle)."""
        ordered = sorted(set(keys))
        entries = []
        for key in ordered:
            entry = self._locks.get(key)
            if entry is None:
                entry = self._locks[key] = (asyncio.Lock(), [0])
            entry[1][0] += 1  # users (holders and waiters) of this lock
            entries.append((key, entry))
        taken: list[asyncio.Lock] = []
        try:
            for _, (lock, _users) in entries:
                await lock.acquire()
                taken.append(lock)
            yield
        finally:
            for lock in taken:
                lock.release()
            for key, (_lock, users) in entries:
                users[0] -= 1
                if users[0] == 0:
                    del self._locks[key]


class DatabaseMailbox:
    """The mailbox of a single process: rows in the database, decisions under per-user locks.

    The subscription counts it checks are the in-process adapter's (LocalAdapter answers without suspending);
    with a shared adapter the lock would not cover the other nodes: use RedisMailbox there."""

    def __init__(self, store: MailboxRows, adapter: Adapter, *, clock: Clock = time.time) -> None:
        if adapter.shared:
            raise ValueError("DatabaseMailbox needs the in-process adapter; use RedisMailbox with Redis")
        self._store = store
        self._adapter = adapter
        self._clock = clock
        self._locks = KeyedLocks()

    async def keep(self, app: App, user_ids: Sequence[str], event: str, data: str) -> dict[str, int]:
        if not user_ids:
            return {}
        async with self._locks.hold([(app.id, u) for u in user_ids]):
            offline = [
                u for u in user_ids
                if (await self._adapter.channel(app.id, names.USER_CHANNEL_PREFIX + u)).subscription_count == 0
            ]
            if not offline:
                return {}
            now = self._clock()
            return await self._store.add(
                app.id, offline, new_entry(app, event, data, now), app.limits.user_mailbox_events, now
            )

    def joining(self, app_id: str, user_id: str) -> AbstractAsyncContextManager[None]:
        return self._locks.hold([(app_id, user_id)])

    async def take(self, app_id: str, user_id: str) -> Taken:
        return split_expired(await self._store.take(app_id, user_id), self._clock())

    async def put_back(self, app: App, user_id: str, entries: Sequence[Kept]) -> int:
        now = self._clock()
        return await self._store.put_back(app.id, user_id, entries, app.limits.user_mailbox_events, now)

    async def sweep(self) -> list[Expired]:
        return await self._store.expire(self._clock())

    async def peek(self, app_id: str, user_id: str, limit: int) -> list[Kept]:
        return await self._store.peek(app_id, user_id, limit)

    async def count(self, app_id: str, user_id: str) -> int:
        return await self._store.count(app_id, user_id)

    async def close(self) -> None:
        return None


class MailboxRows(Protocol):
    """What DatabaseMailbox needs of storage/mailbox.py's MailboxStore."""

    async def add(self, app_id: str, user_ids: Sequence[str], entry: Kept, limit: int, now: float) -> dict[str, int]:
        ...

    async def take(self, app_id: str, user_id: str) -> list[Kept]: ...

    async def put_back(self, app_id: str, user_id: str, entries: Sequence[Kept], limit: int, now: float) -> int: ...

    async def expire(self, now: float) -> list[Expired]: ...

    async def peek(self, app_id: str, user_id: str, limit: int) -> list[Kept]: ...

    async def count(self, app_id: str, user_id: str) -> int: ...


def split_expired(entries: list[Kept], now: float) -> Taken:
    live = [e for e in entries if e.expires_at > now]
    return Taken(live, len(entries) - len(live))
