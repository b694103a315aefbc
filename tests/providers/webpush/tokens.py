"""Web device tokens as the web SDK sends them: `btoa(JSON.stringify(pushSubscription))`."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def browser_key() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


P256DH = browser_key()
AUTH = os.urandom(16)
ENDPOINT = "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91bH"


def subscription(**overrides: Any) -> dict[str, Any]:
    sub: dict[str, Any] = {
        "endpoint": ENDPOINT,
        "expirationTime": None,
        "keys": {"p256dh": b64url(P256DH), "auth": b64url(AUTH)},
    }
    sub.update(overrides)
    return sub


def web_token(sub: Any) -> str:
    return base64.b64encode(json.dumps(sub).encode()).decode()
