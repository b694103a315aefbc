"""The internal stream of what happened: connections, subscriptions, presence, events.

The hub emits; metrics, webhooks and (later) the debug console listen. Listeners are called
synchronously on the event loop and must be cheap: anything slow queues work for a task of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Event:
    app_id: str  # the Channels app id, or the Beams instance id for Beams events


@dataclass(frozen=True, slots=True)
class BeamsPublishAccepted(Event):
    publish_id: str
    kind: str  # "interests" | "users"
    targets: int


@dataclass(frozen=True, slots=True)
class BeamsDeviceUserSet(Event):
    device_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class ConnectionOpened(Event):
    socket_id: str


@dataclass(frozen=True, slots=True)
class ConnectionClosed(Event):
    socket_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class UserOnline(Event):
    """A user's first connection signed in."""

    user_id: str


@dataclass(frozen=True, slots=True)
class UserOffline(Event):
    """A user's last signed-in connection closed."""

    user_id: str


@dataclass(frozen=True, slots=True)
class ChannelOccupied(Event):
    channel: str


@dataclass(frozen=True, slots=True)
class ChannelVacated(Event):
    channel: str


@dataclass(frozen=True, slots=True)
class MemberAdded(Event):
    channel: str
    user_id: str


@dataclass(frozen=True, slots=True)
class MemberRemoved(Event):
    channel: str
    user_id: str


@dataclass(frozen=True, slots=True)
class SubscriptionCountChanged(Event):
    channel: str
    count: int


@dataclass(frozen=True, slots=True)
class ClientEventSent(Event):
    channel: str
    event: str
    data: str
    socket_id: str
    user_id: str | None


@dataclass(frozen=True, slots=True)
class CacheMiss(Event):
    channel: str


@dataclass(frozen=True, slots=True)
class Published(Event):
    channel: str
    event: str
    deliveries: int


@dataclass(frozen=True, slots=True)
class SlowConsumerCut(Event):
    socket_id: str


Listener = Callable[[Event], None]


class EventStream:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def emit(self, event: Event) -> None:
        for listener in self._listeners:
            listener(event)
