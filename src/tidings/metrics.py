"""Prometheus metrics, fed by the internal event stream (nothing on the fan-out loop itself)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from tidings.realtime import events as ev


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
        self.http_requests = Counter(
            "tidings_http_requests", "HTTP API requests", ["route", "status"], registry=r
        )
        self.ws_rejected = Counter(
            "tidings_ws_rejected", "WebSocket connections refused at connect", ["code"], registry=r
        )

        self.webhooks_sent = Counter(
            "tidings_webhooks_sent", "Webhook requests made, by response status (0: no response)", ["status"],
            registry=r,
        )
        self.webhooks_dropped = Counter(
            "tidings_webhooks_dropped", "Webhook events dropped to bound memory", ["reason"], registry=r
        )
        self.beams_webhooks_sent = Counter(
            "tidings_beams_webhooks_sent", "Beams webhook requests made, by response status (0: no response)",
            ["status"], registry=r,
        )
        self.beams_webhooks_dropped = Counter(
            "tidings_beams_webhooks_dropped", "Beams webhook events or requests dropped", ["reason"], registry=r
        )
        self.beams_notifications = Counter(
            "tidings_beams_notifications", "Beams notification results recorded by the delivery workers",
            ["instance_id", "platform", "outcome"], registry=r,
        )
        self.beams_publishes_delivered = Counter(
            "tidings_beams_publishes_delivered", "Beams publishes whose delivery finished", ["instance_id"],
            registry=r,
        )

    def on_event(self, event: ev.Event) -> None:
        app = event.app_id
        if isinstance(event, ev.Published):
            self.published.labels(app).inc()
            if event.deliveries:
                self.deliveries.labels(app).inc(event.deliveries)
        elif isinstance(event, ev.ConnectionOpened):
            self.connections.labels(app).inc()
            self.connections_total.labels(app).inc()
        elif isinstance(event, ev.ConnectionClosed):
            self.connections.labels(app).dec()
        elif isinstance(event, ev.ChannelOccupied):
            self.channels.labels(app).inc()
        elif isinstance(event, ev.ChannelVacated):
            self.channels.labels(app).dec()
        elif isinstance(event, ev.ClientEventSent):
            self.client_events.labels(app).inc()
        elif isinstance(event, ev.SlowConsumerCut):
            self.slow_consumers.labels(app).inc()
        elif isinstance(event, ev.BeamsDelivered):
            self.beams_notifications.labels(app, event.platform, event.outcome).inc()
        elif isinstance(event, ev.BeamsPublishFinished):
            self.beams_publishes_delivered.labels(app).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
