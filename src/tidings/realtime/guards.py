"""Per-user guard rails and the cluster-wide connection quota (docs/users.md), each off until an app sets it.

- `max_connections`: counted across the cluster (the adapter's `admit`/`release`), not per node.
- `max_connections_per_user`: a user's connection beyond the cap closes their OLDEST connection, wherever it
  is, with 4004 (pusher-js does not reconnect on 4001-4099, so two tabs never take turns kicking each other
  out). Closing the oldest rather than refusing the newest: the newest is the one the user is looking at,
  and the oldest may well be a socket of a laptop that went to sleep, which would otherwise lock the user
  out until its ping times out.
- `client_events_per_second_per_user`: across all the user's connections, 4301 as the per-connection limit.
The session lifetime (`expires_at`, `max_session_seconds`) is a deadline of each session (channels/protocol.py).

When the shared state does not answer, the guard rails let the connection through (logged): they bound what
a user may take, they are not what keeps the service up.
"""

from __future__ import annotations

import logging
from typing import Protocol

from tidings.adapters import Adapter, AdapterUnavailable, bus
from tidings.channels.apps import App
from tidings.channels.codes import Code
from tidings.errors import ProtocolError
from tidings.realtime.connection import Connection
from tidings.realtime.index import Index

log = logging.getLogger("tidings.hub")

TOO_MANY = "Too many connections for this user: the oldest is closed"


class Broadcast(Protocol):
    def __call__(self, message: bus.BusMessage, *, required: bool = False) -> None: ...


class Guards:
    __slots__ = ("_admitted", "_tracked", "adapter", "broadcast", "index")

    def __init__(self, index: Index, adapter: Adapter, broadcast: Broadcast) -> None:
        self.index = index
        self.adapter = adapter
        self.broadcast = broadcast
        self._admitted: set[tuple[str, str]] = set()  # (app, socket) counted in the cluster-wide quota
        self._tracked: set[tuple[str, str]] = set()  # (app, socket) in its user's cluster-wide connection list

    # -- the app's connection quota ---------------------------------------------------------------

    async def admit(self, app: App) -> bool:
        """Before a connection opens: within the app's max_connections across the cluster?"""
        limit = app.limits.max_connections
        if limit is None:
            return True
        try:
            return await self.adapter.admit(app.id, limit)
        except AdapterUnavailable as exc:
            log.warning("connection quota not checked: %s", exc)
            return self.index.connection_count(app.id) < limit  # this node's own count, as before Redis

    def admitted(self, conn: Connection) -> None:
        """The connection `admit` let in is open: it is given back when it closes."""
        if conn.app.limits.max_connections is not None:
            self._admitted.add((conn.app_id, conn.socket_id))

    async def closed(self, conn: Connection) -> None:
        key = (conn.app_id, conn.socket_id)
        if key in self._admitted:
            self._admitted.discard(key)
            try:
                await self.adapter.release(conn.app_id)
            except AdapterUnavailable as exc:
                log.warning("a connection's quota share not given back: %s", exc)

    # -- connections per user -----------------------------------------------------------------------

    async def signed_in(self, conn: Connection, user_id: str) -> None:
        limit = conn.app.limits.max_connections_per_user
        if limit is None:
            return
        key = (conn.app_id, conn.socket_id)
        try:
            over = await self.adapter.track_connection(conn.app_id, user_id, conn.socket_id, limit)
        except AdapterUnavailable as exc:
            log.warning("connections per user not checked: %s", exc)
            return
        self._tracked.add(key)
        if not self.index.is_current(conn):  # closed while we waited
            await self.signed_out(conn.app_id, user_id, conn.socket_id)
        if over:
            self.close_local(conn.app_id, over, Code.OVER_CONNECTION_QUOTA, TOO_MANY)
            elsewhere = tuple(sid for sid in over if self._local(conn.app_id, sid) is None)
            if elsewhere:
                self.broadcast(bus.CloseConnections(conn.app_id, user_id, elsewhere, Code.OVER_CONNECTION_QUOTA,
                                                    TOO_MANY))

    async def signed_out(self, app_id: str, user_id: str, socket_id: str) -> None:
        key = (app_id, socket_id)
        if key not in self._tracked:
            return
        self._tracked.discard(key)
        try:
            await self.adapter.untrack_connection(app_id, user_id, socket_id)
        except AdapterUnavailable as exc:
            log.warning("a user's connection not forgotten: %s", exc)

    def close_local(self, app_id: str, socket_ids: tuple[str, ...] | list[str], code: int, reason: str) -> None:
        for sid in socket_ids:
            conn = self._local(app_id, sid)
            if conn is not None:
                conn.fail(code, reason)

    def _local(self, app_id: str, socket_id: str) -> Connection | None:
        st = self.index.apps.get(app_id)
        return st.connections.get(socket_id) if st is not None else None

    # -- client events per user ---------------------------------------------------------------------

    async def client_event(self, conn: Connection, channel: str, member_id: str | None) -> None:
        """Raises ProtocolError 4301 when the user is over their rate; a connection without a user (not signed
        in, not a presence member) has only the per-connection limit."""
        limit = conn.app.limits.client_events_per_second_per_user
        user = conn.user.id if conn.user is not None else member_id
        if limit is None or user is None:
            return
        try:
            allowed = await self.adapter.client_event_allowed(conn.app_id, user, limit)
        except AdapterUnavailable as exc:
            log.warning("client event rate per user not checked: %s", exc)
            return
        if not allowed:
            raise ProtocolError(
                Code.CLIENT_EVENT_REJECTED,
                f"Client event rate limit reached: at most {limit} per second for this user, across their connections",
                channel=channel,
            )
