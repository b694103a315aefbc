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
class Published(ChannelsEvent):
    """Emitted once per channel per trigger, on the fan-out path: keep it small."""

    channel: str
    event: str
    deliveries: int


@dataclass(frozen=True, slots=True)
class SlowConsumerCut(ChannelsEvent):
    socket_id: str
    user_id: str | None = field(default=None, kw_only=True)  # the user it was signed in as
