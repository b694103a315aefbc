"""Prometheus metrics, fed by the internal event stream (nothing on the fan-out loop itself) and the webhook outbox."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from tidings.beams import events as bev
from tidings.events import Event
from tidings.realtime import events as cev
from tidings.webhooks.outbox import Outbox

_MAILBOX_OUTCOMES: dict[type[cev.ChannelsEvent], str] = {
    cev.MailboxReplayed: "replayed", cev.MailboxExpired: "expired", cev.MailboxDropped: "dropped",
}


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.connections = Gauge("tidings_connections", "Open Channels connections", ["app_id"], registry=r)
        self.connections_total = Counter(
            "tidings_connections_opened", "Channels connections opened", ["app_id"], registry=r
        )
        self.channels = Gauge("tidings_channels", "Occupied channels", ["app_id"], registry=r)
        self.published = Counter(
            "tidings_events_published", "Events published through the HTTP API, per channel", ["app_id"], registry=r
        )
        self.deliveries = Counter(
            "tidings_deliveries", "Messages written to subscribers by fan-out", ["app_id"], registry=r
        )
        self.client_events = Counter("tidings_client_events", "Client events relayed", ["app_id"], registry=r)
        self.slow_consumers = Counter(
            "tidings_slow_consumer_disconnects", "Connections cut for not reading fast enough", ["app_id"],
            registry=r,
        )
        self.user_mailbox = Counter(
            "tidings_user_mailbox", "Offline user mailbox events: kept, replayed, expired, dropped (over the limit)",
            ["app_id", "outcome"], registry=r,
        )
        self.http_requests = Counter(
            "tidings_http_requests", "HTTP API requests", ["route", "status"], registry=r
        )
        self.ws_rejected = Counter(
            "tidings_ws_rejected", "WebSocket connections refused at connect", ["code"], registry=r
        )
        self.beams_notifications = Counter(
            "tidings_beams_notifications", "Beams notification results recorded by the delivery workers",
            ["instance_id", "platform", "outcome"], registry=r,
        )
        self.beams_routed_users = Counter(
            "tidings_beams_routed_users", "Users of routed Beams publishes, by route (socket: signed in, no push)",
            ["instance_id", "route"], registry=r,
        )
        self.beams_publishes_delivered = Counter(
            "tidings_beams_publishes_delivered", "Beams publishes whose delivery finished", ["instance_id"],
            registry=r,
        )
        # By the gateway's HTTP status (0: no answer, or refused before sending): a bounded stand-in for the
        # reason, whose text is free-form. Each status's meaning per gateway is in docs/delivery.md.
        self.beams_failures = Counter(
            "tidings_beams_failures", "Beams notifications failed or removed (dead token), by gateway status",
            ["instance_id", "platform", "outcome", "status"], registry=r,
        )
        # Sampled from the database every few seconds (delivery/queue_metrics.py), shared by every process.
        self.beams_queue_publishes = Gauge(
            "tidings_beams_queue_publishes", "Beams publishes accepted and not finished (queued or being sent)",
            registry=r,
        )
        self.beams_queue_oldest_age = Gauge(
            "tidings_beams_queue_oldest_age_seconds",
            "Age of the oldest Beams publish not finished (0 when there is none)", registry=r,
        )
        self._queue_oldest: float | None = None
        self.beams_queue_oldest_age.set_function(self._oldest_age)

        # Webhooks of both products, through the one outbox. `scope` is the app id (Channels) or the instance id
        # (Beams); `target` the webhook URL's host[:port] (never its credentials), "" for events dropped before
        # they reached a target.
        self.webhooks_sent = Counter(
            "tidings_webhooks_sent", "Webhook requests made, by response status (0: no response)",
            ["product", "status"], registry=r,
        )
        self.webhooks_dropped = Counter(
            "tidings_webhooks_dropped", "Webhook events dropped (bounded memory, retries exhausted)",
            ["product", "scope", "target", "reason"], registry=r,
        )
        self.webhooks_queued_events = Gauge(
            "tidings_webhooks_queued_events", "Webhook events in the outbox (waiting, retrying or being sent)",
            registry=r,
        )
        self.webhooks_queued_bytes = Gauge(
            "tidings_webhooks_queued_bytes", "Approximate memory held by the webhook outbox", registry=r
        )

    # -- the event stream ------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        if isinstance(event, cev.ChannelsEvent):
            self._channels(event)
        elif isinstance(event, bev.BeamsEvent):
            self._beams(event)

    def _channels(self, event: cev.ChannelsEvent) -> None:
        app = event.app_id
        if isinstance(event, cev.Published):  # first: by far the most frequent
            self.published.labels(app).inc()
            if event.deliveries:
                self.deliveries.labels(app).inc(event.deliveries)
        elif isinstance(event, cev.ConnectionOpened):
            self.connections.labels(app).inc()
            self.connections_total.labels(app).inc()
        elif isinstance(event, cev.ConnectionClosed):
            self.connections.labels(app).dec()
        elif isinstance(event, cev.ChannelOccupied | cev.ChannelVacated):
            self.channels.labels(app).inc(1 if isinstance(event, cev.ChannelOccupied) else -1)
        elif isinstance(event, cev.ClientEventSent):
            self.client_events.labels(app).inc()
        elif isinstance(event, cev.SlowConsumerCut):
            self.slow_consumers.labels(app).inc()
        elif isinstance(event, cev.MailboxKept):
            self.user_mailbox.labels(app, "kept").inc()
        elif isinstance(event, cev.MailboxReplayed | cev.MailboxExpired | cev.MailboxDropped):
            self.user_mailbox.labels(app, _MAILBOX_OUTCOMES[type(event)]).inc(event.count)

    def _beams(self, event: bev.BeamsEvent) -> None:
        if isinstance(event, bev.BeamsDelivered):
            self.beams_notifications.labels(event.instance_id, event.platform, event.outcome).inc()
            if event.outcome in ("failed", "removed"):
                self.beams_failures.labels(
                    event.instance_id, event.platform, event.outcome, str(event.status or 0)
                ).inc()
        elif isinstance(event, bev.BeamsPublishFinished):
            self.beams_publishes_delivered.labels(event.instance_id).inc()
        elif isinstance(event, bev.BeamsUserRouted):
            self.beams_routed_users.labels(event.instance_id, event.route).inc()

    # -- the webhook outbox ----------------------------------------------------------------------------

    def webhook_sent(self, product: str, status: int) -> None:
        self.webhooks_sent.labels(product, str(status)).inc()

    def webhook_dropped(self, product: str, scope: str, target: str, reason: str, events: int) -> None:
        self.webhooks_dropped.labels(product, scope, target, reason).inc(events)

    def watch_outbox(self, outbox: Outbox) -> None:
        """Read the outbox's size at every scrape."""
        self.webhooks_queued_events.set_function(lambda: outbox.events)
        self.webhooks_queued_bytes.set_function(lambda: outbox.bytes)

    # -- the Beams queue --------------------------------------------------------------------------------

    def set_queue(self, publishes: int, oldest: float | None) -> None:
        """`oldest`: when the oldest unfinished publish was accepted (unix seconds), None when there is none."""
        self.beams_queue_publishes.set(publishes)
        self._queue_oldest = oldest

    def _oldest_age(self) -> float:
        return 0.0 if self._queue_oldest is None else max(0.0, time.time() - self._queue_oldest)

    def render(self) -> bytes:
        return generate_latest(self.registry)
