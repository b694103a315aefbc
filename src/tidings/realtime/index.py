"""This node's indexes: app -> connections, channels with their local subscribers, signed-in users, watchers.

Plain dicts, changed only by the hub and the user registry; whatever other nodes must know is the
adapter's (tidings.adapters).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from tidings.channels import names
from tidings.realtime.connection import Connection


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


class Index:
    __slots__ = ("_rand", "apps")

    def __init__(self) -> None:
        self.apps: dict[str, AppState] = {}
        self._rand = random.SystemRandom()

    def state(self, app_id: str) -> AppState:
        st = self.apps.get(app_id)
        if st is None:
            st = self.apps[app_id] = AppState()
        return st

    def connection_count(self, app_id: str) -> int:
        st = self.apps.get(app_id)
        return len(st.connections) if st else 0

    def new_socket_id(self, app_id: str) -> str:
        st = self.apps.get(app_id)
        while True:
            sid = f"{self._rand.randrange(10**9, 10**10)}.{self._rand.randrange(10**9, 10**10)}"
            if st is None or sid not in st.connections:
                return sid

    def add(self, conn: Connection) -> None:
        self.state(conn.app_id).connections[conn.socket_id] = conn

    def pop(self, conn: Connection) -> AppState | None:
        """Unregister; None when it was not registered (already removed)."""
        st = self.apps.get(conn.app_id)
        if st is None or st.connections.get(conn.socket_id) is not conn:
            return None
        del st.connections[conn.socket_id]
        return st

    def is_current(self, conn: Connection) -> bool:
        """Still registered: False once removed (removal may run while a subscribe or sign-in awaits)."""
        st = self.apps.get(conn.app_id)
        return st is not None and st.connections.get(conn.socket_id) is conn

    def all_connections(self) -> Iterator[Connection]:
        for st in list(self.apps.values()):
            yield from list(st.connections.values())

    def channels(self, app_id: str) -> dict[str, Channel]:
        st = self.apps.get(app_id)
        return st.channels if st else {}

    def channel(self, app_id: str, name: str) -> Channel | None:
        st = self.apps.get(app_id)
        return st.channels.get(name) if st else None

    def attach(self, st: AppState, conn: Connection, name: str, ctype: names.ChannelType) -> Channel:
        chan = st.channels.get(name)
        if chan is None:
            chan = st.channels[name] = Channel(name, ctype)
        chan.subscribers[conn.socket_id] = conn
        return chan

    def detach(self, st: AppState, conn: Connection, name: str) -> str | None:
        """Take a connection out of a channel's local index; returns its presence member id."""
        user_id = conn.session.left(name)
        chan = st.channels.get(name)
        if chan is not None and chan.subscribers.pop(conn.socket_id, None) is not None and not chan.subscribers:
            if chan.count_timer is not None:
                chan.count_timer.cancel()
            del st.channels[name]
        return user_id
