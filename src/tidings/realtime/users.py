"""Signed-in users on the hub: `pusher:signin`, watchlists, and terminating a user's connections.

A mixin of Hub (realtime/hub.py), kept apart because users change for their own reasons. Whether a user is
online is the adapter's answer (cluster-wide); the connections and watchers indexed here are this node's.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from tidings.adapters import Adapter, AdapterUnavailable, bus
from tidings.channels import messages, signin
from tidings.channels.apps import App
from tidings.channels.codes import Code
from tidings.channels.subscription import SignedIn
from tidings.errors import ProtocolError
from tidings.realtime import events as ev
from tidings.realtime.connection import Connection
from tidings.realtime.frames import text_frame

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tidings.realtime.hub import AppState

log = logging.getLogger("tidings.hub")


class UserIndex:
    # Provided by Hub.
    adapter: Adapter
    stream: ev.EventStream
    apps: dict[str, AppState]

    if TYPE_CHECKING:

        def state(self, app_id: str) -> AppState: ...
        def is_current(self, conn: Connection) -> bool: ...
        def _broadcast(self, message: bus.BusMessage) -> None: ...
        def _write_all(self, conns: Iterable[Connection], frame: bytes, except_socket: str | None) -> int: ...

    def terminate_user(self, app_id: str, user_id: str) -> int:
        """Close every connection signed in as this user with 4009, on every node; returns how many here."""
        self._broadcast(bus.Terminate(app_id, user_id))
        return self.terminate_local(app_id, user_id)

    def terminate_local(self, app_id: str, user_id: str) -> int:
        st = self.apps.get(app_id)
        conns = list(st.users.get(user_id, {}).values()) if st else []
        message = "You got disconnected by the app."
        for conn in conns:
            conn.send_error(Code.UNAUTHORIZED, message)
            conn.close(Code.UNAUTHORIZED, message)
        return len(conns)

    async def signin(self, conn: Connection, data: Any) -> None:
        """`pusher:signin`: tie the connection to a user; the same user again is fine (pusher-js
        signs in after every reconnect), a different one is refused with 4009."""
        app = conn.app
        result = signin.verify(app, conn.socket_id, data)
        if conn.user is not None and conn.user.id != result.user_id:
            raise ProtocolError(Code.UNAUTHORIZED, "Connection is already signed in as a different user")
        again = conn.user is not None
        try:
            if again:
                came_online, online = False, await self.adapter.online(app.id, result.watchlist)
            else:
                came_online, online = await self.adapter.sign_in(app.id, result.user_id, result.watchlist)
        except AdapterUnavailable as exc:
            log.warning("sign-in failed: %s", exc)
            raise ProtocolError(None, "Sign-in is temporarily unavailable, try again") from exc
        if not self.is_current(conn):  # closed while we waited
            if not again:
                await self.adapter.sign_out(app.id, result.user_id)
            return
        st = self.state(app.id)
        if conn.user is not None:
            self._unwatch(st, conn)
        st.users.setdefault(result.user_id, {})[conn.socket_id] = conn
        conn.user = SignedIn(result.user_id, result.user_info, result.watchlist)
        conn.user_deadline = None
        conn.send(messages.signin_success(result.user_data))
        if result.watchlist_truncated:
            conn.send_error(Code.WATCHLIST_LIMIT, f"Watchlist is limited to {signin.MAX_WATCHLIST} user ids")
        if result.watchlist:
            for watched in result.watchlist:
                st.watchers.setdefault(watched, {})[conn.socket_id] = conn
            on = [w for w in result.watchlist if w in online]
            off = [w for w in result.watchlist if w not in online]
            conn.send(messages.watchlist_events([pair for pair in (("online", on), ("offline", off)) if pair[1]]))
        if came_online:
            self.notify_watchers(app.id, result.user_id, "online")
            self._broadcast(bus.UserStatus(app.id, result.user_id, online=True))
            self.stream.emit(ev.UserOnline(app.id, result.user_id))

    def notify_watchers(self, app_id: str, user_id: str, status: str) -> None:
        st = self.apps.get(app_id)
        watchers = st.watchers.get(user_id) if st is not None else None
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
        """Take a closing connection out of the local user indexes."""
        assert conn.user is not None
        self._unwatch(st, conn)
        conns = st.users.get(conn.user.id)
        if conns is not None and conns.pop(conn.socket_id, None) is not None and not conns:
            del st.users[conn.user.id]

    async def _signed_out(self, app: App, user_id: str) -> None:
        try:
            last = await self.adapter.sign_out(app.id, user_id)
        except AdapterUnavailable as exc:
            log.warning("sign-out of a user not recorded: %s", exc)
            return
        if last:
            self.notify_watchers(app.id, user_id, "offline")
            self._broadcast(bus.UserStatus(app.id, user_id, online=False))
            self.stream.emit(ev.UserOffline(app.id, user_id))
