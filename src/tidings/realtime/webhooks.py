"""Channels webhooks: turn the internal event stream into signed POSTs to each app's webhook URLs.

- Listening is cheap and synchronous: an event becomes a dict appended to a bounded queue.
- `channel_vacated` and `member_removed` are held HOLD seconds; if the channel or member comes back in
  that time, neither the removal nor the re-addition is sent (what Pusher does).
- One sender task drains the queue: per app and target, one request per event, or one per drain when the
  app batches. Non-2xx answers are retried with exponential backoff for up to `retry_for` seconds.
- Memory is bounded: a full queue or too many requests in retry drop events, counted and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from tidings.channels.apps import App, Webhook
from tidings.channels.signatures import hmac_hex
from tidings.log import safe_url
from tidings.realtime import events as ev

log = logging.getLogger("tidings.webhooks")

Post = Callable[[str, bytes, dict[str, str]], Awaitable[int]]
AppLookup = Callable[[str], App | None]
Drop = Callable[[str], None]

HOLD = 3.0


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


# A removal is held; the matching addition within HOLD cancels both.
_HELD = {"channel_vacated": "channel_occupied", "member_removed": "member_added"}
_CANCELS = {v: k for k, v in _HELD.items()}


def _hold_key(app_id: str, kind: str, payload: dict[str, Any]) -> tuple[str, str, str, str]:
    return (app_id, kind, payload["channel"], payload.get("user_id", ""))


class WebhookSender:
    def __init__(
        self,
        apps: AppLookup,
        post: Post,
        *,
        on_drop: Drop | None = None,
        on_sent: Callable[[int], None] | None = None,
        max_queue: int = 10_000,
        max_in_flight: int = 200,
        retry_for: float = 300.0,
        hold: float = HOLD,
        first_retry: float = 1.0,
    ) -> None:
        self._apps = apps
        self._post = post
        self._on_drop = on_drop or (lambda reason: None)
        self._on_sent = on_sent or (lambda status: None)
        self._queue: deque[tuple[str, int, dict[str, Any]]] = deque()
        self._max_queue = max_queue
        self._wake = asyncio.Event()
        self._held: dict[tuple[str, str, str, str], asyncio.TimerHandle] = {}
        self._in_flight: set[asyncio.Task[None]] = set()
        self._max_in_flight = max_in_flight
        self._retry_for = retry_for
        self._hold = hold
        self._first_retry = first_retry
        self._dropped_logged_at = 0.0

    # -- listening (synchronous, on the hub's call stack) -------------------------------------

    def on_event(self, event: ev.Event) -> None:
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
        if kind in _HELD:
            key = _hold_key(event.app_id, kind, payload)
            loop = asyncio.get_running_loop()
            self._held[key] = loop.call_later(self._hold, self._release, key, event.app_id, payload)
            return
        self._enqueue(event.app_id, payload)

    def _release(self, key: tuple[str, str, str, str], app_id: str, payload: dict[str, Any]) -> None:
        self._held.pop(key, None)
        self._enqueue(app_id, payload)

    def _enqueue(self, app_id: str, payload: dict[str, Any]) -> None:
        if len(self._queue) >= self._max_queue:
            self._drop("queue full")
            return
        self._queue.append((app_id, int(time.time() * 1000), payload))
        self._wake.set()

    def _drop(self, reason: str, n: int = 1) -> None:
        for _ in range(n):
            self._on_drop(reason)
        now = time.monotonic()
        if now - self._dropped_logged_at > 10:  # at most one log line per 10 s under sustained drops
            self._dropped_logged_at = now
            log.warning("webhook events dropped (%s); see tidings_webhooks_dropped_total", reason)

    @property
    def queued(self) -> int:
        return len(self._queue)

    # -- sending -----------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self._drain()
                await asyncio.sleep(0.05)  # gathers events that arrive together into one batch
        finally:
            for handle in self._held.values():
                handle.cancel()
            for task in list(self._in_flight):
                task.cancel()

    def _drain(self) -> None:
        by_app: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        while self._queue:
            app_id, time_ms, payload = self._queue.popleft()
            by_app.setdefault(app_id, []).append((time_ms, payload))
        for app_id, items in by_app.items():
            app = self._apps(app_id)
            if app is None:
                continue
            for hook in app.webhooks:
                wanted = [(t, p) for t, p in items if hook.wants(p["name"], p["channel"])]
                if not wanted:
                    continue
                if app.webhook_batching:
                    self._start(app, hook, wanted[-1][0], [p for _, p in wanted])
                else:
                    for t, p in wanted:
                        self._start(app, hook, t, [p])

    def _start(self, app: App, hook: Webhook, time_ms: int, payloads: list[dict[str, Any]]) -> None:
        if len(self._in_flight) >= self._max_in_flight:
            self._drop("too many webhook requests in flight", len(payloads))
            return
        body = orjson.dumps({"time_ms": time_ms, "events": payloads})
        headers = {
            **hook.headers,
            "Content-Type": "application/json",  # exactly: the Node SDK's webhook check compares it
            "X-Pusher-Key": app.key,
            "X-Pusher-Signature": hmac_hex(app.secret, body.decode()),
        }
        task = asyncio.get_running_loop().create_task(self._deliver(hook.url, body, headers, len(payloads)))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _deliver(self, url: str, body: bytes, headers: dict[str, str], n: int) -> None:
        deadline = time.monotonic() + self._retry_for
        delay = self._first_retry
        while True:
            status = 0
            with contextlib.suppress(Exception):
                status = await self._post(url, body, headers)
            self._on_sent(status)
            if 200 <= status < 300:
                return
            if time.monotonic() + delay > deadline:
                log.warning("webhook to %s failed (last status %s); giving up after retries", safe_url(url), status)
                self._drop("retries exhausted", n)
                return
            await asyncio.sleep(delay * (0.5 + random.random()))  # jitter spreads retries of many nodes
            delay = min(delay * 2, 60.0)
