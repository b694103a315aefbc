"""Beams webhooks: the event stream as signed POSTs to each instance's webhook URLs, through the outbox.

Sources (all on the one event stream, see beams/events.py):

- v1.PublishToUsersAttempt: the delivery pipeline's BeamsPublishStarted / BeamsDelivered / BeamsPublishFinished.
  The per-device results of a publish to users are folded into one small per-user state as they are emitted,
  and summarised when the publish finishes. A routed publish (its body carried `channels`, docs/user-first-delivery.md)
  also folds BeamsUserRouted: its users sent the event over Channels are listed in
  `users_delivered_to_channels` (a Tidings extension), the others as Beams lists them.
- v1.UserNotificationAcknowledgement / v1.UserNotificationOpen: BeamsNotificationReported (the reporting API),
  for publishes to users only, once per (publish, device, event): the mobile SDKs retry reports.

How it stays off the hot paths and bounded:

- `on_event` is synchronous and O(1): it drops what no webhook can want (publishes already known to be of no
  interest), folds results of tracked publishes in place, and appends anything else to a bounded deque.
- One task (`run`) drains the deque, doing the lookups that need storage (instance settings, publish kind,
  device user) through small caches, and hands each finished request (payloads.py) to the outbox.
- The outbox (webhooks/outbox.py) queues each webhook URL on its own and retries like Pusher (RETRY: 10, 30, 120
  and 300 s after the failures); a request answered non-2xx or not within TIMEOUT seconds has failed. At most
  `max_queue` events wait here and `max_tracked` publishes are tracked; beyond, events are dropped and counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from tidings.beams import events as ev
from tidings.beams.models import Device, Instance, Publish
from tidings.beams.validation.publish import routed_event
from tidings.beams_webhooks import payloads
from tidings.beams_webhooks.settings import (
    PUBLISH_TO_USERS_ATTEMPT,
    BeamsWebhook,
    WebhookSettingsError,
    instance_webhooks,
)
from tidings.log import bound
from tidings.webhooks.outbox import Retry, Sink, Target

log = logging.getLogger("tidings.beams_webhooks")

V = TypeVar("V")

InstanceLookup = Callable[[str], Awaitable[Instance | None]]
PublishLookup = Callable[[str, str], Awaitable[Publish | None]]  # instance id, publish id
DeviceLookup = Callable[[str, str], Awaitable[Device | None]]  # instance id, device id
UserDeviceCount = Callable[[str, str], Awaitable[int]]  # instance id, user id
RouteLookup = Callable[[str], Awaitable[Mapping[str, str]]]  # publish id -> user -> "socket" | "push"

RETRY = Retry((10.0, 30.0, 120.0, 300.0), max_retries=4)  # Pusher's schedule: up to four retries
TIMEOUT = 3.0  # Pusher: "respond ... with a 2XX status code within three seconds"

# Per-user state of a publish to users, ordered: a better outcome on another device wins. _SOCKET: routed to the
# user's signed-in connections (then none of their devices was targeted).
_NONE, _FAILED, _SENT, _SOCKET = 0, 1, 2, 3
_STATE = {"sent": _SENT, "failed": _FAILED}  # "removed" (dead token) and "skipped" reached no gateway


@dataclass
class _Attempt:
    """A publish to users being summarised: its targets and the best outcome seen per user."""

    instance_id: str
    targets: tuple[str, ...]
    since: float  # time.monotonic() when tracking began
    users: dict[str, int] = field(default_factory=dict)
    # Some results may be missing: another worker started the publish, or an event was dropped.
    partial: bool = False
    routed: bool = False  # the body carried `channels`: users are routed to Channels or pushed

    def add(self, user_id: str | None, outcome: str) -> None:
        if user_id is None:
            return
        state = _STATE.get(outcome, _NONE)
        if state > self.users.get(user_id, -1):
            self.users[user_id] = state

    def routed_to(self, user_id: str, route: str) -> None:
        if route == "socket":
            self.users[user_id] = _SOCKET


class BeamsWebhooks:
    def __init__(
        self,
        instances: InstanceLookup,
        publishes: PublishLookup,
        devices: DeviceLookup,
        user_devices: UserDeviceCount,
        outbox: Sink,
        *,
        routes: RouteLookup | None = None,
        max_queue: int = 10_000,
        max_tracked: int = 1_000,
        max_age: float = 3600.0,
        retry: Retry = RETRY,
        timeout: float = TIMEOUT,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._instances = instances
        self._publishes = publishes
        self._devices = devices
        self._user_devices = user_devices
        self._outbox = outbox
        self._routes = routes  # routed publishes whose results were partly emitted elsewhere
        self._queue: deque[ev.BeamsEvent] = deque()
        self._max_queue = max_queue
        self._wake = asyncio.Event()
        self._tracked: dict[str, _Attempt] = {}
        self._max_tracked = max_tracked
        self._max_age = max_age  # seconds a tracked publish may wait for its end (see _forget_stale)
        # Publishes no PublishToUsersAttempt webhook wants (interests, or no webhook): their many per-device
        # events are dropped in on_event without queueing. Cleared when full, which only costs re-lookups.
        self._ignored: dict[str, None] = {}
        self._parsed: dict[str, tuple[Instance, tuple[BeamsWebhook, ...]]] = {}  # instance id -> its webhooks
        self._users_publish: _Lru[bool] = _Lru(4096)  # publish id -> is a publish to users (for reports)
        self._reported: _Lru[bool] = _Lru(50_000)  # (publish, device, event) already sent on
        # Publishes some of whose events were dropped before they were tracked: their summary is partial.
        self._lossy: _Lru[bool] = _Lru(10_000)
        self._retry = retry
        self._timeout = timeout
        self._clock = clock
        self._new_id = new_id

    # -- listening (synchronous, on the emitter's call stack) -------------------------------------

    def on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.BeamsDelivered):
            if event.publish_id in self._ignored:
                return
            attempt = self._tracked.get(event.publish_id)
            if attempt is not None:
                attempt.add(event.user_id, event.outcome)
                return
        elif isinstance(event, ev.BeamsUserRouted):
            if event.publish_id in self._ignored:
                return
            attempt = self._tracked.get(event.publish_id)
            if attempt is not None:
                attempt.routed_to(event.user_id, event.route)
                return
        elif isinstance(event, ev.BeamsPublishFinished | ev.BeamsPublishStarted):
            if event.publish_id in self._ignored:
                return
        elif not isinstance(event, ev.BeamsNotificationReported):
            return
        self._enqueue(event)

    def _enqueue(self, event: ev.BeamsEvent) -> None:
        if len(self._queue) >= self._max_queue:
            if isinstance(event, ev.BeamsDelivered | ev.BeamsPublishStarted | ev.BeamsUserRouted):
                self._mark_partial(event.publish_id)
            self._outbox.dropped("beams", event.instance_id, "queue full")
            return
        self._queue.append(event)
        self._wake.set()

    def _mark_partial(self, publish_id: str) -> None:
        attempt = self._tracked.get(publish_id)
        if attempt is not None:
            attempt.partial = True
        else:
            self._lossy.put(publish_id, True)

    @property
    def queued(self) -> int:
        return len(self._queue)

    # -- the task ------------------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                event = self._queue.popleft()
                with bound(instance_id=event.instance_id, publish_id=getattr(event, "publish_id", None)):
                    try:
                        await self._handle(event)
                    except Exception:  # a storage hiccup must not stop webhooks for good
                        log.exception("Beams webhook: could not handle %s", type(event).__name__)

    async def _handle(self, event: ev.BeamsEvent) -> None:
        if isinstance(event, ev.BeamsNotificationReported):
            await self._reported_event(event)
            return
        assert isinstance(
            event, ev.BeamsPublishStarted | ev.BeamsDelivered | ev.BeamsPublishFinished | ev.BeamsUserRouted
        )
        attempt = await self._resolve(event)
        if attempt is None:
            return
        if isinstance(event, ev.BeamsPublishStarted) and event.resumed:
            attempt.partial = True  # the results recorded before the takeover were emitted elsewhere
        elif isinstance(event, ev.BeamsDelivered):
            attempt.add(event.user_id, event.outcome)
        elif isinstance(event, ev.BeamsUserRouted):
            attempt.routed_to(event.user_id, event.route)
        elif isinstance(event, ev.BeamsPublishFinished):
            del self._tracked[event.publish_id]
            self._ignored[event.publish_id] = None  # a duplicate finish (another worker) sends nothing more
            await self._publish_attempt(event.publish_id, attempt)

    async def _resolve(
        self, event: ev.BeamsPublishStarted | ev.BeamsDelivered | ev.BeamsPublishFinished | ev.BeamsUserRouted
    ) -> _Attempt | None:
        """The tracked attempt for this publish, starting to track it if a webhook wants it; else None."""
        instance_id, publish_id = event.instance_id, event.publish_id
        attempt = self._tracked.get(publish_id)
        if attempt is not None or publish_id in self._ignored:
            return attempt
        hooks = await self._hooks(instance_id, PUBLISH_TO_USERS_ATTEMPT)
        publish = await self._publishes(instance_id, publish_id) if hooks else None
        if publish is None or publish.kind != "users":
            self._ignore(publish_id)
            return None
        if len(self._tracked) >= self._max_tracked:
            self._forget_stale()
        if len(self._tracked) >= self._max_tracked:
            self._ignore(publish_id)
            self._outbox.dropped("beams", instance_id, "too many publishes tracked")
            return None
        attempt = self._tracked[publish_id] = _Attempt(instance_id, publish.targets, time.monotonic())
        attempt.routed = routed_event(publish.payload) is not None
        # Anything before the start (a result, the end) means this process missed earlier results: another
        # process started the publish, or this sender started late.
        attempt.partial = not isinstance(event, ev.BeamsPublishStarted) or publish_id in self._lossy
        return attempt

    def _forget_stale(self) -> None:
        """Stop tracking publishes whose end this process will never see (finished by another process after
        a takeover, or whose end event was dropped), so they cannot fill the table for good."""
        cutoff = time.monotonic() - self._max_age
        for publish_id, attempt in [(pid, a) for pid, a in self._tracked.items() if a.since < cutoff]:
            del self._tracked[publish_id]
            self._ignore(publish_id)
            self._outbox.dropped("beams", attempt.instance_id, "publish end never seen")

    def _ignore(self, publish_id: str) -> None:
        if len(self._ignored) >= 100_000:
            self._ignored.clear()
        self._ignored[publish_id] = None

    async def _publish_attempt(self, publish_id: str, attempt: _Attempt) -> None:
        # The webhooks as configured now, not at the start: a webhook removed meanwhile gets nothing.
        hooks = await self._hooks(attempt.instance_id, PUBLISH_TO_USERS_ATTEMPT)
        if not hooks:
            return
        delivered: list[str] = []
        no_devices: list[str] = []
        failed: list[str] = []
        channels: list[str] = []
        stored: Mapping[str, str] = {}
        if attempt.routed and attempt.partial and self._routes is not None:
            stored = await self._routes(publish_id)  # socket routes decided by another process
        for user in dict.fromkeys(attempt.targets):
            state = attempt.users.get(user)
            if state is None and stored.get(user) == "socket":
                state = _SOCKET
            if state is None and attempt.partial:
                # Unknown: the result was emitted elsewhere or dropped. A user with devices is reported as
                # failed rather than delivered: a receiver falling back to email sends a duplicate at worst,
                # instead of the user missing the message.
                state = _FAILED if await self._user_devices(attempt.instance_id, user) else _NONE
            if state == _SOCKET:
                channels.append(user)
            elif state == _SENT:
                delivered.append(user)
            elif state == _FAILED:
                failed.append(user)
            else:  # no device, or only devices without a payload for their platform or with dead tokens
                no_devices.append(user)
        payload = payloads.publish_to_users_attempt(
            attempt.instance_id, publish_id, delivered=delivered, no_devices=no_devices, gateway_failed=failed,
            channels=channels if attempt.routed else None,
        )
        self._send(attempt.instance_id, PUBLISH_TO_USERS_ATTEMPT, payload, hooks)

    async def _reported_event(self, event: ev.BeamsNotificationReported) -> None:
        event_type = payloads.REPORT_EVENT_TYPES.get(event.event)
        if event_type is None:
            return
        hooks = await self._hooks(event.instance_id, event_type)
        if not hooks:
            return
        key = f"{event.publish_id}\x00{event.device_id}\x00{event.event}"
        if key in self._reported:
            return
        is_users = self._users_publish.get(event.publish_id)
        if is_users is None:
            publish = await self._publishes(event.instance_id, event.publish_id)
            is_users = publish is not None and publish.kind == "users"
            self._users_publish.put(event.publish_id, is_users)
        if not is_users:
            return
        # The device's user (set with a Beams Token) is what the publish targeted; the report's own userId
        # is unauthenticated and only used when the device is gone (stopped since, or its token died).
        device = await self._devices(event.instance_id, event.device_id)
        user_id = device.user_id if device is not None and device.user_id else event.user_id
        if not user_id:
            return
        self._reported.put(key, True)
        payload = payloads.user_notification(event.instance_id, event.publish_id, user_id)
        self._send(event.instance_id, event_type, payload, hooks)

    async def _hooks(self, instance_id: str, event_type: str) -> list[BeamsWebhook]:
        instance = await self._instances(instance_id)
        if instance is None:
            return []
        parsed = self._parsed.get(instance_id)
        if parsed is None or parsed[0] is not instance:  # the lookup's cache hands out one object per TTL
            try:
                hooks = instance_webhooks(instance)
            except WebhookSettingsError as exc:  # stored by hand, badly: say so, never crash the sender
                log.warning("instance %s: %s", instance_id, exc)
                hooks = ()
            if len(self._parsed) >= 10_000:
                self._parsed.clear()
            parsed = self._parsed[instance_id] = (instance, hooks)
        return [hook for hook in parsed[1] if hook.wants(event_type)]

    # -- sending --------------------------------------------------------------------------------------

    def _send(self, instance_id: str, event_type: str, payload: dict[str, Any], hooks: Sequence[BeamsWebhook]) -> None:
        event_id = self._new_id()
        created_at = payloads.created_at(self._clock())
        for hook in hooks:
            body = payloads.envelope(event_type, payload, hook.custom_data, event_id=event_id, created_at=created_at)
            # The request id is fixed here: every retry of this request carries the same one.
            headers = payloads.request_headers(hook, event_type, self._new_id(), body)
            self._outbox.put(Target("beams", instance_id, hook.url, self._retry, self._timeout), body, headers)


class _Lru(Generic[V]):
    """A bounded mapping that forgets the least recently used key."""

    def __init__(self, size: int) -> None:
        self._items: OrderedDict[str, V] = OrderedDict()
        self._size = size

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._size:
            self._items.popitem(last=False)
