"""The encrypted Web Push body (RFC 8291, `aes128gcm` content coding from RFC 8188).

A fresh ephemeral P-256 key and salt per message, as RFC 8291 section 3.1 requires: reusing either would
let anyone who sees two messages relate their keys. One record only (section 4): with the conventional
record size of 4096 that holds for every body under MAX_BODY, which the client checks first.
"""

from __future__ import annotations

from typing import Any

import http_ece
import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from tidings.beams.payloads import web_push_message
from tidings.providers.webpush.subscription import WebSubscription

_HEADER = 16 + 4 + 1 + 65  # salt, record size, key id length, the ephemeral public key as key id
_OVERHEAD = 16 + 1  # AES-GCM tag and the last-record delimiter
_RECORD_SIZE = 4096  # the value in RFC 8291's example and in the common Web Push libraries


def message_bytes(instance_id: str, publish_id: str, web: dict[str, Any]) -> bytes:
    """The JSON the Beams service worker parses (beams.payloads.web_push_message)."""
    return orjson.dumps(web_push_message(instance_id, publish_id, web))


def encrypt(plaintext: bytes, subscription: WebSubscription) -> bytes:
    """`aes128gcm` ciphertext for the browser holding `subscription`'s private key and auth secret."""
    sender = ec.generate_private_key(ec.SECP256R1())
    body: bytes = http_ece.encrypt(
        plaintext,
        private_key=sender,
        dh=subscription.p256dh,
        auth_secret=subscription.auth,
        version="aes128gcm",
        rs=_RECORD_SIZE,
    )
    return body


def encrypted_size(plaintext: bytes) -> int:
    """The body length `encrypt` will produce, to refuse oversize messages before any crypto work."""
    return _HEADER + len(plaintext) + _OVERHEAD
