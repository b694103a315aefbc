"""Web Push (RFC 8030) with encrypted payloads (RFC 8291) and VAPID (RFC 8292) for Beams web devices.

subscription.py is the device token rule (registration and send): a browser PushSubscription.
"""

from tidings.providers.webpush.client import WebPushProvider, make_http_client

__all__ = ["WebPushProvider", "make_http_client"]
