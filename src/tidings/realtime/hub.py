"""The local hub: every connection, channel, presence roster and cached event of this process.

Indexes: app -> {socket_id -> connection}, app -> {channel -> subscribers}, presence rosters per channel.
The fan-out loop frames a message once and writes the same bytes to each subscriber's transport.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tidings.channels import messages, names, signin
from tidings.channels.codes import Code
from tidings.channels.messages import ClientMessage
from tidings.channels.presence import Roster
from tidings.channels.subscription import Grant, SignedIn, authorize, channel_of
from tidings.errors import ProtocolError, SubscriptionError
from tidings.realtime import events as ev
from tidings.realtime.connection import Connection
from tidings.realtime.frames import text_frame

# Above this many subscribers, subscription_count updates are sent at most every COUNT_INTERVAL seconds.
COUNT_THROTTLE_ABOVE = 100
COUNT_INTERVAL = 5.0


@dataclass(slots=True)
class Channel:
    name: str
    type: names.ChannelType
    subscribers: dict[str, Connection] = field(default_factory=dict)
    roster: Roster | None = None
    count_timer: asyncio.TimerHandle | None = None
    count_sent_at: float = 0.0


@dataclass(slots=True)
class Cached:
    event: str
    data: str
    expires_at: float


@dataclass(slots=True)
class AppState:
    connections: dict[str, Connection] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    cache: dict[str, Cached] = field(default_factory=dict)
    # user id -> that user's signed-in connections
    users: dict[str, dict[str, Connection]] = field(default_factory=dict)
    # user id -> connections whose watchlist names that user
    watchers: dict[str, dict[str, Connection]] = field(default_factory=dict)


class Hub:
    def __init__(self, stream: ev.EventStream, *, cache_ttl: float = 1800.0) -> None:
        self.stream = stream
        self.cache_ttl = cache_ttl
        self.apps: dict[str, AppState] = {}
        self._rand = random.SystemRandom()

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

    def remove(self, conn: Connection, reason: str = "closed") -> None:
        st = self.apps.get(conn.app.id)
        if st is None or st.connections.pop(conn.socket_id, None) is None:
            return
        for name in list(conn.channels):
            self._leave(st, conn, name)
        if conn.user is not None:
            self._drop_user(st, conn)
        self.stream.emit(ev.ConnectionClosed(conn.app.id, conn.socket_id, reason))

    def all_connections(self) -> Iterable[Connection]:
        for st in self.apps.values():
            yield from list(st.connections.values())

    # -- subscriptions -----------------------------------------------------------------------

    def subscribe(self, conn: Connection, data: Any) -> None:
        if not isinstance(data, dict):
            raise ProtocolError(None, "Invalid subscription: 'data' must be an object")
        grant = authorize(conn.app, conn.socket_id, data, conn.user)
        st = self.state(conn.app.id)
        chan = st.channels.get(grant.channel)
        if chan is not None and conn.socket_id in chan.subscribers:
            # Idempotent: answer a repeated subscribe again, without announcing anyone twice.
            conn.send(messages.subscription_succeeded(grant.channel, _snapshot(chan)))
            return
        if grant.type.is_presence and chan is not None and chan.roster is not None:
            limit = conn.app.limits.max_presence_members
            if grant.user_id not in chan.roster and len(chan.roster) >= limit:
                raise SubscriptionError(
                    grant.channel,
                    f"The maximum number of members ({limit}) in this channel has been reached",
                    type="LimitReached",
                    status=4100,
                )
        if chan is None:
            chan = st.channels[grant.channel] = Channel(grant.channel, grant.type)
            if grant.type.is_presence:
                chan.roster = Roster()
            if grant.type.kind is not names.ChannelKind.USER:  # user channels are internal: no webhooks
                self.stream.emit(ev.ChannelOccupied(conn.app.id, grant.channel))
        chan.subscribers[conn.socket_id] = conn
        conn.channels[grant.channel] = grant.user_id
        if grant.type.requires_auth:
            conn.user_deadline = None  # a private/presence subscription authorizes the connection
        self._joined(st, conn, chan, grant)

    def _joined(self, st: AppState, conn: Connection, chan: Channel, grant: Grant) -> None:
        app_id = conn.app.id
        first = False
        if chan.roster is not None and grant.user_id is not None:
            first = chan.roster.add(grant.user_id, conn.socket_id, grant.user_info)
        conn.send(messages.subscription_succeeded(chan.name, _snapshot(chan)))
        if first and grant.user_id is not None:
            frame = text_frame(messages.member_added(chan.name, grant.user_id, grant.user_info))
            self._fanout(chan, frame, skip=conn)
            self.stream.emit(ev.MemberAdded(app_id, chan.name, grant.user_id))
        if chan.type.cache:
            cached = st.cache.get(chan.name)
            if cached is not None and cached.expires_at > time.monotonic():
                conn.send(messages.event(cached.event, chan.name, cached.data))
            else:
                conn.send(messages.cache_miss(chan.name))
                self.stream.emit(ev.CacheMiss(app_id, chan.name))
        self._count_changed(conn.app.enable_subscription_count, app_id, chan)

    def unsubscribe(self, conn: Connection, data: Any) -> None:
        name = channel_of(data)
        st = self.apps.get(conn.app.id)
        if st is not None and name in conn.channels:
            self._leave(st, conn, name)

    def _leave(self, st: AppState, conn: Connection, name: str) -> None:
        user_id = conn.channels.pop(name, None)
        chan = st.channels.get(name)
        if chan is None or chan.subscribers.pop(conn.socket_id, None) is None:
            return
        app_id = conn.app.id
        if chan.roster is not None and user_id is not None and chan.roster.remove(user_id, conn.socket_id):
            self._fanout(chan, text_frame(messages.member_removed(name, user_id)))
            self.stream.emit(ev.MemberRemoved(app_id, name, user_id))
        if not chan.subscribers:
            if chan.count_timer is not None:
                chan.count_timer.cancel()
            del st.channels[name]
            if chan.type.kind is not names.ChannelKind.USER:
                self.stream.emit(ev.ChannelVacated(app_id, name))
            return
        self._count_changed(conn.app.enable_subscription_count, app_id, chan)

    # -- subscription_count ------------------------------------------------------------------

    def _count_changed(self, enabled: bool, app_id: str, chan: Channel) -> None:
        if not enabled or chan.type.is_presence or chan.type.kind is names.ChannelKind.USER:
            return
        if chan.count_timer is not None:
            return  # a throttled update is already scheduled; it will carry the latest count
        now = time.monotonic()
        wait = chan.count_sent_at + COUNT_INTERVAL - now
        if len(chan.subscribers) > COUNT_THROTTLE_ABOVE and wait > 0:
            chan.count_timer = asyncio.get_running_loop().call_later(wait, self._send_count, app_id, chan)
            return
        self._send_count(app_id, chan)

    def _send_count(self, app_id: str, chan: Channel) -> None:
        chan.count_timer = None
        st = self.apps.get(app_id)
        if st is None or st.channels.get(chan.name) is not chan:
            return
        chan.count_sent_at = time.monotonic()
        n = len(chan.subscribers)
        self._fanout(chan, text_frame(messages.subscription_count(chan.name, n)))
        self.stream.emit(ev.SubscriptionCountChanged(app_id, chan.name, n))

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
        self._fanout(chan, frame, skip=conn)
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

    def publish(
        self, app_id: str, event: str, channels: Iterable[str], data: str, except_socket: str | None = None
    ) -> int:
        """Deliver an HTTP-API event to local subscribers; returns the number of deliveries."""
        st = self.state(app_id)
        total = 0
        for name in channels:
            frame = text_frame(messages.event(event, name, data))
            ctype = names.channel_type(name)
            if ctype.cache:
                st.cache[name] = Cached(event, data, time.monotonic() + self.cache_ttl)
            if ctype.kind is names.ChannelKind.USER:
                user_id = names.user_id_of_channel(name)
                conns = st.users.get(user_id) if user_id is not None else None
                n = self._write_all(conns.values(), frame, except_socket) if conns else 0
            else:
                chan = st.channels.get(name)
                n = self._write_all(chan.subscribers.values(), frame, except_socket) if chan else 0
            total += n
            self.stream.emit(ev.Published(app_id, name, event, n))
        return total

    def _fanout(self, chan: Channel, frame: bytes, *, skip: Connection | None = None) -> None:
        self._write_all(chan.subscribers.values(), frame, skip.socket_id if skip is not None else None)

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
        self.remove(conn, "slow consumer")

    # -- queries for the HTTP API ------------------------------------------------------------

    def channels(self, app_id: str) -> dict[str, Channel]:
        st = self.apps.get(app_id)
        return st.channels if st else {}

    def channel(self, app_id: str, name: str) -> Channel | None:
        return self.channels(app_id).get(name)

    def cached(self, app_id: str, name: str) -> Cached | None:
        st = self.apps.get(app_id)
        cached = st.cache.get(name) if st else None
        if cached is not None and cached.expires_at <= time.monotonic():
            del st.cache[name]  # type: ignore[union-attr]
            return None
        return cached

    # -- users -------------------------------------------------------------------------------

    def terminate_user(self, app_id: str, user_id: str) -> int:
        """Close every connection signed in as this user with 4009; returns how many."""
        st = self.apps.get(app_id)
        conns = list(st.users.get(user_id, {}).values()) if st else []
        message = "You got disconnected by the app."
        for conn in conns:
            conn.send_error(Code.UNAUTHORIZED, message)
            conn.close(Code.UNAUTHORIZED, message)
        return len(conns)

    def signin(self, conn: Connection, data: Any) -> None:
        """`pusher:signin`: tie the connection to a user; the same user again is fine (pusher-js
        signs in after every reconnect), a different one is refused with 4009."""
        result = signin.verify(conn.app, conn.socket_id, data)
        if conn.user is not None and conn.user.id != result.user_id:
            raise ProtocolError(Code.UNAUTHORIZED, "Connection is already signed in as a different user")
        st = self.state(conn.app.id)
        if conn.user is not None:
            self._unwatch(st, conn)
        conns = st.users.setdefault(result.user_id, {})
        came_online = not conns
        conns[conn.socket_id] = conn
        conn.user = SignedIn(result.user_id, result.user_info, result.watchlist)
        conn.user_deadline = None
        conn.send(messages.signin_success(result.user_data))
        if result.watchlist_truncated:
            conn.send_error(Code.WATCHLIST_LIMIT, f"Watchlist is limited to {signin.MAX_WATCHLIST} user ids")
        if result.watchlist:
            for watched in result.watchlist:
                st.watchers.setdefault(watched, {})[conn.socket_id] = conn
            online = [w for w in result.watchlist if w in st.users]
            offline = [w for w in result.watchlist if w not in st.users]
            current = [("online", online), ("offline", offline)]
            conn.send(messages.watchlist_events([pair for pair in current if pair[1]]))
        if came_online:
            self._notify_watchers(st, result.user_id, "online")
            self.stream.emit(ev.UserOnline(conn.app.id, result.user_id))

    def _notify_watchers(self, st: AppState, user_id: str, status: str) -> None:
        watchers = st.watchers.get(user_id)
        if watchers:
            frame = text_frame(messages.watchlist_events([(status, [user_id])]))
            self._write_all(watchers.values(), frame, None)

    def _unwatch(self, st: AppState, conn: Connection) -> None:
        assert conn.user is not None
        for watched in conn.user.watchlist:
            watchers = st.watchers.get(watched)
            if watchers is not None:
                watchers.pop(conn.socket_id, None)
                if not watchers:
                    del st.watchers[watched]

    def _drop_user(self, st: AppState, conn: Connection) -> None:
        assert conn.user is not None
        self._unwatch(st, conn)
        user_id = conn.user.id
        conns = st.users.get(user_id)
        if conns is not None and conns.pop(conn.socket_id, None) is not None and not conns:
            del st.users[user_id]
            self._notify_watchers(st, user_id, "offline")
            self.stream.emit(ev.UserOffline(conn.app.id, user_id))


def _snapshot(chan: Channel) -> dict[str, Any] | None:
    return chan.roster.snapshot() if chan.roster is not None else None
