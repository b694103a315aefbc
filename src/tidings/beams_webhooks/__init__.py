"""Beams webhooks (v1.PublishToUsersAttempt, v1.UserNotificationAcknowledgement, v1.UserNotificationOpen).

    settings.py  instance.providers["webhooks"]: url, secret, events, custom_data per webhook
    payloads.py  the body envelope, the headers and the HMAC-SHA1 signature (pure)
    listener.py  BeamsWebhooks: an event-stream listener that turns events into requests for the outbox
    wiring.py    build a listener over Storage and the outbox

Queueing, retries (10/30/120/300 s) and bounds are the shared webhook outbox's (tidings.webhooks).
"""

from tidings.beams_webhooks.listener import BeamsWebhooks
from tidings.beams_webhooks.settings import (
    EVENT_TYPES,
    BeamsWebhook,
    WebhookSettingsError,
    instance_webhooks,
    parse_webhooks,
)
from tidings.beams_webhooks.wiring import start_listener

__all__ = [
    "EVENT_TYPES",
    "BeamsWebhook",
    "BeamsWebhooks",
    "WebhookSettingsError",
    "instance_webhooks",
    "parse_webhooks",
    "start_listener",
]
