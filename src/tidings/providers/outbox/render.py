"""Each platform's gateway request for one device, rendered as the provider would send it, credentials masked.

The same builders the providers use (webpush.payload and .settings, apns.request, fcm.message), so what the
outbox shows is what a gateway would get: the method, the URL (with the device token where the gateway takes
it), the headers and the body. The checks that do not need gateway credentials give the provider's outcome
(no payload for the platform: Skipped; a damaged token: DeadToken; an oversize Web Push message or no APNs
topic: Failed). Credentials are not needed, so an instance without them can use the outbox; the ones a request
carries (the VAPID JWT, the APNs provider token, the FCM access token) are shown masked.

A rendered request, as stored and served:

    {"method": "POST", "url": ..., "headers": {...}, "body": <text, or base64 when bodyEncoding is "base64">,
     "bodyEncoding": "utf-8" | "base64", "payload": <the decrypted Web Push message: web only>,
     "notification": {"title": ..., "body": ...}}   # what the device would show, read from the payload
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import orjson

from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.errors import InvalidDeviceToken
from tidings.providers.apns import device_token as apns_token
from tidings.providers.apns.request import build_request
from tidings.providers.apns.settings import ApnsSettingsError, instance_settings
from tidings.providers.base import DeadToken, Failed, Outcome, Skipped
from tidings.providers.fcm import device_token as fcm_token
from tidings.providers.fcm.message import v1_message
from tidings.providers.fcm.settings import FcmSettingsError, parse_settings
from tidings.providers.webpush import payload as webpush
from tidings.providers.webpush.request import WebRequest
from tidings.providers.webpush.request import prepare as prepare_web
from tidings.providers.webpush.vapid import VapidSigner

MASKED = "<masked>"
# The FCM URL names the Firebase project, which only the service account (not configured) would give.
NO_PROJECT = "{project_id}"


class GatewaySettings(Protocol):
    """The gateway URLs the requests go to (tidings.config.Settings has them)."""

    @property
    def apns_url(self) -> str: ...

    @property
    def apns_sandbox_url(self) -> str: ...

    @property
    def fcm_url(self) -> str: ...

    @property
    def gateway_ca_file(self) -> Path | None: ...


Rendered = dict[str, Any]


class Renderer:
    def __init__(self, settings: GatewaySettings, signer: VapidSigner | None = None) -> None:
        self._apns = {"production": settings.apns_url.rstrip("/"), "sandbox": settings.apns_sandbox_url.rstrip("/")}
        self._fcm = settings.fcm_url.rstrip("/")
        self._signer = signer or VapidSigner()

    def render(self, instance: Instance, device: Device, publish: Publish) -> Rendered | Outcome:
        """The request for `device`, or the outcome the provider would have come to without sending."""
        match device.platform:
            case Platform.WEB:
                return self._web(instance, device, publish)
            case Platform.APNS:
                return self._apns_request(instance, device, publish)
            case Platform.FCM:
                return self._fcm_request(instance, device, publish)

    def _web(self, instance: Instance, device: Device, publish: Publish) -> Rendered | Outcome:
        # Prepared by the provider's own code (an unusable VAPID key fails here too); only the public key is shown.
        prepared = prepare_web(instance, device, publish, self._signer)
        if not isinstance(prepared, WebRequest):
            return prepared
        subscription, plaintext = prepared.subscription, prepared.plaintext
        message = orjson.loads(plaintext)
        headers = {**prepared.headers, "Authorization": f"vapid t={MASKED}, k={instance.vapid_public_key}"}
        # Encrypted for the browser's keys, exactly as sent: the body, with the plaintext beside it.
        body = webpush.encrypt(plaintext, subscription)
        return _request(subscription.endpoint, headers, body, binary=True, payload=message,
                        notification=_summary(message.get("notification")))

    def _apns_request(self, instance: Instance, device: Device, publish: Publish) -> Rendered | Outcome:
        apns = publish.payload.get("apns")
        if not isinstance(apns, dict):
            return Skipped("the publish has no apns payload")
        try:
            settings = instance_settings(instance)
        except ApnsSettingsError as exc:
            return Failed(str(exc), status=0)
        try:
            token = apns_token.check(device.token)
        except InvalidDeviceToken as exc:
            return DeadToken(f"BadDeviceToken ({exc})", status=0)
        topic = (settings.topic if settings is not None else None) or device.bundle_identifier
        if not topic:
            return Failed("no apns-topic: set `topic` in the APNs settings or register the bundle identifier", 0)
        request = build_request(instance.id, publish.id, apns, token, topic)
        environment = settings.environment if settings is not None else "production"
        headers = {**request.headers, "authorization": f"bearer {MASKED}"}
        aps = apns.get("aps")
        alert = aps.get("alert") if isinstance(aps, dict) else None
        summary = _summary(alert) if isinstance(alert, dict) else {"title": None, "body": alert}
        return _request(self._apns[environment] + request.path, headers, request.body, notification=summary)

    def _fcm_request(self, instance: Instance, device: Device, publish: Publish) -> Rendered | Outcome:
        fcm = publish.payload.get("fcm")
        if not isinstance(fcm, dict):
            return Skipped("publish has no fcm payload")
        try:
            token = fcm_token.check(device.token)
        except InvalidDeviceToken as exc:
            return DeadToken(f"not an FCM token ({exc})", status=0)
        raw = instance.providers.get("fcm")
        try:
            project = parse_settings(raw).project if raw else NO_PROJECT
        except FcmSettingsError as exc:
            return Failed(str(exc))
        message = v1_message(instance.id, publish.id, token, fcm)
        headers = {
            "Authorization": f"Bearer {MASKED}",
            "Content-Type": "application/json",
            "Accept-Encoding": "identity",
        }
        url = f"{self._fcm}/v1/projects/{quote(project, safe='{}')}/messages:send"
        return _request(url, headers, orjson.dumps({"message": message}),
                        notification=_summary(message.get("notification")))


def _request(
    url: str, headers: dict[str, str], body: bytes, *, binary: bool = False, payload: Any = None,
    notification: dict[str, Any],
) -> Rendered:
    rendered: Rendered = {
        "method": "POST",
        "url": url,
        "headers": headers,
        "body": base64.b64encode(body).decode() if binary else body.decode(),
        "bodyEncoding": "base64" if binary else "utf-8",
    }
    if payload is not None:
        rendered["payload"] = payload
    rendered["notification"] = notification
    return rendered


def _summary(section: object) -> dict[str, Any]:
    """Title and body of what the device would show (None where the notification has none)."""
    values = section if isinstance(section, dict) else {}
    return {"title": values.get("title"), "body": values.get("body")}
