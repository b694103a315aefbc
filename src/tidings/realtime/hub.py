"""The local hub: every connection, channel and signed-in user of this process.

Indexes: app -> {socket_id -> connection}, app -> {channel -> local subscribers}, user -> local connections,
watched user -> local watchers. Whatever other nodes must know (subscription counts, presence rosters,
signed-in users, cache channels) goes through the adapter (tidings.adapters), which also decides the
transitions: the node whose operation made a member's first join or a channel's last leave announces it,
so member events reach every socket once and webhooks are not duplicated.
The fan-out loop frames a message once and writes the same bytes to each local subscriber's transport.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tidings.adapters import Adapter, AdapterUnavailable, LocalAdapter, bus
from tidings.adapters.base import Member
from tidings.channels import messages, names
from tidings.channels.apps import App
from tidings.channels.codes import Code
from tidings.channels.messages import ClientMessage
from tidings.channels.subscription import authorize, channel_of
from tidings.errors import ProtocolError, SubscriptionError
from tidings.realtime import events as ev
from tidings.realtime.connection import Connection
from tidings.realtime.frames import text_frame
from tidings.realtime.joining import Held, Joining
from tidings.realtime.users import UserIndex

log = logging.getLogger("tidings.hub")

# Above this many subscribers, subscription_count updates are sent at most every COUNT_INTERVAL seconds.
COUNT_THROTTLE_ABOVE = 100
COUNT_INTERVAL = 5.0


@dataclass(slots=True)
class Channel:
    name: str
    type: names.ChannelType
    subscribers: dict[str, Connection] = field(default_factory=dict)
    count: int = 0  # subscriptions across the cluster, as last learned
    count_mine: bool = True  # the count was set by this node's own operation (it emits the webhook)
    count_timer: asyncio.TimerHandle | None = None
    count_sent_at: float = 0.0
    count_reading: bool = False  # a read of the cluster-wide count is in flight (shared adapters)
    count_dirty: bool = False  # the count changed again while it was being read


@dataclass(slots=True)
class AppState:
    connections: dict[str, Connection] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    # user id -> that user's signed-in connections on this node
    users: dict[str, dict[str, Connection]] = field(default_factory=dict)
    # user id -> connections of this node whose watchlist names that user
    watchers: dict[str, dict[str, Connection]] = field(default_factory=dict)


class Hub(UserIndex):
    def __init__(self, stream: ev.EventStream, adapter: Adapter | None = None, *, cache_ttl: float = 1800.0) -> None:
        self.stream = stream
        self.adapter: Adapter = adapter if adapter is not None else LocalAdapter(cache_ttl=cache_ttl)
        self.apps: dict[str, AppState] = {}
        self._rand = random.SystemRandom()
        self.joining = Joining()  # frames for channels a connection is joining (shared adapter only)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- connections -------------------------------------------------------------------------

    def state(self, app_id: str) -> AppState:
        st = self.apps.get(app_id)
        if st is None:
            st = self.apps[app_id] = AppState()
        return st

    def connection_count(self, app_id: str) -> int:
        st = self.apps.get(app_id)
        return len(st.connections) if st else 0

    def new_socket_id(self, app_id: str) -> str:
        conns = self.state(app_id).connections
        while True:
            sid = f"{self._rand.randrange(10**9, 10**10)}.{self._rand.randrange(10**9, 10**10)}"
            if sid not in conns:
                return sid

    def add(self, conn: Connection) -> None:
        self.state(conn.app.id).connections[conn.socket_id] = conn
        self.stream.emit(ev.ConnectionOpened(conn.app.id, conn.socket_id))

    def is_current(self, conn: Connection) -> bool:
        """Still registered: False once `remove` ran (it may run while a subscribe or sign-in awaits)."""
        st = self.apps.get(conn.app.id)
        return st is not None and st.connections.get(conn.socket_id) is conn

    async def remove(self, conn: Connection, reason: str = "closed") -> None:
        st = self.apps.get(conn.app.id)
        if st is None or st.connections.pop(conn.socket_id, None) is None:
            return
        # Local indexes first, synchronously: nothing is written to this connection any more.
        left = [(name, self._detach(st, conn, name)) for name in list(conn.channels)]
        user = conn.user
        if user is not None:
            self._drop_user(st, conn)
        try:
            for name, user_id in left:
                await self._release(conn.app, name, user_id)
            if user is not None:
                await self._signed_out(conn.app, user.id)
        finally:
            self.stream.emit(ev.ConnectionClosed(conn.app.id, conn.socket_id, reason))

    def all_connections(self) -> Iterable[Connection]:
        for st in self.apps.values():
            yield from list(st.connections.values())

    # -- subscriptions -----------------------------------------------------------------------

    async def subscribe(self, conn: Connection, data: Any) -> None:
        if not isinstance(data, dict):
            raise ProtocolError(None, "Invalid subscription: 'data' must be an object")
        app = conn.app
        grant = authorize(app, conn.socket_id, data, conn.user)
        name = grant.channel
        st = self.state(app.id)
        chan = st.channels.get(name)
        if chan is not None and conn.socket_id in chan.subscribers:
            # Idempotent: answer a repeated subscribe again, without announcing anyone twice.
            members = await self.adapter.members(app.id, name) if grant.type.is_presence else None
            conn.send(messages.subscription_succeeded(name, _snapshot(members)))
            return
        member = None
        if grant.type.is_presence and grant.user_id is not None:
            member = Member(grant.user_id, grant.user_info, app.limits.max_presence_members)
        try:
            if self.adapter.shared:
                with self.joining.wait(app.id, name) as held:
                    joined = await self.adapter.join(app.id, name, member, grant.type.cache)
            else:
                joined, held = await self.adapter.join(app.id, name, member, grant.type.cache), []
        except AdapterUnavailable as exc:
            log.warning("subscribe to %s failed: %s", name, exc)
            raise SubscriptionError(
                name, "Subscriptions are temporarily unavailable", type="ServerError", status=503
            ) from exc
        if joined.full:
            limit = app.limits.max_presence_members
            raise SubscriptionError(
                name, f"The maximum number of members ({limit}) in this channel has been reached",
                type="LimitReached", status=4100,
            )
        if not self.is_current(conn):  # it closed while we waited: give the subscription back
            await self._release(app, name, grant.user_id)
            return
        chan = st.channels.get(name)
        if chan is None:
            chan = st.channels[name] = Channel(name, grant.type)
        if joined.count == 1 and grant.type.kind is not names.ChannelKind.USER:  # internal: no webhooks
            self.stream.emit(ev.ChannelOccupied(app.id, name))
        chan.subscribers[conn.socket_id] = conn
        conn.channels[name] = grant.user_id
        if grant.type.requires_auth:
            conn.user_deadline = None  # a private/presence subscription authorizes the connection
        conn.send(messages.subscription_succeeded(name, _snapshot(joined.members) if member else None))
        if held:
            self.joining.replay(conn, held, joined.members if member else None)
        if joined.first_member and grant.user_id is not None:
            frame = text_frame(messages.member_added(name, grant.user_id, grant.user_info))
            self.to_channel(app.id, name, chan, Held(frame, added=grant.user_id), skip=conn)
            self._broadcast(bus.MemberAdded(app.id, name, grant.user_id, grant.user_info))
            self.stream.emit(ev.MemberAdded(app.id, name, grant.user_id))
        if grant.type.cache:
            if joined.cached is not None:
                conn.send(messages.event(joined.cached.event, name, joined.cached.data))
            else:
                conn.send(messages.cache_miss(name))
                self.stream.emit(ev.CacheMiss(app.id, name))
        self._count_changed(app, name, joined.count)

    async def unsubscribe(self, conn: Connection, data: Any) -> None:
        name = channel_of(data)
        st = self.apps.get(conn.app.id)
        if st is not None and name in conn.channels:
            await self._release(conn.app, name, self._detach(st, conn, name))

    def _detach(self, st: AppState, conn: Connection, name: str) -> str | None:
        """Take a connection out of a channel's local index; returns its presence user id."""
        user_id = conn.channels.pop(name, None)
        chan = st.channels.get(name)
        if chan is not None and chan.subscribers.pop(conn.socket_id, None) is not None and not chan.subscribers:
            if chan.count_timer is not None:
                chan.count_timer.cancel()
            del st.channels[name]
        return user_id

    async def _release(self, app: App, name: str, user_id: str | None) -> None:
        """Give one subscription back to the adapter and announce what that changed."""
        try:
            left = await self.adapter.leave(app.id, name, user_id)
        except AdapterUnavailable as exc:
            log.warning("unsubscribe from %s not recorded: %s", name, exc)
            return
        st = self.apps.get(app.id)
        chan = st.channels.get(name) if st is not None else None
        if left.last_member and user_id is not None:
            frame = text_frame(messages.member_removed(name, user_id))
            self.to_channel(app.id, name, chan, Held(frame, removed=user_id))
            self._broadcast(bus.MemberRemoved(app.id, name, user_id))
            self.stream.emit(ev.MemberRemoved(app.id, name, user_id))
        if left.vacated:
            if names.channel_type(name).kind is not names.ChannelKind.USER:
                self.stream.emit(ev.ChannelVacated(app.id, name))
            return
        self._count_changed(app, name, left.count)

    # -- subscription_count ------------------------------------------------------------------

    def _count_changed(self, app: App, name: str, count: int) -> None:
        """This node changed a channel's count: tell the other nodes, and this node's subscribers."""
        ctype = names.channel_type(name)
        if not app.enable_subscription_count or ctype.is_presence or ctype.kind is names.ChannelKind.USER:
            return
        self._broadcast(bus.Count(app.id, name, count))
        chan = self.channels(app.id).get(name)
        if chan is not None:
            self.count_learned(app.id, chan, count, mine=True)

    def count_learned(self, app_id: str, chan: Channel, count: int, *, mine: bool) -> None:
        if self.adapter.shared:
            # Count messages from several nodes can arrive out of order (a node's own change is applied at
            # once, another's comes through the bus later), so a number carried by a message may be stale.
            # Re-read the cluster-wide count instead: reads issued after each change, answered in order.
            chan.count_mine = chan.count_mine or mine
            if chan.count_reading:
                chan.count_dirty = True
            else:
                chan.count_reading = True
                self._spawn(self._read_count(app_id, chan))
            return
        chan.count, chan.count_mine = count, mine
        self._schedule_count(app_id, chan)

    async def _read_count(self, app_id: str, chan: Channel) -> None:
        try:
            while True:
                chan.count_dirty = False
                chan.count = (await self.adapter.channel(app_id, chan.name)).subscription_count
                if not chan.count_dirty:
                    break
        finally:
            chan.count_reading = False
        if chan.count > 0:
            self._schedule_count(app_id, chan)

    def _schedule_count(self, app_id: str, chan: Channel) -> None:
        count = chan.count
        if chan.count_timer is not None:
            return  # a throttled update is already scheduled; it will carry the latest count
        now = time.monotonic()
        wait = chan.count_sent_at + COUNT_INTERVAL - now
        if count > COUNT_THROTTLE_ABOVE and wait > 0:
            chan.count_timer = asyncio.get_running_loop().call_later(wait, self._send_count, app_id, chan)
            return
        self._send_count(app_id, chan)

    def _send_count(self, app_id: str, chan: Channel) -> None:
        chan.count_timer = None
        st = self.apps.get(app_id)
        if st is None or st.channels.get(chan.name) is not chan:
            return
        chan.count_sent_at = time.monotonic()
        n = chan.count
        self.fanout(chan, text_frame(messages.subscription_count(chan.name, n)))
        if chan.count_mine:  # one node per change emits it (the subscription_count webhook)
            self.stream.emit(ev.SubscriptionCountChanged(app_id, chan.name, n))
            if self.adapter.shared:
                chan.count_mine = False  # until this node changes the count again

    # -- events ------------------------------------------------------------------------------

    def client_event(self, conn: Connection, msg: ClientMessage) -> None:
        app = conn.app
        channel = msg.channel
        code = Code.CLIENT_EVENT_REJECTED
        if not app.enable_client_events:
            raise ProtocolError(code, "Client events are not enabled for this app", channel=channel)
        if channel is None:
            raise ProtocolError(code, "Client event needs a channel")
        if not names.channel_type(channel).allows_client_events:
            raise ProtocolError(
                code, "Client events are only allowed on private and presence channels", channel=channel
            )
        if channel not in conn.channels:
            raise ProtocolError(code, f"Not subscribed to channel {channel}", channel=channel)
        if len(msg.event) > app.limits.max_event_name_length:
            raise ProtocolError(
                code, f"Event name is longer than {app.limits.max_event_name_length} characters", channel=channel
            )
        self._rate_limit(conn, channel)
        data = messages.encode_data(msg.data)
        if len(data.encode()) > app.limits.max_event_data_bytes:
            raise ProtocolError(
                code, f"Event data is larger than {app.limits.max_event_data_bytes} bytes", channel=channel
            )
        st = self.state(app.id)
        chan = st.channels[channel]
        user_id = conn.channels.get(channel)
        frame = text_frame(messages.event(msg.event, channel, data, user_id))
        self.to_channel(app.id, channel, chan, Held(frame), conn)
        self._broadcast(bus.ClientEvent(app.id, channel, msg.event, data, user_id))
        self.stream.emit(ev.ClientEventSent(app.id, channel, msg.event, data, conn.socket_id, user_id))

    def _rate_limit(self, conn: Connection, channel: str) -> None:
        limit = conn.app.limits.client_events_per_second
        if limit <= 0:
            return
        now = time.monotonic()
        if now - conn.ce_window >= 1.0:
            conn.ce_window, conn.ce_count = now, 0
        conn.ce_count += 1
        if conn.ce_count > limit:
            raise ProtocolError(
                Code.CLIENT_EVENT_REJECTED,
                f"Client event rate limit reached: at most {limit} per second",
                channel=channel,
            )

    async def trigger(
        self, app_id: str, event: str, channels: Iterable[str], data: str, except_socket: str | None = None
    ) -> int:
        """An HTTP-API event: cache channels' last event stored first (a subscriber arriving on any node
        after the answer gets it), then delivered here and on every other node. Returns local deliveries."""
        channels = tuple(channels)
        for name in channels:
            if names.channel_type(name).cache:
                await self.adapter.set_cached(app_id, name, event, data)
        return self._publish(app_id, event, channels, data, except_socket)

    def publish(
        self, app_id: str, event: str, channels: Iterable[str], data: str, except_socket: str | None = None
    ) -> int:
        """`trigger` for synchronous callers: the cache write runs in a task of its own."""
        channels = tuple(channels)
        for name in channels:
            if names.channel_type(name).cache:
                self._spawn(self.adapter.set_cached(app_id, name, event, data))
        return self._publish(app_id, event, channels, data, except_socket)

    def _publish(self, app_id: str, event: str, channels: tuple[str, ...], data: str, except_socket: str | None) -> int:
        if self.adapter.shared:  # one bus message per trigger, whatever the number of channels or subscribers
            self._broadcast(bus.Publish(app_id, event, channels, data, except_socket))
        return self.deliver(app_id, event, channels, data, except_socket)

    def deliver(self, app_id: str, event: str, channels: Iterable[str], data: str, except_socket: str | None) -> int:
        """Write an event to this node's subscribers of each channel; returns the number of deliveries."""
        st = self.state(app_id)
        total = 0
        for name in channels:
            frame = text_frame(messages.event(event, name, data))
            if names.channel_type(name).kind is names.ChannelKind.USER:
                user_id = names.user_id_of_channel(name)
                conns = st.users.get(user_id) if user_id is not None else None
                n = self._write_all(conns.values(), frame, except_socket) if conns else 0
            else:
                chan = st.channels.get(name)
                n = self._write_all(chan.subscribers.values(), frame, except_socket) if chan else 0
                if self.joining:
                    self.joining.hold(app_id, name, Held(frame))
            total += n
            self.stream.emit(ev.Published(app_id, name, event, n))
        return total

    def fanout(self, chan: Channel, frame: bytes, *, skip: Connection | None = None) -> None:
        self._write_all(chan.subscribers.values(), frame, skip.socket_id if skip is not None else None)

    def to_channel(
        self, app_id: str, name: str, chan: Channel | None, item: Held, skip: Connection | None = None
    ) -> None:
        """A member event or client event: to the local subscribers, and held for those still joining."""
        if chan is not None:
            self.fanout(chan, item.frame, skip=skip)
        if self.joining:
            self.joining.hold(app_id, name, item)

    def _write_all(self, conns: Iterable[Connection], frame: bytes, except_socket: str | None) -> int:
        # The hot path: one dict walk, one transport.write per subscriber, one buffer check.
        slow: list[Connection] | None = None
        n = 0
        for conn in conns:
            if conn.closing or conn.socket_id == except_socket:
                continue
            t = conn.transport
            t.write(frame)
            n += 1
            if t.get_write_buffer_size() > conn.write_limit:
                if slow is None:
                    slow = []
                slow.append(conn)
        if slow:
            for conn in slow:
                self.cut_slow(conn)
        return n

    def cut_slow(self, conn: Connection) -> None:
        conn.abort()
        self.stream.emit(ev.SlowConsumerCut(conn.app.id, conn.socket_id))
        self._spawn(self.remove(conn, "slow consumer"))

    def _broadcast(self, message: bus.BusMessage) -> None:
        if self.adapter.shared:
            self.adapter.broadcast(message)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- queries -----------------------------------------------------------------------------

    def channels(self, app_id: str) -> dict[str, Channel]:
        """This node's channels (with local subscribers); the HTTP API asks the adapter instead."""
        st = self.apps.get(app_id)
        return st.channels if st else {}

    def channel(self, app_id: str, name: str) -> Channel | None:
        return self.channels(app_id).get(name)


def _snapshot(members: dict[str, Any] | None) -> dict[str, Any] | None:
    """The `presence` object of subscription_succeeded: ids, hash of id -> info, count."""
    if members is None:
        return None
    return {"ids": list(members), "hash": members, "count": len(members)}
