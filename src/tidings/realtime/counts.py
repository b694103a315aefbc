"""`pusher_internal:subscription_count`: keep each local channel's cluster-wide count and tell its subscribers.

Above COUNT_THROTTLE_ABOVE subscribers an update is sent at most every COUNT_INTERVAL seconds. With a shared
adapter, counts carried by bus messages can arrive out of order, so the count is re-read from the adapter
instead (reads issued after each change, answered in order).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from tidings.adapters import Adapter, AdapterUnavailable
from tidings.channels import messages, names
from tidings.channels.apps import App
from tidings.realtime import events as ev
from tidings.realtime.fanout import Fanout
from tidings.realtime.frames import text_frame
from tidings.realtime.index import Channel, Index

log = logging.getLogger("tidings.hub")

COUNT_THROTTLE_ABOVE = 100
COUNT_INTERVAL = 5.0

Spawn = Callable[[Coroutine[Any, Any, None]], None]


def counted(app: App, name: str) -> bool:
    ctype = names.channel_type(name)
    return app.enable_subscription_count and not ctype.is_presence and ctype.kind is not names.ChannelKind.USER


class Counts:
    __slots__ = ("adapter", "fanout", "index", "spawn", "stream")

    def __init__(self, index: Index, fanout: Fanout, adapter: Adapter, stream: ev.EventStream, spawn: Spawn) -> None:
        self.index = index
        self.fanout = fanout
        self.adapter = adapter
        self.stream = stream
        self.spawn = spawn

    def learned(self, app_id: str, chan: Channel, count: int, *, mine: bool) -> None:
        """This node changed the count (`mine`: it also emits the webhook), or another node did."""
        if self.adapter.shared:
            chan.count_mine = chan.count_mine or mine
            if chan.count_reading:
                chan.count_dirty = True
            else:
                chan.count_reading = True
                self.spawn(self._read(app_id, chan))
            return
        chan.count, chan.count_mine = count, mine
        self._schedule(app_id, chan)

    async def _read(self, app_id: str, chan: Channel) -> None:
        try:
            while True:
                chan.count_dirty = False
                chan.count = (await self.adapter.channel(app_id, chan.name)).subscription_count
                if not chan.count_dirty:
                    break
        except AdapterUnavailable as exc:
            log.warning("subscription count of a channel not read: %s", exc)
            return
        finally:
            chan.count_reading = False
        if chan.count > 0:
            self._schedule(app_id, chan)

    def _schedule(self, app_id: str, chan: Channel) -> None:
        if chan.count_timer is not None:
            return  # a throttled update is already scheduled; it will carry the latest count
        wait = chan.count_sent_at + COUNT_INTERVAL - time.monotonic()
        if chan.count > COUNT_THROTTLE_ABOVE and wait > 0:
            chan.count_timer = asyncio.get_running_loop().call_later(wait, self._send, app_id, chan)
            return
        self._send(app_id, chan)

    def _send(self, app_id: str, chan: Channel) -> None:
        chan.count_timer = None
        if self.index.channel(app_id, chan.name) is not chan:
            return
        chan.count_sent_at = time.monotonic()
        n = chan.count
        self.fanout.to_subscribers(chan, text_frame(messages.subscription_count(chan.name, n)))
        if chan.count_mine:  # one node per change emits it (the subscription_count webhook)
            self.stream.emit(ev.SubscriptionCountChanged(app_id, chan.name, n))
            if self.adapter.shared:
                chan.count_mine = False  # until this node changes the count again
