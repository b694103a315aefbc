"""User-first routing in the delivery worker: for each user of a routed publish, the socket or the push, never both.

A publish to users whose body carries `channels` (beams/validation/publish.py) is routed when a worker reaches
its users, a page at a time (the expansion step of an ordinary publish):

    page of users -> which have a `#server-to-user-{id}` subscription on the linked app, cluster-wide
                  -> decide each (socket if so, push if not) and store it with the push users' device rows,
                     in one transaction (storage/routes.py)
                  -> publish the event on the socket users' channels, then record them delivered

"Signed in" is the adapter's cluster-wide subscription count of the user's channel: only a connection signed in
as that user can subscribe to it (pusher-js does so right after `signin()`), and a closed connection's
subscription is given back when it is removed. The decision is read once and stored before anything is sent,
so a user who signs in (or leaves) while the worker routes gets the event by whichever route was stored, and
a retry, by any worker, acts on the stored route. Docs: docs/user-first-delivery.md.

Without a view of the Channels side (`tidings worker` with no Redis) every user is pushed; when the adapter
does not answer, the page is pushed too (a notification is not held back for an outage).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tidings.adapters import Adapter, AdapterUnavailable
from tidings.beams import events as ev
from tidings.beams.validation.publish import RoutedEvent
from tidings.channels.apps import App
from tidings.channels.names import USER_CHANNEL_PREFIX
from tidings.errors import StorageError
from tidings.storage.delivery import ActivePublish
from tidings.storage.routes import PUSH, Decided, Route, RouteStore
from tidings.ttlcache import TTLCache

log = logging.getLogger("tidings.delivery")

APP_TTL = 5.0  # seconds the app linked to an instance is reused before it is read again


class UserChannels(Protocol):
    """What routing needs of the Channels side (the hub satisfies it through `HubChannels`)."""

    async def subscribed(self, app_id: str, channels: Sequence[str]) -> set[str]:
        """Which of these channels have a subscription anywhere in the cluster."""
        ...

    def publish(self, app_id: str, event: str, channels: Iterable[str], data: str) -> int:
        """Send an event on these channels, on every node; raises AdapterUnavailable if the bus refuses it."""
        ...


class _Hub(Protocol):
    adapter: Adapter

    def publish(
        self, app_id: str, event: str, channels: Iterable[str], data: str, except_socket: str | None = None
    ) -> int: ...


class HubChannels:
    """UserChannels over a Channels hub: counts from its adapter, events through its `publish` (the bus and this
    node's connections; never the offline mailbox: a user not signed in is pushed instead)."""

    def __init__(self, hub: _Hub) -> None:
        self._hub = hub

    async def subscribed(self, app_id: str, channels: Sequence[str]) -> set[str]:
        return await self._hub.adapter.subscribed(app_id, channels)

    def publish(self, app_id: str, event: str, channels: Iterable[str], data: str) -> int:
        return self._hub.publish(app_id, event, channels, data)


AppLookup = Callable[[str], Awaitable[App | None]]  # instance id -> the app linked to it


def user_channel(user_id: str) -> str:
    return f"{USER_CHANNEL_PREFIX}{user_id}"


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    users_per_page: int = 250  # users decided per step (their devices: at most 300 each)
    lease_seconds: float = 30.0  # a socket route's sender holds it this long before another may send it


class Router:
    """The routing half of one delivery worker (worker.py calls it for routed publishes)."""

    def __init__(
        self,
        routes: RouteStore,
        apps: AppLookup,
        channels: UserChannels | None,
        worker_id: str,
        config: RoutingConfig,
        emit: Callable[[ev.Event], None],
    ) -> None:
        self._routes = routes
        self._lookup = apps
        self._channels = channels
        self._worker_id = worker_id
        self._config = config
        self._emit = emit
        # Read-through with a TTL; a copy already read is served while the database is down.
        self._apps: TTLCache[App] = TTLCache(self._enabled_app, APP_TTL, max_entries=1000, what="linked app")

    async def route(self, active: ActivePublish, routed: RoutedEvent, now: datetime) -> Decided | None:
        """Decide the next page of users of the publish and send the socket ones; None if nothing was left."""
        users = await self._routes.next_users(active.id, self._config.users_per_page)
        if users is None:
            return None
        app = await self._app(active.instance_id)
        reachable = await self._reachable(app, users)
        decisions = {u: Route("socket", app.id) if app is not None and u in reachable else PUSH for u in users}
        decided = await self._routes.decide(
            active.id, self._worker_id, decisions, lease_seconds=self._config.lease_seconds, now=now
        )
        if decided is None:
            return None
        for user, route in decided.new.items():
            linked = app.id if app is not None else None
            self._emit(ev.BeamsUserRouted(active.instance_id, active.id, user, route.kind, linked))
        if decided.to_send:
            await self._send(active, routed, decided.to_send, now)
        return decided

    async def resend(self, active: ActivePublish, routed: RoutedEvent, now: datetime) -> bool:
        """Send again the socket routes whose sender's lease ran out unsent (it died, or the bus refused the
        event): over the socket again, never as a push. True if any were sent."""
        if self._channels is None:
            return False  # left for a worker that can see the Channels side
        held = await self._routes.claim_stale(
            active.id, self._worker_id, limit=self._config.users_per_page,
            lease_seconds=self._config.lease_seconds, now=now,
        )
        if not held:
            return False
        log.info("worker %s sends %d socket route(s) of %s again", self._worker_id, len(held), active.id)
        return await self._send(active, routed, held, now)

    async def _send(self, active: ActivePublish, routed: RoutedEvent, held: Mapping[str, str], now: datetime) -> bool:
        """Publish on each user's channel (one message per app), then record them delivered. If the bus refuses,
        the routes stay leased to this worker until the lease runs out, then any worker sends them again."""
        if self._channels is None:
            return False
        by_app: dict[str, list[str]] = {}
        for user, app_id in held.items():
            by_app.setdefault(app_id, []).append(user)
        sent: list[str] = []
        for app_id, users in by_app.items():
            try:
                self._channels.publish(app_id, routed.event, [user_channel(u) for u in users], routed.data)
            except AdapterUnavailable as exc:
                log.warning("worker %s could not send %d socket route(s) of %s (sent again later): %s",
                            self._worker_id, len(users), active.id, exc)
                continue
            sent.extend(users)
        if not sent:
            return False
        try:
            await self._routes.delivered(active.id, self._worker_id, sent, now)
        except StorageError as exc:  # sent but not recorded: sent again after the lease (at least once)
            log.warning("worker %s could not record socket deliveries of %s: %s", self._worker_id, active.id, exc)
            return False
        return True

    async def _reachable(self, app: App | None, users: Sequence[str]) -> set[str]:
        if app is None or self._channels is None or not users:
            return set()
        try:
            subscribed = await self._channels.subscribed(app.id, [user_channel(u) for u in users])
        except AdapterUnavailable as exc:
            log.warning("worker %s cannot see who is signed in (%s): pushing %d user(s)",
                        self._worker_id, exc, len(users))
            return set()
        cut = len(USER_CHANNEL_PREFIX)
        return {name[cut:] for name in subscribed}

    async def _app(self, instance_id: str) -> App | None:
        return await self._apps.get(instance_id)

    async def _enabled_app(self, instance_id: str) -> App | None:
        app = await self._lookup(instance_id)
        return app if app is not None and app.enabled else None  # a disabled app has no connections to route to


__all__ = ["HubChannels", "Router", "RoutingConfig", "UserChannels", "user_channel"]
