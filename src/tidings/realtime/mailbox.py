"""The hub's side of the offline user mailbox (docs/user-first-delivery.md): keep on the send path, replay after the
subscription, and the periodic sweep of expired entries. The stores and their atomicity are adapters/mailbox.py's.

A user is reachable when at least one connection, anywhere, is subscribed to their `#server-to-user-{id}`
channel (only a connection signed in as that user can be); a closing connection gives that subscription back
before anything else (Hub.remove).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from tidings.adapters import AdapterUnavailable
from tidings.adapters.mailbox import Mailbox
from tidings.channels import messages, names
from tidings.channels.apps import App
from tidings.channels.mailbox import Kept
from tidings.errors import StorageError
from tidings.realtime import events as ev
from tidings.realtime.connection import Connection

log = logging.getLogger("tidings.mailbox")

SWEEP_INTERVAL = 60.0  # seconds: entries past their time are never replayed anyway; this bounds their memory


async def keep_offline(
    mailbox: Mailbox, stream: ev.EventStream, app: App, event: str, channels: tuple[str, ...], data: str
) -> tuple[str, ...]:
    """Keep the event for the users of `channels` nobody is subscribed for; returns the channels left to
    publish live. Raises AdapterUnavailable or StorageError (nothing kept) when the store does not answer."""
    users: dict[str, str] = {}  # user id -> its channel, each user once
    for name in channels:
        user_id = names.user_id_of_channel(name)
        if user_id is not None:
            users.setdefault(user_id, name)
    if not users:
        return channels
    kept = await mailbox.keep(app, list(users), event, data)
    if not kept:
        return channels
    for user_id, dropped in kept.items():
        stream.emit(ev.MailboxKept(app.id, user_id, event))
        if dropped:
            stream.emit(ev.MailboxDropped(app.id, user_id, dropped))
    done = {users[u] for u in kept}
    return tuple(name for name in channels if name not in done)


def replay(stream: ev.EventStream, conn: Connection, name: str, user_id: str, entries: Sequence[Kept]) -> None:
    """The kept events, oldest first, as the channel's events (pusher-js: `pusher.user.bind`)."""
    for entry in entries:
        conn.send(messages.event(entry.event, name, entry.data))
    stream.emit(ev.MailboxReplayed(conn.app_id, user_id, len(entries), conn.socket_id))


async def sweep_once(mailbox: Mailbox, stream: ev.EventStream) -> int:
    """Drop the expired entries; returns how many. Store failures are logged: the next sweep retries."""
    try:
        expired = await mailbox.sweep()
    except (AdapterUnavailable, StorageError) as exc:
        log.warning("sweeping expired mailbox entries failed: %s", exc)
        return 0
    for item in expired:
        stream.emit(ev.MailboxExpired(item.app_id, item.user_id, item.count))
    return sum(item.count for item in expired)


async def sweep_forever(mailbox: Mailbox, stream: ev.EventStream, interval: float = SWEEP_INTERVAL) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep_once(mailbox, stream)
        except Exception:  # this task must outlive a bug in one sweep
            log.exception("sweeping expired mailbox entries failed unexpectedly")
