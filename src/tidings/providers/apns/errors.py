"""APNs answers as Outcomes: one table, Apple's status codes and `reason` strings in, the pipeline's shape out.

    200                                              Delivered
    410 Unregistered | ExpiredToken                  DeadToken   the app is gone from the device
    400 BadDeviceToken | DeviceTokenNotForTopic      DeadToken   the token can never work for this app
    403 ExpiredProviderToken                         Retry       (the client signs a fresh JWT first)
    403 anything else (InvalidProviderToken, ...)    Failed      the instance's credentials are wrong
    429 (TooManyRequests, ...) and 5xx               Retry       after Retry-After when APNs sends one
    any other status (400, 404, 405, 413, ...)       Failed      with Apple's reason

Reference: "Handling notification responses from APNs" (developer.apple.com/documentation/usernotifications).
"""

from __future__ import annotations

import orjson

from tidings.providers.base import DeadToken, Delivered, Failed, Outcome, Retry

EXPIRED_PROVIDER_TOKEN = "ExpiredProviderToken"

# BadDeviceToken is also APNs' answer for a sandbox token sent to production (and the reverse): a wrong
# `environment` setting therefore reads as dead tokens. Apple gives no way to tell the two apart.
_DEAD_ON_400 = frozenset({"BadDeviceToken", "DeviceTokenNotForTopic"})


def classify(status: int, reason: str | None, retry_after: float | None = None) -> Outcome:
    """The Outcome of one APNs answer. `reason` is the body's `reason`, `retry_after` the parsed header."""
    said = reason or f"HTTP {status}"
    if status == 200:
        return Delivered(status)
    if status == 410:
        return DeadToken(said, status)
    if status == 400 and reason in _DEAD_ON_400:
        return DeadToken(said, status)
    if status == 403 and reason == EXPIRED_PROVIDER_TOKEN:
        return Retry(said, None, status)
    if status == 429 or status >= 500:
        return Retry(said, retry_after, status)
    return Failed(said, status)


def reason_of(body: bytes) -> str | None:
    """`reason` from an APNs error body ({"reason": "...", "timestamp"?: ms}); None when there is none."""
    if not body:
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    reason = parsed.get("reason") if isinstance(parsed, dict) else None
    # Bounded: the reason ends up in results and logs, and a misbehaving proxy could send anything.
    return reason[:200] if isinstance(reason, str) and reason else None

