"""The Web Push device token rule, one for registration and for sending: a browser PushSubscription.

A web device token is base64 of the PushSubscription JSON (`btoa(JSON.stringify(sub))`): an http(s) endpoint,
the browser's P-256 key and its 16-byte auth secret, what RFC 8030/8291 delivery needs. Registration may also
require https (`https_only`: RFC 8030 push services are https; plain http is for local development only).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from tidings.beams.validation.request import is_http_url
from tidings.errors import InvalidDeviceToken


@dataclass(frozen=True)
class WebSubscription:
    """A browser PushSubscription, what Web Push delivery (RFC 8030/8291) needs."""

    endpoint: str
    p256dh: bytes  # the browser's 65-byte uncompressed P-256 point
    auth: bytes  # the 16-byte auth secret


def check(token: str, *, https_only: bool = False) -> str:
    """The token as stored (unchanged), or InvalidDeviceToken."""
    decode(token, https_only=https_only)
    return token


def decode(token: str, *, https_only: bool = False) -> WebSubscription:
    try:
        subscription = orjson.loads(_b64decode(token))
    except ValueError:  # binascii.Error, UnicodeError and orjson.JSONDecodeError all are
        subscription = None
    if not isinstance(subscription, dict):
        raise InvalidDeviceToken("a web token must be the base64 of a PushSubscription JSON object")
    endpoint = subscription.get("endpoint")
    if not is_http_url(endpoint):
        raise InvalidDeviceToken("the subscription `endpoint` must be an http or https URL")
    if https_only and not endpoint.lower().startswith("https:"):
        raise InvalidDeviceToken("the subscription `endpoint` must be an https URL")
    keys = subscription.get("keys")
    keys = keys if isinstance(keys, dict) else {}
    p256dh = _b64_key(keys.get("p256dh"))
    if p256dh is None or len(p256dh) != 65 or not _is_p256_point(p256dh):
        raise InvalidDeviceToken("the subscription `keys.p256dh` must be a base64url P-256 public key")
    auth = _b64_key(keys.get("auth"))
    if auth is None or len(auth) != 16:
        raise InvalidDeviceToken("the subscription `keys.auth` must be a base64url 16-byte secret")
    return WebSubscription(endpoint=endpoint, p256dh=p256dh, auth=auth)


def _b64decode(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not (browsers write the first, PushSubscription keys the second)."""
    if not text.isascii():
        raise ValueError("not base64")
    text = text.replace("-", "+").replace("_", "/").rstrip("=")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _b64_key(value: object) -> bytes | None:
    if not isinstance(value, str) or len(value) > 256:
        return None
    try:
        return _b64decode(value)
    except ValueError:
        return None


def _is_p256_point(raw: bytes) -> bool:
    # Checked now so that delivery never meets a key it cannot do ECDH with.
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        return False
    return True
