"""Large presence channels (docs/users.md): counts-only above the app's `presence_counts_only_above`.

A presence channel in full mode costs frames quadratic in its members: each join sends the whole roster to
the joiner and a member_added to everyone already there. Above the threshold a channel runs counts-only:
- `subscription_succeeded` carries the member count and only the joiner itself as roster (pusher-js sets
  `members.count` from it and `members.me` from the one entry);
- member_added / member_removed are not fanned out (their webhooks still go);
- the count reaches subscribers as `pusher_internal:subscription_count` with the number of members, which
  pusher-js keeps in `channel.subscriptionCount` and emits as `pusher:subscription_count`; sent at most every
  COUNT_INTERVAL seconds per channel and node, re-read from the adapter when sent (so bus messages arriving
  out of order do not matter).
An app that sets the threshold gets those count updates on every presence channel, below the threshold
too, so a client that joined a big channel keeps a right count if it shrinks back into full mode.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from tidings.adapters import Adapter, AdapterUnavailable
from tidings.channels import messages
from tidings.channels.apps import App
from tidings.realtime.fanout import Fanout
from tidings.realtime.frames import text_frame
from tidings.realtime.index import Channel, Index

log = logging.getLogger("tidings.hub")

COUNT_INTERVAL = 1.0  # seconds between two count updates of one channel (per node)

Spawn = Callable[[Coroutine[Any, Any, None]], None]


def threshold(app: App) -> int | None:
    return app.limits.presence_counts_only_above


def counts_only(app: App, member_count: int) -> bool:
    limit = threshold(app)
    return limit is not None and member_count > limit


def snapshot(user_id: str, user_info: Any, member_count: int) -> dict[str, Any]:
    """The `presence` of a counts-only subscription_succeeded: the count, and the joiner alone as roster."""
    return {"ids": [user_id], "hash": {user_id: user_info}, "count": member_count}


class PresenceCounts:
    __slots__ = ("adapter", "fanout", "index", "spawn")

    def __init__(self, index: Index, fanout: Fanout, adapter: Adapter, spawn: Spawn) -> None:
        self.index = index
        self.fanout = fanout
        self.adapter = adapter
        self.spawn = spawn

    def changed(self, app_id: str, name: str) -> None:
        """A member came or went (here or on another node): a count update for this node's subscribers, soon."""
        chan = self.index.channel(app_id, name)
        if chan is None or chan.count_timer is not None or chan.count_reading:
            if chan is not None and chan.count_reading:
                chan.count_dirty = True
            return
        wait = max(0.0, chan.count_sent_at + COUNT_INTERVAL - time.monotonic())
        chan.count_timer = asyncio.get_running_loop().call_later(wait, self._due, app_id, chan)

    def _due(self, app_id: str, chan: Channel) -> None:
        chan.count_timer = None
        if self.index.channel(app_id, chan.name) is chan:
            chan.count_reading = True
            self.spawn(self._send(app_id, chan))

    async def _send(self, app_id: str, chan: Channel) -> None:
        try:
            chan.count_dirty = False
            n = (await self.adapter.channel(app_id, chan.name)).user_count
        except AdapterUnavailable as exc:
            log.warning("member count of a presence channel not read: %s", exc)
            return
        finally:
            chan.count_reading = False
        if self.index.channel(app_id, chan.name) is not chan:
            return
        chan.count_sent_at = time.monotonic()
        self.fanout.to_subscribers(chan, text_frame(messages.subscription_count(chan.name, n)))
        if chan.count_dirty:  # changed again while read: one more update, after the interval
            chan.count_dirty = False
            self.changed(app_id, chan.name)
