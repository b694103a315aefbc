"""The offline user mailbox, as pure data: what is kept, and the rules every implementation shares.

An app with `user_mailbox > 0` keeps an event sent to `#server-to-user-{id}` while no connection anywhere is
subscribed to that channel, and replays it, once, to the next connection that subscribes (docs/user-first-delivery.md).
The stores are adapters/mailbox.py (one process, the database) and adapters/mailbox_redis.py (scale-out).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tidings.channels.apps import App


@dataclass(frozen=True, slots=True)
class Kept:
    """One kept event. Times are seconds since the epoch (the mailbox's clock)."""

    event: str
    data: str = field(repr=False)  # a payload: kept out of reprs and logs
    expires_at: float


@dataclass(frozen=True, slots=True)
class Taken:
    """What a subscription found in its user's mailbox: the live entries, oldest first, and how many had
    expired (dropped, never replayed)."""

    entries: list[Kept]
    expired: int = 0


@dataclass(frozen=True, slots=True)
class Expired:
    """Entries of one user's mailbox that expired and were dropped by a sweep."""

    app_id: str
    user_id: str
    count: int


def enabled(app: App) -> bool:
    return app.user_mailbox > 0


def new_entry(app: App, event: str, data: str, now: float) -> Kept:
    return Kept(event, data, now + app.user_mailbox)
