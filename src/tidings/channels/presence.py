"""The presence roster as clients see it: members are users, not sockets."""

from __future__ import annotations

from typing import Any


def snapshot(members: dict[str, Any] | None) -> dict[str, Any] | None:
    """The `presence` object of subscription_succeeded: ids, hash of id -> user_info, count."""
    if members is None:
        return None
    return {"ids": list(members), "hash": members, "count": len(members)}
