"""Channels events on the one stream (tidings.events): connections, subscriptions, presence, publishes.

The hub emits them; metrics, webhooks and (later) the console listen. Each carries the app id (`app_id`, also
`scope`), the time it was built (`at`) and, where there is one, the user id: a signed-in connection's user,
a presence member, a client event's sender.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from tidings.events import Event, EventStream, Listener, Product

# The stream types, so the runtime's modules import one events module.
__all__ = ["Event", "EventStream", "Listener"]


@dataclass(frozen=True, slots=True)
class ChannelsEvent(Event):
    product: ClassVar[Product] = "channels"
    app_id: str

    @property
    def scope(self) -> str:
        return self.app_id


@dataclass(frozen=True, slots=True)
class ConnectionOpened(ChannelsEvent):
    socket_id: str  # no user yet: signing in comes later (UserOnline)


@dataclass(frozen=True, slots=True)
class ConnectionClosed(ChannelsEvent):
    socket_id: str
    reason: str
    user_id: str | None = field(default=None, kw_only=True)  # the user it was signed in as
    code: int | None = field(default=None, kw_only=True)  # the WebSocket close code sent or received, if any


@dataclass(frozen=True, slots=True)
class SignedIn(ChannelsEvent):
    """A connection completed `pusher:signin` (every time: UserOnline only marks the user's first connection)."""

    socket_id: str
    user_id: str = field()
    watchlist: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WatchlistChanged(ChannelsEvent):
    """The backend replaced a user's watchlist (PUT .../users/{id}/watchlist): emitted once, by the node that
    took the request; every connection of the user, on every node, watches `watchlist` from then on."""

    user_id: str = field()
    watchlist: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Subscribed(ChannelsEvent):
    """One connection's subscription succeeded (per connection, never per delivery)."""

    socket_id: str
    channel: str
    user_id: str | None = field(default=None, kw_only=True)  # the connection's signed-in user or presence member


@dataclass(frozen=True, slots=True)
class Unsubscribed(ChannelsEvent):
    """A connection unsubscribed (a closing connection's channels are not announced one by one)."""

    socket_id: str
    channel: str
    user_id: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class UserOnline(ChannelsEvent):
    """A user's first connection signed in."""

    user_id: str = field()


@dataclass(frozen=True, slots=True)
class UserOffline(ChannelsEvent):
    """A user's last signed-in connection closed."""

    user_id: str = field()


@dataclass(frozen=True, slots=True)
class ChannelOccupied(ChannelsEvent):
    channel: str


@dataclass(frozen=True, slots=True)
class ChannelVacated(ChannelsEvent):
    channel: str


@dataclass(frozen=True, slots=True)
class MemberAdded(ChannelsEvent):
    channel: str
    user_id: str = field()


@dataclass(frozen=True, slots=True)
class MemberRemoved(ChannelsEvent):
    channel: str
    user_id: str = field()


@dataclass(frozen=True, slots=True)
class SubscriptionCountChanged(ChannelsEvent):
    channel: str
    count: int


@dataclass(frozen=True, slots=True)
class ClientEventSent(ChannelsEvent):
    channel: str
    event: str
    data: str
    socket_id: str
    user_id: str | None = field()  # the sender, when it is a presence member


@dataclass(frozen=True, slots=True)
class CacheMiss(ChannelsEvent):
    channel: str


@dataclass(frozen=True, slots=True)
class EventTriggered(ChannelsEvent):
    """An event published to channels (HTTP API, `send_to_user`, routed Beams publishes), once per trigger on the
    node that took it, with its payload: what the console shows. `Published` is the per-node delivery count."""

    event: str
    channels: tuple[str, ...]
    data: str
    socket_id: str | None = None  # the excluded sender, when the trigger named one


@dataclass(frozen=True, slots=True)
class WebhookSent(ChannelsEvent):
    """A webhook request got its answer (status 0: none). `target` is the URL's host[:port] only: URLs carry
    credentials."""

    target: str
    status: int
    events: int


@dataclass(frozen=True, slots=True)
class Published(ChannelsEvent):
    """Emitted once per channel per trigger, on the fan-out path: keep it small."""

    channel: str
    event: str
    deliveries: int


@dataclass(frozen=True, slots=True)
class SlowConsumerCut(ChannelsEvent):
    socket_id: str
    user_id: str | None = field(default=None, kw_only=True)  # the user it was signed in as


# -- the offline user mailbox (docs/user-first-delivery.md) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class MailboxKept(ChannelsEvent):
    """An event to a user with no `#server-to-user-` subscription anywhere was kept for their next one."""

    user_id: str = field()
    event: str


@dataclass(frozen=True, slots=True)
class MailboxDropped(ChannelsEvent):
    """The user's mailbox was full: this many of its oldest entries were dropped to keep a new one."""

    user_id: str = field()
    count: int


@dataclass(frozen=True, slots=True)
class MailboxReplayed(ChannelsEvent):
    """A connection's `#server-to-user-` subscription got the user's kept events, in order."""

    user_id: str = field()
    count: int
    socket_id: str


@dataclass(frozen=True, slots=True)
class MailboxExpired(ChannelsEvent):
    """Kept events of a user whose time was up were dropped, never replayed."""

    user_id: str = field()
    count: int
