"""Frames for a channel that arrive while a local connection is still joining it.

With a shared adapter, a subscribe waits for Redis (the roster snapshot, the count, the cached event).
Meanwhile other nodes' member_added/removed, events and client events for that channel are written to the
channel's current subscribers only: the joining connection is not one of them yet, and must not get them
before its subscription_succeeded. They are held here and replayed right after it, leaving out member
events the roster snapshot already reflects. (With the local adapter a subscribe never waits: nothing is
ever held.)

User channels are the exception: their events go to every signed-in connection of the user, subscribed or
not. A connection joining its user channel of an app with the offline mailbox waits with its socket id: it
gets the user channel's frames held back too, so the kept events it is about to replay come first.
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


@dataclass(eq=False, slots=True)  # compared by identity: two waiters holding the same frames are not one
class _Waiter:
    held: list[Held]
    socket_id: str | None  # set: a user channel's frames are held back from this connection (see above)


class Joining:
    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: dict[tuple[str, str], list[_Waiter]] = {}

    def __bool__(self) -> bool:
        return bool(self._waiting)

    @contextmanager
    def wait(self, app_id: str, channel: str, socket_id: str | None = None) -> Iterator[list[Held]]:
        waiter = _Waiter([], socket_id)
        key = (app_id, channel)
        self._waiting.setdefault(key, []).append(waiter)
        try:
            yield waiter.held
        finally:
            waiters = self._waiting[key]
            waiters.remove(waiter)
            if not waiters:
                del self._waiting[key]

    def hold(self, app_id: str, channel: str, item: Held) -> None:
        for waiter in self._waiting.get((app_id, channel), ()):
            waiter.held.append(item)

    def hold_back(self, app_id: str, channel: str, item: Held, except_socket: str | None) -> set[str]:
        """A user channel's frame: held for the connections joining it with their socket id, whose ids are
        returned (the caller does not write it to them now). `except_socket` is left out, as by the write."""
        sockets: set[str] = set()
        for waiter in self._waiting.get((app_id, channel), ()):
            if waiter.socket_id is not None:
                sockets.add(waiter.socket_id)
                if waiter.socket_id != except_socket:
                    waiter.held.append(item)
        return sockets

    @staticmethod
    def replay(conn: Connection, held: list[Held], members: dict[str, Any] | None) -> None:
        for item in held:
            if members is not None and (item.added in members or (item.removed and item.removed not in members)):
                continue  # the snapshot in subscription_succeeded already says so
            conn.write(item.frame)
