"""Presence roster maths: members are users, not sockets.

member_added fires on a user's first socket in a channel, member_removed on its last one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Member:
    user_id: str
    user_info: Any
    sockets: set[str] = field(default_factory=set)


class Roster:
    __slots__ = ("members",)

    def __init__(self) -> None:
        self.members: dict[str, Member] = {}

    def __len__(self) -> int:
        return len(self.members)

    def __contains__(self, user_id: object) -> bool:
        return user_id in self.members

    def add(self, user_id: str, socket_id: str, user_info: Any) -> bool:
        """Add a socket for a user; True when this is the user's first socket (announce them)."""
        member = self.members.get(user_id)
        if member is None:
            self.members[user_id] = Member(user_id, user_info, {socket_id})
            return True
        member.sockets.add(socket_id)
        return False

    def remove(self, user_id: str, socket_id: str) -> bool:
        """Remove a socket; True when it was the user's last one (announce their departure)."""
        member = self.members.get(user_id)
        if member is None:
            return False
        member.sockets.discard(socket_id)
        if member.sockets:
            return False
        del self.members[user_id]
        return True

    def snapshot(self) -> dict[str, Any]:
        """The `presence` object of subscription_succeeded: ids, hash of id -> info, count."""
        ids = list(self.members)
        return {
            "ids": ids,
            "hash": {uid: self.members[uid].user_info for uid in ids},
            "count": len(ids),
        }
