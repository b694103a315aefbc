"""Frames for a channel that arrive while a local connection is still joining it.

With a shared adapter, a subscribe waits for Redis (the roster snapshot, the count, the cached event).
Meanwhile other nodes' member_added/removed, events and client events for that channel are written to the
channel's current subscribers only: the joining connection is not one of them yet, and must not get them
before its subscription_succeeded. They are held here and replayed right after it, leaving out member
events the roster snapshot already reflects. (With the local adapter a subscribe never waits: nothing is
ever held.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tidings.realtime.connection import Connection


@dataclass(frozen=True, slots=True)
class Held:
    frame: bytes
    added: str | None = None  # the frame is member_added for this user
    removed: str | None = None  # the frame is member_removed for this user


class Joining:
    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: dict[tuple[str, str], list[list[Held]]] = {}

    def __bool__(self) -> bool:
        return bool(self._waiting)

    @contextmanager
    def wait(self, app_id: str, channel: str) -> Iterator[list[Held]]:
        held: list[Held] = []
        key = (app_id, channel)
        self._waiting.setdefault(key, []).append(held)
        try:
            yield held
        finally:
            # By identity: two waiters' lists are equal whenever they hold the same frames (both empty,
            # say), and list.remove would take the first equal one, someone else's.
            lists = self._waiting[key]
            del lists[next(i for i, other in enumerate(lists) if other is held)]
            if not lists:
                del self._waiting[key]

    def hold(self, app_id: str, channel: str, item: Held) -> None:
        for held in self._waiting.get((app_id, channel), ()):
            held.append(item)

    @staticmethod
    def replay(conn: Connection, held: list[Held], members: dict[str, Any] | None) -> None:
        for item in held:
            if members is not None and (item.added in members or (item.removed and item.removed not in members)):
                continue  # the snapshot in subscription_succeeded already says so
            conn.write(item.frame)
