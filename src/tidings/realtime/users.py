"""Signed-in users on this node: `pusher:signin`, watchlists (also replaced live), and terminating a user's
connections. The per-user guard rails are realtime/guards.py's.

Whether a user is online is the adapter's answer (cluster-wide); the connections and watchers indexed here
are this node's. The signature and user_data checks happened in the connection's session
(channels/protocol.py); this is the part that needs shared state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from tidings.adapters import Adapter, AdapterUnavailable, bus
from tidings.channels import messages, signin
from tidings.channels.codes import Code
from tidings.errors import ProtocolError
from tidings.realtime import events as ev
from tidings.realtime.connection import Connection
from tidings.realtime.fanout import write_all
from tidings.realtime.frames import text_frame
from tidings.realtime.guards import Guards
from tidings.realtime.index import AppState, Index

log = logging.getLogger("tidings.hub")

class Broadcast(Protocol):
    def __call__(self, message: bus.BusMessage, *, required: bool = False) -> None: ...


Spawn = Callable[[Coroutine[Any, Any, None]], None]


class Users:
    __slots__ = ("adapter", "broadcast", "guards", "index", "spawn", "stream")

    def __init__(
        self, index: Index, adapter: Adapter, stream: ev.EventStream, broadcast: Broadcast, spawn: Spawn
    ) -> None:
        self.index = index
        self.adapter = adapter
        self.stream = stream
        self.broadcast = broadcast
        self.spawn = spawn
        self.guards = Guards(index, adapter, broadcast)

    def terminate(self, app_id: str, user_id: str) -> int:
        """Close every connection signed in as this user with 4009, on every node; returns how many here.
        Raises AdapterUnavailable (nothing done) when the other nodes cannot be told."""
        self.broadcast(bus.Terminate(app_id, user_id), required=True)
        return self.terminate_local(app_id, user_id)

    def terminate_local(self, app_id: str, user_id: str) -> int:
        st = self.index.apps.get(app_id)
        conns = list(st.users.get(user_id, {}).values()) if st else []
        for conn in conns:
            conn.fail(Code.UNAUTHORIZED, "You got disconnected by the app.")
        return len(conns)

    async def signin(self, conn: Connection, result: signin.SignIn) -> None:
        """Tie the connection to a user; the same user again is fine (pusher-js signs in after every
        reconnect): then only the watchlist is read again."""
        app_id = conn.app_id
        again = conn.user is not None
        try:
            if again:
                came_online, online = False, await self.adapter.online(app_id, result.watchlist)
            else:
                came_online, online = await self.adapter.sign_in(app_id, result.user_id, result.watchlist)
        except AdapterUnavailable as exc:
            log.warning("sign-in failed: %s", exc)
            raise ProtocolError(None, "Sign-in is temporarily unavailable, try again") from exc
        if not again:  # before the answer: once the client knows it is signed in, it counts
            await self.guards.signed_in(conn, result.user_id)
        if not self.index.is_current(conn):  # closed while we waited
            if not again:
                await self.signed_out(app_id, result.user_id)
            return
        st = self.index.state(app_id)
        if conn.user is not None:
            self._unwatch(st, conn)
        st.users.setdefault(result.user_id, {})[conn.socket_id] = conn
        conn.session.signed_in(result)
        conn.send(messages.signin_success(result.user_data))
        self.stream.emit(ev.SignedIn(app_id, conn.socket_id, result.user_id, result.watchlist))
        if result.watchlist_truncated:
            limit = conn.app.limits.max_watchlist_size
            conn.send(messages.error(Code.WATCHLIST_LIMIT, f"Watchlist is limited to {limit} user ids"))
        if result.watchlist:
            for watched in result.watchlist:
                st.watchers.setdefault(watched, {})[conn.socket_id] = conn
            on = [w for w in result.watchlist if w in online]
            off = [w for w in result.watchlist if w not in online]
            conn.send(messages.watchlist_events([pair for pair in (("online", on), ("offline", off)) if pair[1]]))
        if came_online:
            self.notify_watchers(app_id, result.user_id, online=True)
            self.broadcast(bus.UserStatus(app_id, result.user_id, online=True))
            self.stream.emit(ev.UserOnline(app_id, result.user_id))

    # -- live watchlists ---------------------------------------------------------------------

    def replace_watchlist(self, app_id: str, user_id: str, watchlist: tuple[str, ...]) -> None:
        """The backend's new watchlist for every connection of the user, on every node. Raises
        AdapterUnavailable (nothing done) when the other nodes cannot be told."""
        self.broadcast(bus.Watchlist(app_id, user_id, watchlist), required=True)
        self.stream.emit(ev.WatchlistChanged(app_id, user_id, watchlist))
        self.spawn(self.apply_watchlist(app_id, user_id, watchlist))

    async def apply_watchlist(self, app_id: str, user_id: str, watchlist: tuple[str, ...]) -> None:
        """This node's connections of the user watch `watchlist` from now on: each gets the state of the ids it
        did not watch yet, and no more events for the ids it no longer watches. No sign-in again."""
        st = self.index.apps.get(app_id)
        conns = list(st.users.get(user_id, {}).values()) if st is not None else []
        if st is None or not conns:
            return
        added: dict[str, list[str]] = {}
        for conn in conns:
            assert conn.user is not None
            old = set(conn.user.watchlist)
            self._unwatch(st, conn)
            conn.session.watchlist_replaced(watchlist)
            for watched in watchlist:
                st.watchers.setdefault(watched, {})[conn.socket_id] = conn
            added[conn.socket_id] = [w for w in watchlist if w not in old]
        wanted = tuple(dict.fromkeys(w for ids in added.values() for w in ids))
        if not wanted:
            return
        try:
            online = await self.adapter.online(app_id, wanted)
        except AdapterUnavailable as exc:
            log.warning("state of newly watched users not read: %s", exc)
            return
        for conn in conns:
            ids = added[conn.socket_id]
            if ids and self.index.is_current(conn):
                on = [w for w in ids if w in online]
                off = [w for w in ids if w not in online]
                conn.send(messages.watchlist_events([pair for pair in (("online", on), ("offline", off)) if pair[1]]))

    def notify_watchers(self, app_id: str, user_id: str, *, online: bool) -> None:
        st = self.index.apps.get(app_id)
        watchers = st.watchers.get(user_id) if st is not None else None
        if watchers:
            frame = text_frame(messages.watchlist_events([("online" if online else "offline", [user_id])]))
            write_all(list(watchers.values()), frame)

    def drop(self, st: AppState, conn: Connection) -> None:
        """Take a closing connection out of the local user indexes (synchronous, cannot fail)."""
        if conn.user is None:
            return
        self._unwatch(st, conn)
        conns = st.users.get(conn.user.id)
        if conns is not None and conns.pop(conn.socket_id, None) is not None and not conns:
            del st.users[conn.user.id]

    async def signed_out(self, app_id: str, user_id: str, socket_id: str | None = None) -> None:
        if socket_id is not None:
            await self.guards.signed_out(app_id, user_id, socket_id)
        try:
            last = await self.adapter.sign_out(app_id, user_id)
        except AdapterUnavailable as exc:
            log.warning("sign-out of a user not recorded: %s", exc)
            return
        if last:
            self.notify_watchers(app_id, user_id, online=False)
            self.broadcast(bus.UserStatus(app_id, user_id, online=False))
            self.stream.emit(ev.UserOffline(app_id, user_id))

    def _unwatch(self, st: AppState, conn: Connection) -> None:
        assert conn.user is not None
        for watched in conn.user.watchlist:
            watchers = st.watchers.get(watched)
            if watchers is not None:
                watchers.pop(conn.socket_id, None)
                if not watchers:
                    del st.watchers[watched]
