"""The APNs device token rule, one for registration and for sending: hex, 8 to 256 bytes, kept lowercase.

Device tokens were 32 bytes for years and Apple says they may grow; anything else must never reach the
request path (/3/device/<token>), and a token APNs would only answer BadDeviceToken for is refused at
registration rather than stored and then recorded as dead.
"""

from __future__ import annotations

import re

from tidings.errors import InvalidDeviceToken

MIN_BYTES = 8
MAX_BYTES = 256

_HEX_BYTES = re.compile(r"(?:[0-9a-fA-F]{2})+")


def check(token: str) -> str:
    """The token as stored and sent (lowercase: the iOS SDK sends it so; one spelling per device), or
    InvalidDeviceToken."""
    if _HEX_BYTES.fullmatch(token) is None:
        raise InvalidDeviceToken("APNs device tokens are hex strings")
    if not MIN_BYTES <= len(token) // 2 <= MAX_BYTES:
        raise InvalidDeviceToken(
            f"APNs device tokens are {MIN_BYTES} to {MAX_BYTES} bytes ({2 * MIN_BYTES} to {2 * MAX_BYTES} hex digits)"
        )
    return token.lower()
