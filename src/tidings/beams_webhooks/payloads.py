"""The bytes and headers of one Beams webhook request (docs/protocol/beams.md §6.4).

Pure functions: no clock, no randomness, no I/O. The sender passes the time and ids in.

    body = envelope(USER_NOTIFICATION_OPEN, open_payload(iid, pid, "alice"), hook.custom_data,
                    event_id=eid, created_at=now)
    headers = request_headers(hook, USER_NOTIFICATION_OPEN, request_id, body)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from tidings.beams_webhooks.settings import (
    PUBLISH_TO_USERS_ATTEMPT,
    USER_NOTIFICATION_ACKNOWLEDGEMENT,
    USER_NOTIFICATION_OPEN,
    BeamsWebhook,
)

USER_AGENT = "pusher-webhooks"  # what Pusher sends; receivers may filter on it

# Reporting API event name (validation.parse_reporting_event lower-cases it) -> webhook event type.
REPORT_EVENT_TYPES = {"delivery": USER_NOTIFICATION_ACKNOWLEDGEMENT, "open": USER_NOTIFICATION_OPEN}


def publish_to_users_attempt(
    instance_id: str,
    publish_id: str,
    *,
    delivered: Iterable[str],
    no_devices: Iterable[str],
    gateway_failed: Iterable[str],
    channels: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Pusher's three lists; a routed publish (docs/user-first-delivery.md) adds `users_delivered_to_channels`: the
    users signed in on the linked Channels app, sent the event there instead of the push (in none of the three)."""
    payload = {
        "instance_id": instance_id,
        "publish_id": publish_id,
        "users_delivered_to_gateway": list(delivered),
        "users_no_devices": list(no_devices),
        "users_gateway_failed": list(gateway_failed),
    }
    if channels is not None:
        payload["users_delivered_to_channels"] = list(channels)
    return payload


def user_notification(instance_id: str, publish_id: str, user_id: str) -> dict[str, Any]:
    """The payload of both v1.UserNotificationAcknowledgement and v1.UserNotificationOpen."""
    return {"instance_id": instance_id, "publish_id": publish_id, "user_id": user_id}


def created_at(moment: datetime) -> str:
    """Pusher's format, e.g. "2019-03-11T10:42:16+0000": seconds, numeric offset without a colon, always UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S%z")


def envelope(
    event_type: str, payload: dict[str, Any], custom_data: dict[str, Any], *, event_id: str, created_at: str
) -> bytes:
    """The request body: {payload, metadata: {created_at, event_type, event_id, product}, custom_data}."""
    return orjson.dumps(
        {
            "payload": payload,
            "metadata": {
                "created_at": created_at,
                "event_type": event_type,
                "event_id": event_id,
                "product": "beams",
            },
            "custom_data": custom_data,
        }
    )


def signature(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA1 of the exact body bytes, keyed by the webhook's secret (docs "Verification")."""
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def request_headers(hook: BeamsWebhook, event_type: str, request_id: str, body: bytes) -> dict[str, str]:
    return {
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
        "Webhook-Event-Type": event_type,
        "Webhook-ID-UUID": hook.id,
        # The same on every retry of this request, so a receiver can ignore a retry it already handled.
        "Webhook-Request-ID-UUID": request_id,
        "Webhook-Signature": signature(hook.secret.get_secret_value(), body),
    }


__all__ = [
    "PUBLISH_TO_USERS_ATTEMPT",
    "REPORT_EVENT_TYPES",
    "USER_AGENT",
    "created_at",
    "envelope",
    "publish_to_users_attempt",
    "request_headers",
    "signature",
    "user_notification",
]
