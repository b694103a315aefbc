"""Provider authentication tokens: the ES256 JWT APNs wants in `authorization: bearer <jwt>`.

    header {"alg": "ES256", "kid": <key id>}    claims {"iss": <team id>, "iat": <now, whole seconds>}

Apple refuses a token older than an hour (403 ExpiredProviderToken) and throttles one renewed more often than
every 20 minutes (429 TooManyProviderTokenUpdates), so one token per signing key is shared by every request
and renewed after REFRESH_AFTER seconds, comfortably inside that window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from tidings.providers.apns.settings import ApnsSettings, signing_key

REFRESH_AFTER = 50 * 60  # seconds; Apple: reuse for at least 20 minutes, at most 60

# (team id, key id, key fingerprint): the fingerprint makes a replaced .p8 under the same key id sign afresh
# at once instead of sending tokens from the old key until the next refresh.
_CacheKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    issued_at: int


class ProviderTokens:
    """Signs and caches one provider JWT per signing key. Not thread-safe: one event loop uses it."""

    def __init__(self, clock: Callable[[], float] = time.time, refresh_after: float = REFRESH_AFTER) -> None:
        self._clock = clock
        self._refresh_after = refresh_after
        self._tokens: dict[_CacheKey, _Token] = {}

    def get(self, settings: ApnsSettings) -> str:
        """The current token for this key, signing a new one when there is none or it is due for renewal."""
        key = _cache_key(settings)
        now = int(self._clock())
        token = self._tokens.get(key)
        if token is None or now - token.issued_at >= self._refresh_after:
            # No await between the look-up and the store: concurrent sends on one loop share one new token.
            token = _Token(_sign(settings, now), now)
            self._tokens[key] = token
        return token.value

    def invalidate(self, settings: ApnsSettings, rejected: str) -> None:
        """Forget the token APNs called expired, unless it was already replaced.

        Many requests in flight with the same token all come back ExpiredProviderToken; comparing with the
        rejected value keeps them from discarding the fresh token one after another.
        """
        key = _cache_key(settings)
        token = self._tokens.get(key)
        if token is not None and token.value == rejected:
            del self._tokens[key]


def _cache_key(settings: ApnsSettings) -> _CacheKey:
    return (settings.team_id, settings.key_id, settings.key_fingerprint)


def _sign(settings: ApnsSettings, now: int) -> str:
    key = signing_key(settings.private_key.get_secret_value())
    # typ None drops PyJWT's default "typ": "JWT", so the header is exactly Apple's documented {alg, kid}.
    headers = {"kid": settings.key_id, "typ": None}
    return jwt.encode({"iss": settings.team_id, "iat": now}, key, algorithm="ES256", headers=headers)
