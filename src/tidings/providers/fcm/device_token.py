"""The FCM device token rule, one for registration and for sending.

FCM registration tokens are opaque (Google documents no shape and has changed it before): the only rule is
that there is one. The device API bounds its length as it does for every platform (it must fit a row).
"""

from __future__ import annotations

from tidings.errors import InvalidDeviceToken


def check(token: str) -> str:
    """The token as stored and sent (unchanged), or InvalidDeviceToken."""
    if not token:
        raise InvalidDeviceToken("`token` must be a non-empty string")
    return token
