"""Channel authorization and user signin signatures (docs/protocol/channels.md §3).

A token is `"<app_key>:<hex HMAC-SHA256 of the string to sign>"`. Strings to sign are built from the
strings the client actually sent: never re-serialise `channel_data` or `user_data`, or a token made
over a differently-spaced JSON would no longer match.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def hmac_hex(secret: str, message: str) -> str:
    """Lowercase hex HMAC-SHA256 of `message` keyed by `secret` (both UTF-8)."""
    # "surrogatepass": a lone surrogate (stdlib json.loads lets one through) must not raise.
    return hmac.new(_utf8(secret), _utf8(message), hashlib.sha256).hexdigest()


def _utf8(text: str) -> bytes:
    return text.encode(errors="surrogatepass")


def channel_string(socket_id: str, channel: str, channel_data: str | None = None) -> str:
    """What a private/encrypted (`sid:channel`) or presence (`sid:channel:data`) token signs."""
    if channel_data is None:
        return f"{socket_id}:{channel}"
    return f"{socket_id}:{channel}:{channel_data}"


def signin_string(socket_id: str, user_data: str) -> str:
    """What a `pusher:signin` token signs."""
    return f"{socket_id}::user::{user_data}"


def token(key: str, secret: str, message: str) -> str:
    return f"{key}:{hmac_hex(secret, message)}"


def verify_token(key: str, secret: str, message: str, received: object) -> bool:
    """True if `received` is exactly the token for `message`. Constant time; never raises."""
    if not isinstance(received, str):
        return False
    expected = token(key, secret, message)
    # compare_digest refuses non-ASCII str, so compare bytes.
    return hmac.compare_digest(_utf8(expected), _utf8(received))


def shared_secret(channel: str, master_key: bytes) -> str:
    """The per-channel key of an encrypted channel: base64(SHA-256(channel || master_key)).

    The server never needs it (it does not decrypt); it is here for tests and documentation.
    """
    return base64.b64encode(hashlib.sha256(channel.encode() + master_key).digest()).decode("ascii")
