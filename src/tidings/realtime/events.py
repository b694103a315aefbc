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
class BeamsPublishStarted(Event):
    """A delivery worker claimed the publish (again, if `resumed`: it takes over where another stopped)."""

    publish_id: str
    resumed: bool


@dataclass(frozen=True, slots=True)
class BeamsDelivered(Event):
    """One device's result for a publish, emitted once it is recorded."""

    publish_id: str
    device_id: str
    user_id: str | None
    platform: str  # "web" | "apns" | "fcm"
    outcome: str  # "sent" | "failed" | "removed" (dead token, device deleted) | "skipped"
    status: int | None  # the gateway's HTTP status, when there was one
    attempts: int


@dataclass(frozen=True, slots=True)
class BeamsPublishFinished(Event):
    """Every targeted device has a recorded result."""

    publish_id: str


@dataclass(frozen=True, slots=True)
class BeamsDeviceUserSet(Event):
    device_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class BeamsNotificationReported(Event):
    """A device reported a notification through the reporting API (stored before this is emitted)."""

    publish_id: str
    event: str  # "delivery" | "open" (lower-cased)
    device_id: str
    user_id: str | None  # as the device reported it; the web SDK sends none when no user is set


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
