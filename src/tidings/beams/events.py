"""Beams events on the one stream (tidings.events): publishes accepted, started, delivered, finished; devices.

The Beams APIs and the delivery workers emit them; metrics and webhooks listen. Each carries the instance id
(`instance_id`, also `scope`), the time it was built (`at`) and, where there is one, the device's user id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from tidings.events import Event, EventStream, Listener, Product

# The stream types, so the Beams drivers import one events module.
__all__ = ["Event", "EventStream", "Listener"]


@dataclass(frozen=True, slots=True)
class BeamsEvent(Event):
    product: ClassVar[Product] = "beams"
    instance_id: str

    @property
    def scope(self) -> str:
        return self.instance_id


@dataclass(frozen=True, slots=True)
class BeamsPublishAccepted(BeamsEvent):
    publish_id: str
    kind: str  # "interests" | "users"
    targets: int
    # The interests or user ids and the body as accepted (references to what was stored: nothing is copied).
    target_ids: tuple[str, ...] = field(default=(), kw_only=True)
    payload: object = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class BeamsPublishStarted(BeamsEvent):
    """A delivery worker claimed the publish (again, if `resumed`: it takes over where another stopped)."""

    publish_id: str
    resumed: bool


@dataclass(frozen=True, slots=True)
class BeamsDelivered(BeamsEvent):
    """One device's result for a publish, emitted once it is recorded."""

    publish_id: str
    device_id: str
    user_id: str | None = field()  # the device's user, if it has one
    platform: str  # "web" | "apns" | "fcm"
    outcome: str  # "sent" | "failed" | "removed" (dead token, device deleted) | "skipped"
    status: int | None  # the gateway's HTTP status, when there was one
    attempts: int


@dataclass(frozen=True, slots=True)
class BeamsUserRouted(BeamsEvent):
    """A user of a routed publish (its body carries `channels`) was decided, once, when a worker reached them:
    "socket" (signed in on the linked app `app_id`: the event goes to `#server-to-user-{id}`, no push) or "push"
    (their devices get the notification). Emitted by the worker whose decision was stored."""

    publish_id: str
    user_id: str = field()
    route: str  # "socket" | "push"
    app_id: str | None  # the linked app, when there was one


@dataclass(frozen=True, slots=True)
class BeamsPublishFinished(BeamsEvent):
    """Every targeted device has a recorded result."""

    publish_id: str


@dataclass(frozen=True, slots=True)
class BeamsDeviceUserSet(BeamsEvent):
    device_id: str
    user_id: str = field()


@dataclass(frozen=True, slots=True)
class BeamsNotificationReported(BeamsEvent):
    """A device reported a notification through the reporting API (stored before this is emitted)."""

    publish_id: str
    event: str  # "delivery" | "open" (lower-cased)
    device_id: str
    user_id: str | None = field()  # as the device reported it; the web SDK sends none when no user is set


@dataclass(frozen=True, slots=True)
class BeamsWebhookSent(BeamsEvent):
    """A Beams webhook request got its answer (status 0: none); `target` is the URL's host[:port] only."""

    target: str
    status: int
    events: int


@dataclass(frozen=True, slots=True)
class BeamsOutboxKept(BeamsEvent):
    """A notification of an instance in outbox mode was kept in the push outbox instead of sent (stored first)."""

    outbox_id: int
    publish_id: str
    device_id: str
    user_id: str | None = field()  # the device's user, if it has one
    platform: str  # "web" | "apns" | "fcm"
    title: str | None  # the notification's title, when it has one
