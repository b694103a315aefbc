"""The Web Push request for one device, up to the encryption: what the provider sends and the outbox shows.

One function, so a notification kept in the outbox (providers/outbox/) is the request the provider would have
made, decided by the same rules: no `web` payload, a damaged token, a payload too large once encrypted and an
unusable VAPID key end here with the provider's own outcome.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tidings.beams.models import Device, Instance, Publish
from tidings.errors import InvalidDeviceToken
from tidings.providers.base import DeadToken, Failed, Outcome, Skipped
from tidings.providers.webpush import payload
from tidings.providers.webpush.settings import MAX_BODY, push_headers
from tidings.providers.webpush.subscription import WebSubscription, decode
from tidings.providers.webpush.vapid import VapidSigner

Plaintext = Callable[[str, str, dict[str, Any]], bytes]  # (instance id, publish id, web payload) -> message


@dataclass(frozen=True, slots=True)
class WebRequest:
    subscription: WebSubscription
    plaintext: bytes = field(repr=False)  # the notification before encryption (a payload: never logged)
    headers: dict[str, str] = field(repr=False)  # Authorization holds a signed VAPID token


def prepare(
    instance: Instance,
    device: Device,
    publish: Publish,
    signer: VapidSigner,
    plaintext: Plaintext = payload.message_bytes,
) -> WebRequest | Outcome:
    web = publish.payload.get("web")
    if not isinstance(web, dict):
        return Skipped("publish has no web payload")
    try:
        subscription = subscription_of(device.token)
    except InvalidDeviceToken:
        # Registration applies the same rule, so this is a damaged row; it can never be delivered to.
        return DeadToken("device token is not a valid push subscription", status=0)
    message = plaintext(instance.id, publish.id, web)
    if payload.encrypted_size(message) > MAX_BODY:
        return Failed(f"payload too large: encrypted web push message over {MAX_BODY} bytes", status=413)
    try:
        authorization = signer.authorization(instance, subscription.endpoint)
    except ValueError:
        return Failed("instance VAPID key is unusable", status=0)
    headers = {
        **push_headers(web).as_dict(),
        "Authorization": authorization,
        "Content-Type": "application/octet-stream",
        "Content-Encoding": "aes128gcm",
    }
    return WebRequest(subscription, message, headers)


@functools.lru_cache(maxsize=20_000)
def subscription_of(token: str) -> WebSubscription:
    """A stored token decoded and checked once (base64, JSON, the P-256 point check: ~10 us), not per send.

    Bounded: at most 20,000 subscriptions (~10 MB) stay decoded; a token that fails is not cached."""
    return decode(token)
