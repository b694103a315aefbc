"""A small async read-through cache with a time to live, for rows read on hot request paths.

Apps and Beams instances are read on every connect or API call; a short TTL keeps those reads off the
database while changes made with the CLI still take effect within seconds.

While the database is down the last copy read is served instead (stale, but an app changes far more rarely
than its database has an outage): one load per key at a time (concurrent callers share it), a failed load is
retried only after `retry_interval` (a dead database is not hammered once per request), and a load that
hangs (a paused database) holds a caller up for at most `stale_wait` when there is a copy to fall back on.
A key that was never read still fails with the loader's error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")

log = logging.getLogger("tidings.ttlcache")


@dataclass(slots=True)
class _Slot(Generic[V]):
    value: V | None = None
    loaded: bool = False  # `value` came from a load that succeeded
    loaded_at: float = 0.0
    expires_at: float = 0.0
    retry_at: float = 0.0  # after a failed load: no new one before this
    failing: bool = False  # the failure was logged (once per outage)
    loading: asyncio.Task[BaseException | None] | None = None
    load_started: float = 0.0


class TTLCache(Generic[V]):
    def __init__(
        self,
        load: Callable[[str], Awaitable[V | None]],
        ttl: float,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        retry_interval: float = 1.0,
        stale_wait: float = 1.0,
        what: str = "entry",
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._retry_interval = retry_interval
        self._stale_wait = stale_wait
        self._what = what  # for the log: "app", "Beams instance"
        self._slots: dict[str, _Slot[V]] = {}

    async def get(self, key: str) -> V | None:
        now = self._clock()
        slot = self._slots.get(key)
        if slot is not None and slot.loaded and (now < slot.expires_at or now < slot.retry_at):
            return slot.value  # fresh, or the last copy while the database errors
        if slot is None:
            slot = self._add(key)
        task = slot.loading
        if task is None:
            slot.load_started = now
            task = slot.loading = asyncio.get_running_loop().create_task(self._fill(key, slot))
        if not slot.loaded:
            # Nothing to fall back on: wait for the load (shielded: a caller that gives up does not cancel
            # it for the others) and fail as it did.
            error = await asyncio.shield(task)
            if error is not None:
                raise error
            return slot.value
        wait = slot.load_started + self._stale_wait - now
        if wait > 0:
            await asyncio.wait((task,), timeout=wait)
        if not task.done() and not slot.failing:
            slot.failing = True
            log.warning("reading %s %r takes longer than %.0f s; serving the copy read %.0f s ago until storage "
                        "answers", self._what, key, self._stale_wait, self._clock() - slot.loaded_at)
        return slot.value  # the new copy if the load succeeded in time, else the last one

    async def _fill(self, key: str, slot: _Slot[V]) -> BaseException | None:
        """Load `key` into its slot. Returns the loader's error instead of raising it: a load whose callers
        have moved on (served the stale copy) must not end as a 'never retrieved' task exception."""
        try:
            value = await self._load(key)
        except Exception as exc:
            now = self._clock()
            slot.retry_at = now + self._retry_interval
            if not slot.loaded:
                if self._slots.get(key) is slot:
                    del self._slots[key]  # nothing to keep: the next caller tries again
            elif not slot.failing:
                slot.failing = True
                log.warning("could not read %s %r (%s); serving the copy read %.0f s ago until storage answers",
                            self._what, key, exc, now - slot.loaded_at)
            return exc
        finally:
            slot.loading = None
        now = self._clock()
        if slot.failing:
            log.warning("%s %r read from storage again", self._what, key)
        slot.value, slot.loaded, slot.loaded_at, slot.expires_at = value, True, now, now + self._ttl
        slot.failing, slot.retry_at = False, 0.0
        return None

    def _add(self, key: str) -> _Slot[V]:
        if len(self._slots) >= self._max:
            # Bounds memory against floods of unknown keys: those go first, so that the copies of real
            # entries (the fallback during an outage) survive a flood; only if that is not enough, all go.
            for k in [k for k, s in self._slots.items() if s.value is None and s.loading is None]:
                del self._slots[k]
            if len(self._slots) >= self._max:
                self._slots.clear()
        slot: _Slot[V] = _Slot()
        self._slots[key] = slot
        return slot
