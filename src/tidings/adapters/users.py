"""What the adapter shares about users at scale (docs/users.md): who is online, per-user guard rails, the
cluster-wide connection quota, and paging through large presence rosters.

Split from base.py because these change for one reason (the users-at-scale features); both adapters
implement them in a mixin (users_local.py, users_redis.py) and pass the one contract test in tests/adapters/.
Every method that talks to a backend raises AdapterUnavailable, as the rest of the adapter does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OnlineUser:
    user_id: str
    connections: int  # signed-in connections across the cluster


@dataclass(frozen=True, slots=True)
class UsersPage:
    users: Sequence[OnlineUser]  # in user id order (bytewise)
    next_cursor: str | None  # pass it back for the next page; None: this was the last one
    total: int  # signed-in users of the app across the cluster, when the page was read


@dataclass(frozen=True, slots=True)
class UserPresence:
    connections: int
    since: float  # Unix seconds: when the user's first current connection signed in


@dataclass(frozen=True, slots=True)
class MembersPage:
    user_ids: Sequence[str]  # in user id order
    next_cursor: str | None
    total: int


class UserState(Protocol):
    async def admit(self, app_id: str, limit: int) -> bool:
        """One more connection for the app if the cluster has fewer than `limit`; False (nothing counted) if not.
        Every admitted connection is given back with `release` once."""
        ...

    async def release(self, app_id: str) -> None: ...

    async def track_connection(self, app_id: str, user_id: str, socket_id: str, limit: int) -> list[str]:
        """A signed-in connection of a user whose app caps connections per user: the socket ids (any node's)
        beyond `limit`, oldest first, now forgotten here; their owners close them."""
        ...

    async def untrack_connection(self, app_id: str, user_id: str, socket_id: str) -> None: ...

    async def client_event_allowed(self, app_id: str, user_id: str, limit: int) -> bool:
        """One client event of the user: False beyond `limit` in the current one-second window, cluster-wide."""
        ...

    async def online_users(self, app_id: str, cursor: str | None, limit: int) -> UsersPage:
        """Signed-in users with an id after `cursor` (None: from the start), at most `limit`."""
        ...

    async def user_presence(self, app_id: str, user_id: str) -> UserPresence | None:
        """None when the user has no signed-in connection anywhere."""
        ...

    async def members_page(self, app_id: str, channel: str, cursor: str | None, limit: int) -> MembersPage:
        """A presence channel's member ids after `cursor`, at most `limit`."""
        ...
