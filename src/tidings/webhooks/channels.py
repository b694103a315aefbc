"""Channels webhooks: the event stream as Pusher-signed POSTs to each app's webhook URLs, through the outbox.

- Listening is cheap and synchronous: an event becomes a dict in a bounded staging queue (`max_staged` events;
  beyond, dropped and counted, as the outbox counts its own drops).
- `channel_vacated` and `member_removed` are held `hold` seconds; if the channel or member comes back in that
  time, neither the removal nor the re-addition is sent (what Pusher does).
- One task moves the staged events into the outbox every 50 ms: per app and webhook, one request per event, or,
  when the app batches, one per pass (at most MAX_BATCH events). The body is `{"time_ms", "events"}`, signed with
  the app's secret (X-Pusher-Key, X-Pusher-Signature: hex HMAC-SHA256 of the body).
- The outbox (webhooks/outbox.py) queues each webhook URL on its own and retries failures (RETRY: from 1 s,
  doubling to 60 s, with jitter, for up to 5 minutes; a request unanswered after TIMEOUT seconds has failed).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

from tidings.channels.apps import App, Webhook
from tidings.channels.signatures import hmac_hex
from tidings.realtime import events as ev
from tidings.webhooks.outbox import Retry, Sink, Target

AppLookup = Callable[[str], App | None]

HOLD = 3.0
GATHER = 0.05  # seconds between passes: events arriving together go out in one batch
MAX_BATCH = 1_000  # events per batched request
RETRY = Retry.doubling(1.0, 60.0, within=300.0, jitter=0.5)
TIMEOUT = 10.0


def to_webhook(event: ev.Event) -> dict[str, Any] | None:
    """The webhook form of an internal event, or None if it has none."""
    if isinstance(event, ev.ChannelOccupied):
        return {"name": "channel_occupied", "channel": event.channel}
    if isinstance(event, ev.ChannelVacated):
        return {"name": "channel_vacated", "channel": event.channel}
    if isinstance(event, ev.MemberAdded):
        return {"name": "member_added", "channel": event.channel, "user_id": event.user_id}
    if isinstance(event, ev.MemberRemoved):
        return {"name": "member_removed", "channel": event.channel, "user_id": event.user_id}
    if isinstance(event, ev.CacheMiss):
        return {"name": "cache_miss", "channel": event.channel}
    if isinstance(event, ev.SubscriptionCountChanged):
        return {"name": "subscription_count", "channel": event.channel, "subscription_count": event.count}
    if isinstance(event, ev.ClientEventSent):
        out: dict[str, Any] = {
            "name": "client_event",
            "channel": event.channel,
            "event": event.event,
            "data": event.data,
            "socket_id": event.socket_id,
        }
        if event.user_id is not None:
            out["user_id"] = event.user_id
        return out
    return None


def request(app: App, hook: Webhook, time_ms: int, payloads: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one webhook request."""
    body = orjson.dumps({"time_ms": time_ms, "events": payloads})
    headers = {
        **hook.headers,
        "Content-Type": "application/json",  # exactly: the Node SDK's webhook check compares it
        "X-Pusher-Key": app.key,
        "X-Pusher-Signature": hmac_hex(app.secret, body.decode()),
    }
    return body, headers


# A removal is held; the matching addition within the hold cancels both.
_HELD = {"channel_vacated": "channel_occupied", "member_removed": "member_added"}
_CANCELS = {v: k for k, v in _HELD.items()}

_HoldKey = tuple[str, str, str, str]


def _hold_key(app_id: str, kind: str, payload: dict[str, Any]) -> _HoldKey:
    return (app_id, kind, payload["channel"], payload.get("user_id", ""))


class ChannelsWebhooks:
    def __init__(
        self,
        apps: AppLookup,
        outbox: Sink,
        *,
        max_staged: int = 10_000,
        hold: float = HOLD,
        retry: Retry = RETRY,
        timeout: float = TIMEOUT,
    ) -> None:
        self._apps = apps
        self._outbox = outbox
        self._staged: deque[tuple[str, int, dict[str, Any]]] = deque()
        self._max_staged = max_staged
        self._wake = asyncio.Event()
        self._held: dict[_HoldKey, asyncio.TimerHandle] = {}
        self._hold = hold
        self._retry = retry
        self._timeout = timeout

    # -- listening (synchronous, on the hub's call stack) -------------------------------------

    def on_event(self, event: ev.Event) -> None:
        if not isinstance(event, ev.ChannelsEvent):
            return
        app = self._apps(event.app_id)
        if app is None or not app.webhooks:
            return
        payload = to_webhook(event)
        if payload is None:
            return
        kind = payload["name"]
        if not any(w.wants(kind, payload["channel"]) for w in app.webhooks):
            return
        if kind in _CANCELS:
            held = self._held.pop(_hold_key(event.app_id, _CANCELS[kind], payload), None)
            if held is not None:
                held.cancel()  # it came back in time: send neither the removal nor this addition
                return
        # Holding is bounded too: beyond max_staged held removals, a removal is sent without waiting.
        if kind in _HELD and len(self._held) < self._max_staged:
            key = _hold_key(event.app_id, kind, payload)
            loop = asyncio.get_running_loop()
            self._held[key] = loop.call_later(self._hold, self._release, key, event.app_id, payload)
            return
        self._stage(event.app_id, payload)

    def _release(self, key: _HoldKey, app_id: str, payload: dict[str, Any]) -> None:
        self._held.pop(key, None)
        self._stage(app_id, payload)

    def _stage(self, app_id: str, payload: dict[str, Any]) -> None:
        if len(self._staged) >= self._max_staged:
            self._outbox.dropped("channels", app_id, "queue full")
            return
        self._staged.append((app_id, int(time.time() * 1000), payload))
        self._wake.set()

    @property
    def staged(self) -> int:
        return len(self._staged)

    # -- into the outbox ----------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self._pass()
                await asyncio.sleep(GATHER)
        finally:
            for handle in self._held.values():
                handle.cancel()

    def _pass(self) -> None:
        by_app: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        while self._staged:
            app_id, time_ms, payload = self._staged.popleft()
            by_app.setdefault(app_id, []).append((time_ms, payload))
        for app_id, items in by_app.items():
            app = self._apps(app_id)
            if app is None:
                continue
            for hook in app.webhooks:
                wanted = [(t, p) for t, p in items if hook.wants(p["name"], p["channel"])]
                if not wanted:
                    continue
                target = Target("channels", app.id, hook.url, self._retry, self._timeout)
                if app.webhook_batching:
                    for i in range(0, len(wanted), MAX_BATCH):
                        batch = wanted[i : i + MAX_BATCH]
                        body, headers = request(app, hook, batch[-1][0], [p for _, p in batch])
                        self._outbox.put(target, body, headers, events=len(batch))
                else:
                    for t, p in wanted:
                        self._outbox.put(target, *request(app, hook, t, [p]))
