"""Beams webhooks (v1.PublishToUsersAttempt, v1.UserNotificationAcknowledgement, v1.UserNotificationOpen).

    settings.py  instance.providers["webhooks"]: url, secret, events, custom_data per webhook
    payloads.py  the body envelope, the headers and the HMAC-SHA1 signature (pure)
    sender.py    BeamsWebhookSender: an event-stream listener, bounded queue, retries 10/30/120/300 s
    wiring.py    build a sender over Storage and an aiohttp session (for `serve` and `worker`)
"""

from tidings.beams_webhooks.sender import BeamsWebhookSender
from tidings.beams_webhooks.settings import (
    EVENT_TYPES,
    BeamsWebhook,
    WebhookSettingsError,
    instance_webhooks,
    parse_webhooks,
)
from tidings.beams_webhooks.wiring import start_sender

__all__ = [
    "EVENT_TYPES",
    "BeamsWebhook",
    "BeamsWebhookSender",
    "WebhookSettingsError",
    "instance_webhooks",
    "parse_webhooks",
    "start_sender",
]
