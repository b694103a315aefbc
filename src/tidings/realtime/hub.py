"""The hub: what happens to this node's connections, channels and users, and what other nodes are told.

It composes the local indexes (index.py), the fan-out (fanout.py), subscription counts (counts.py) and
signed-in users (users.py), and carries out the shared-state actions of a connection's session
(channels/protocol.py): join, leave, sign in, relay a client event. Whatever other nodes must know goes
through the adapter (tidings.adapters), which also decides the transitions: the node whose operation made
a member's first join or a channel's last leave announces it, so member events reach every socket once and
webhooks are not duplicated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from tidings.adapters import Adapter, AdapterUnavailable, LocalAdapter, bus
from tidings.adapters.base import Joined, Member
from tidings.adapters.mailbox import Mailbox
from tidings.channels import messages, names, presence
from tidings.channels import protocol as p
from tidings.channels.apps import App
from tidings.channels.codes import Code
from tidings.channels.mailbox import Kept
from tidings.channels.subscription import Grant
from tidings.errors import ProtocolError, StorageError, SubscriptionError
from tidings.realtime import events as ev
from tidings.realtime import mailbox as mb
from tidings.realtime import presence_counts as pc
from tidings.realtime.connection import SLOW_CONSUMER, Connection
from tidings.realtime.counts import Counts, counted
from tidings.realtime.fanout import Fanout
from tidings.realtime.frames import text_frame
from tidings.realtime.index import Channel, Index
from tidings.realtime.joining import Held, Joining
from tidings.realtime.users import Users

log = logging.getLogger("tidings.hub")


class Hub:
    def __init__(
        self, stream: ev.EventStream, adapter: Adapter | None = None, *, cache_ttl: float = 1800.0,
        mailbox: Mailbox | None = None,
    ) -> None:
        self.stream = stream
        self.adapter: Adapter = adapter if adapter is not None else LocalAdapter(cache_ttl=cache_ttl)
        self.mailbox = mailbox  # the offline user mailbox (realtime/mailbox.py); None: apps' setting ignored
        self.index = Index()
        self.joining = Joining()  # frames for channels a connection is joining (shared adapter only)
        self.fanout = Fanout(self.index, self.joining, stream)
        self.counts = Counts(self.index, self.fanout, self.adapter, stream, self._spawn)
        self.users = Users(self.index, self.adapter, stream, self._broadcast, self._spawn)
        self.presence_counts = pc.PresenceCounts(self.index, self.fanout, self.adapter, self._spawn)
        # Set while the node drains (realtime/drain.py): awaited before a closed connection's channels and user
        # are given back, so a client reconnecting elsewhere meanwhile causes no member_removed/added flap.
        self.release_hold: Callable[[Connection], Awaitable[None]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- connections -------------------------------------------------------------------------

    def new_socket_id(self, app_id: str) -> str:
        return self.index.new_socket_id(app_id)

    def connection_count(self, app_id: str) -> int:
        return self.index.connection_count(app_id)

    def all_connections(self) -> Iterable[Connection]:
        return self.index.all_connections()

    async def admit(self, app: App) -> bool:
        """May one more connection of the app open (max_connections, cluster-wide)? Given back by `remove`,
        or by `unadmit` when the connection never opened."""
        return await self.users.guards.admit(app)

    async def unadmit(self, app: App) -> None:
        if app.limits.max_connections is not None:
            try:
                await self.adapter.release(app.id)
            except AdapterUnavailable as exc:
                log.warning("a connection's quota share not given back: %s", exc)

    def add(self, conn: Connection) -> None:
        self.index.add(conn)
        self.users.guards.admitted(conn)
        self.stream.emit(ev.ConnectionOpened(conn.app_id, conn.socket_id))

    async def remove(self, conn: Connection, reason: str = "closed") -> None:
        """Everything a closed connection held is given back; this always runs to its end."""
        st = self.index.pop(conn)
        if st is None:
            return
        conn.closing = True
        user = conn.user
        signed_in = user.id if user is not None else None  # for the events: a timeline names the user
        if conn.cut_reason == SLOW_CONSUMER:
            self.stream.emit(ev.SlowConsumerCut(conn.app_id, conn.socket_id, user_id=signed_in))
        # Local indexes first, synchronously: nothing is written to this connection any more.
        left = [(name, self.index.detach(st, conn, name)) for name in list(conn.channels)]
        # The user channel first, before any wait: until it is given back, the user counts as reachable and
        # events to them are sent live (to this closing connection: lost) instead of kept in the mailbox.
        left.sort(key=lambda item: not item[0].startswith(names.USER_CHANNEL_PREFIX))
        user_channels = sum(1 for name, _ in left if name.startswith(names.USER_CHANNEL_PREFIX))
        self.users.drop(st, conn)
        try:
            await self._release_all(conn, left[:user_channels])
            if self.release_hold is not None:
                await self.release_hold(conn)
            await self.users.guards.closed(conn)
            await self._release_all(conn, left[user_channels:])
            if user is not None:
                try:
                    await self.users.signed_out(conn.app_id, user.id, conn.socket_id)
                except Exception:
                    log.exception("signing out a closed connection failed")
        finally:
            self.stream.emit(
                ev.ConnectionClosed(conn.app_id, conn.socket_id, conn.cut_reason or reason, user_id=signed_in,
                                    code=conn.close_code)
            )

    async def _release_all(self, conn: Connection, left: list[tuple[str, str | None]]) -> None:
        for name, user_id in left:
            try:
                await self._release(conn.app, name, user_id)
            except Exception:
                log.exception("releasing a channel of a closed connection failed")

    # -- a session's actions ------------------------------------------------------------------

    async def perform(self, conn: Connection, action: p.Join | p.Leave | p.SignInUser | p.Relay) -> None:
        """Carry out one shared-state action of a session; refusals are answered to the connection."""
        try:
            if isinstance(action, p.Join):
                await self.subscribe(conn, action.grant)
            elif isinstance(action, p.Leave):
                await self.unsubscribe(conn, action.channel)
            elif isinstance(action, p.SignInUser):
                await self.users.signin(conn, action.result)
            else:
                await self.users.guards.client_event(conn, action.channel, action.user_id)
                self.relay(conn, action)
        except ProtocolError as exc:
            conn.apply(conn.session.refuse(exc))

    # -- subscriptions -----------------------------------------------------------------------

    async def subscribe(self, conn: Connection, grant: Grant) -> None:
        app = conn.app
        name = grant.channel
        st = self.index.state(app.id)
        chan = st.channels.get(name)
        if chan is not None and conn.socket_id in chan.subscribers:
            # Idempotent: answer a repeated subscribe again, without announcing anyone twice.
            members = None
            if grant.type.is_presence:
                members = await self._unavailable_as(name, self.adapter.members(app.id, name))
            roster = presence.snapshot(members)
            if members is not None and grant.user_id is not None and pc.counts_only(app, len(members)):
                roster = pc.snapshot(grant.user_id, grant.user_info, len(members))
            conn.send(messages.subscription_succeeded(name, roster))
            return
        member = None
        if grant.type.is_presence and grant.user_id is not None:
            member = Member(grant.user_id, grant.user_info, app.limits.max_presence_members, pc.threshold(app))
        kept: list[Kept] = []
        mailbox_user = self._mailbox_user(app, name)
        if mailbox_user is not None:
            joined, held, kept = await self._join_user_channel(conn, name, mailbox_user)
        elif self.adapter.shared:
            with self.joining.wait(app.id, name) as held:
                joined = await self._unavailable_as(name, self.adapter.join(app.id, name, member, grant.type.cache))
        else:
            joined, held = await self.adapter.join(app.id, name, member, grant.type.cache), []
        if joined.full:
            limit = app.limits.max_presence_members
            raise SubscriptionError(
                name, f"The maximum number of members ({limit}) in this channel has been reached",
                type="LimitReached", status=4100,
            )
        if not self.index.is_current(conn):  # it closed while we waited: give the subscription back
            if kept and mailbox_user is not None:
                await self._put_back(app, mailbox_user, kept)
            await self._release(app, name, grant.user_id)
            return
        self.index.attach(st, conn, name, grant.type)
        subscriber = grant.user_id if grant.user_id is not None else conn.user.id if conn.user is not None else None
        self.stream.emit(ev.Subscribed(app.id, conn.socket_id, name, user_id=subscriber))
        if joined.count == 1 and grant.type.kind is not names.ChannelKind.USER:  # internal: no webhooks
            self.stream.emit(ev.ChannelOccupied(app.id, name))
        conn.session.joined(grant)
        counts_only = member is not None and pc.counts_only(app, joined.member_count)
        roster = presence.snapshot(joined.members) if member else None
        if counts_only and grant.user_id is not None:
            roster = pc.snapshot(grant.user_id, grant.user_info, joined.member_count)
        conn.send(messages.subscription_succeeded(name, roster))
        if kept and mailbox_user is not None:  # before the held frames: those are newer
            mb.replay(self.stream, conn, name, mailbox_user, kept)
        if held:
            self.joining.replay(conn, held, joined.members if member else None)
        if joined.first_member and grant.user_id is not None:
            if not counts_only:
                frame = text_frame(messages.member_added(name, grant.user_id, grant.user_info))
                self.fanout.to_channel(app.id, name, Held(frame, added=grant.user_id), skip=conn)
                self._broadcast(bus.MemberAdded(app.id, name, grant.user_id, grant.user_info))
            self._presence_count_changed(app, name)
            self.stream.emit(ev.MemberAdded(app.id, name, grant.user_id))
        if grant.type.cache:
            if joined.cached is not None:
                conn.send(messages.event(joined.cached.event, name, joined.cached.data))
            else:
                conn.send(messages.cache_miss(name))
                self.stream.emit(ev.CacheMiss(app.id, name))
        self._count_changed(app, name, joined.count)

    async def unsubscribe(self, conn: Connection, name: str) -> None:
        st = self.index.apps.get(conn.app_id)
        if st is not None and name in conn.channels:
            user = conn.user.id if conn.user is not None else None
            self.stream.emit(ev.Unsubscribed(conn.app_id, conn.socket_id, name, user_id=user))
            await self._release(conn.app, name, self.index.detach(st, conn, name))

    def _mailbox_user(self, app: App, name: str) -> str | None:
        """The user whose mailbox a subscription to `name` takes, if any."""
        if self.mailbox is None or app.user_mailbox <= 0:
            return None
        return names.user_id_of_channel(name)

    async def _join_user_channel(
        self, conn: Connection, name: str, user_id: str
    ) -> tuple[Joined, list[Held], list[Kept]]:
        """Join the user channel and take the user's mailbox as one step with respect to `keep`
        (adapters/mailbox.py); frames to the user meanwhile are held back and come after the kept ones."""
        assert self.mailbox is not None
        app = conn.app
        async with self.mailbox.joining(app.id, user_id):
            with self.joining.wait(app.id, name, conn.socket_id) as held:
                joined = await self._unavailable_as(name, self.adapter.join(app.id, name, None, False))
                try:
                    taken = await self.mailbox.take(app.id, user_id)
                except (AdapterUnavailable, StorageError) as exc:
                    # Not subscribed without its kept events: they would come after newer live ones later.
                    await self._release(app, name, None)
                    log.warning("subscribe failed: the user's mailbox did not answer: %s", exc)
                    raise SubscriptionError(
                        name, "Subscriptions are temporarily unavailable", type="ServerError", status=503
                    ) from exc
        if taken.expired:
            self.stream.emit(ev.MailboxExpired(app.id, user_id, taken.expired))
        return joined, held, taken.entries

    async def _put_back(self, app: App, user_id: str, kept: list[Kept]) -> None:
        assert self.mailbox is not None
        try:
            dropped = await self.mailbox.put_back(app, user_id, kept)
        except (AdapterUnavailable, StorageError) as exc:
            log.warning("%d kept event(s) of a user lost: their connection closed and the mailbox did not answer: %s",
                        len(kept), exc)
            return
        if dropped:
            self.stream.emit(ev.MailboxDropped(app.id, user_id, dropped))

    @staticmethod
    async def _unavailable_as(name: str, call: Coroutine[Any, Any, Any]) -> Any:
        try:
            return await call
        except AdapterUnavailable as exc:
            log.warning("subscribe failed: %s", exc)
            raise SubscriptionError(
                name, "Subscriptions are temporarily unavailable", type="ServerError", status=503
            ) from exc

    async def _release(self, app: App, name: str, user_id: str | None) -> None:
        """Give one subscription back to the adapter and announce what that changed."""
        app_id = app.id
        try:
            left = await self.adapter.leave(app_id, name, user_id)
        except AdapterUnavailable as exc:
            log.warning("unsubscribe from a channel not recorded: %s", exc)
            return
        if left.last_member and user_id is not None:
            if not pc.counts_only(app, left.member_count + 1):  # as the channel was: the others saw them join
                frame = text_frame(messages.member_removed(name, user_id))
                self.fanout.to_channel(app_id, name, Held(frame, removed=user_id))
                self._broadcast(bus.MemberRemoved(app_id, name, user_id))
            if not left.vacated:
                self._presence_count_changed(app, name)
            self.stream.emit(ev.MemberRemoved(app_id, name, user_id))
        if left.vacated:
            if names.channel_type(name).kind is not names.ChannelKind.USER:
                self.stream.emit(ev.ChannelVacated(app_id, name))
            return
        self._count_changed(app, name, left.count)

    def _presence_count_changed(self, app: App, name: str) -> None:
        """A counted presence channel (the app sets presence_counts_only_above) gained or lost a member."""
        if pc.threshold(app) is not None:
            self._broadcast(bus.PresenceCount(app.id, name))
            self.presence_counts.changed(app.id, name)

    def _count_changed(self, app: App, name: str, count: int) -> None:
        """This node changed a channel's count: tell the other nodes, and this node's subscribers."""
        if not counted(app, name):
            return
        self._broadcast(bus.Count(app.id, name, count))
        chan = self.index.channel(app.id, name)
        if chan is not None:
            self.counts.learned(app.id, chan, count, mine=True)

    # -- events ------------------------------------------------------------------------------

    def relay(self, conn: Connection, action: p.Relay) -> None:
        """A client event, checked by the session: to the channel's other subscribers, here and elsewhere."""
        app_id = conn.app_id
        try:
            self._broadcast(bus.ClientEvent(app_id, action.channel, action.event, action.data, action.user_id),
                            required=True)
        except AdapterUnavailable:
            raise ProtocolError(
                Code.CLIENT_EVENT_REJECTED, "Client events are temporarily unavailable", channel=action.channel
            ) from None
        frame = text_frame(messages.event(action.event, action.channel, action.data, action.user_id))
        self.fanout.to_channel(app_id, action.channel, Held(frame), conn)
        self.stream.emit(
            ev.ClientEventSent(app_id, action.channel, action.event, action.data, conn.socket_id, action.user_id)
        )

    async def trigger(
        self, app: App, event: str, channels: Iterable[str], data: str, except_socket: str | None = None
    ) -> int:
        """An HTTP-API event: cache channels' last event stored first (a subscriber arriving on any node
        after the answer gets it), events to users nobody is subscribed for kept in the mailbox (apps with
        one), then delivered on every other node and here. Raises AdapterUnavailable (or StorageError: the
        mailbox) before anything is delivered when the cluster cannot take it. Returns local deliveries."""
        app_id = app.id
        channels = tuple(channels)
        for name in channels:
            if names.channel_type(name).cache:
                await self.adapter.set_cached(app_id, name, event, data)
        if self.mailbox is not None and app.user_mailbox > 0:
            channels = await mb.keep_offline(self.mailbox, self.stream, app, event, channels, data)
            if not channels:
                return 0
        return self._publish(app_id, event, channels, data, except_socket)

    def publish(
        self, app_id: str, event: str, channels: Iterable[str], data: str, except_socket: str | None = None
    ) -> int:
        """`trigger` for synchronous callers: the cache write runs in a task of its own. Never kept in the
        mailbox: Beams routing publishes here only to users it found subscribed (a user offline then gets a
        push instead)."""
        channels = tuple(channels)
        for name in channels:
            if names.channel_type(name).cache:
                self._spawn(self._set_cached(app_id, name, event, data))
        return self._publish(app_id, event, channels, data, except_socket)

    async def _set_cached(self, app_id: str, name: str, event: str, data: str) -> None:
        try:
            await self.adapter.set_cached(app_id, name, event, data)
        except AdapterUnavailable as exc:
            log.warning("the last event of a cache channel was not stored: %s", exc)

    def _publish(self, app_id: str, event: str, channels: tuple[str, ...], data: str, except_socket: str | None) -> int:
        # One bus message per trigger, whatever the number of channels or subscribers; sent (or refused)
        # before the local delivery, so a refusal delivers nothing anywhere.
        self._broadcast(bus.Publish(app_id, event, channels, data, except_socket), required=True)
        self.stream.emit(ev.EventTriggered(app_id, event, channels, data, except_socket))  # once, not per delivery
        return self.fanout.deliver(app_id, event, channels, data, except_socket)

    def deliver(self, app_id: str, event: str, channels: Iterable[str], data: str, except_socket: str | None) -> int:
        return self.fanout.deliver(app_id, event, channels, data, except_socket)

    # -- users -------------------------------------------------------------------------------

    def terminate_user(self, app_id: str, user_id: str) -> int:
        return self.users.terminate(app_id, user_id)

    # -- plumbing ----------------------------------------------------------------------------

    def _broadcast(self, message: bus.BusMessage, *, required: bool = False) -> None:
        """To the other nodes. `required`: raise AdapterUnavailable when the bus cannot take it; otherwise
        (a transition whose local effects already happened) log it and go on."""
        if not self.adapter.shared:
            return
        try:
            self.adapter.broadcast(message)
        except AdapterUnavailable as exc:
            if required:
                raise
            log.warning("a %s message could not be sent to the other nodes: %s", message.TAG, exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- queries -----------------------------------------------------------------------------

    def channels(self, app_id: str) -> dict[str, Channel]:
        """This node's channels (with local subscribers); the HTTP API asks the adapter instead."""
        return self.index.channels(app_id)

    def channel(self, app_id: str, name: str) -> Channel | None:
        return self.index.channel(app_id, name)
