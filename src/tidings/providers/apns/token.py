"""Provider authentication tokens: the ES256 JWT APNs wants in `authorization: bearer <jwt>`.

    header {"alg": "ES256", "kid": <key id>}    claims {"iss": <team id>, "iat": <now, whole seconds>}

Apple refuses a token older than an hour (403 ExpiredProviderToken) and throttles a key whose token is renewed
more often than every 20 minutes (429 TooManyProviderTokenUpdates), so one token per signing key is shared by
every request and renewed after REFRESH_AFTER seconds, comfortably inside that window.

"Every request" means every process: Apple counts renewals per key, not per connection, so two workers each
signing their own token throttle each other. With a shared store (the database) the token is installed there
by whichever process first finds it missing or due, and the others adopt it. Each process still caches it
until its refresh time, so a send costs no database round trip.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import jwt

from tidings.errors import StorageError
from tidings.providers.apns.settings import ApnsSettings, signing_key

if TYPE_CHECKING:  # the store is handed in by whoever builds the provider; providers do not import storage
    from tidings.storage.gateway_tokens import GatewayTokenStore

log = logging.getLogger(__name__)

REFRESH_AFTER = 50 * 60  # seconds; Apple: reuse for at least 20 minutes, at most 60
LIFETIME = 60 * 60  # Apple refuses a token older than this
# After the shared store failed, the token signed here is used this long before the store is asked again:
# long enough not to hammer a database that is down, short enough to rejoin the shared token soon after.
STORE_RETRY = 30.0

# (team id, key id, key fingerprint): the fingerprint makes a replaced .p8 under the same key id sign afresh
# at once instead of sending tokens from the old key until the next refresh.
_CacheKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    issued_at: int
    check_at: float  # when to look for a newer token: its refresh time, or sooner when the store failed


class ProviderTokens:
    """Signs and caches one provider JWT per signing key, shared through `store` when given.

    Not thread-safe: one event loop uses it.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        refresh_after: float = REFRESH_AFTER,
        *,
        store: GatewayTokenStore | None = None,
    ) -> None:
        self._clock = clock
        self._refresh_after = refresh_after
        self._store = store
        self._tokens: dict[_CacheKey, _Token] = {}
        self._rejected: dict[_CacheKey, str] = {}  # tokens APNs called expired, to be replaced in the store
        self._locks: dict[_CacheKey, asyncio.Lock] = {}

    async def get(self, settings: ApnsSettings) -> str:
        """The current token for this key, signing a new one when there is none or it is due for renewal."""
        key = _cache_key(settings)
        token = self._tokens.get(key)
        if token is not None and self._clock() < token.check_at:
            return token.value
        # One look-up per key at a time: the sends that arrive meanwhile wait for it instead of each asking.
        async with self._locks.setdefault(key, asyncio.Lock()):
            token = self._tokens.get(key)
            if token is None or self._clock() >= token.check_at:
                token = await self._renew(settings, key, token)
                self._tokens[key] = token
            return token.value

    def invalidate(self, settings: ApnsSettings, rejected: str) -> None:
        """Forget the token APNs called expired, unless it was already replaced.

        Many requests in flight with the same token all come back ExpiredProviderToken; comparing with the
        rejected value keeps them from discarding the fresh token one after another. In the shared store the
        token is replaced only while it is still the rejected one, so processes that all saw it refused adopt
        the first replacement instead of each signing their own.
        """
        key = _cache_key(settings)
        token = self._tokens.get(key)
        if token is not None and token.value == rejected:
            del self._tokens[key]
            self._rejected[key] = rejected

    async def _renew(self, settings: ApnsSettings, key: _CacheKey, current: _Token | None) -> _Token:
        now = int(self._clock())
        rejected = self._rejected.pop(key, None)
        # After a store failure the token in hand may be far from due: offer it rather than a new iat.
        if current is None or now - current.issued_at >= self._refresh_after:
            current = _Token(_sign(settings, now), now, now + self._refresh_after)
        if self._store is None:
            return current
        try:
            stored = await self._store.get_or_install(
                _store_key(key),
                current.value,
                issued_at=_utc(current.issued_at),
                expires_at=_utc(current.issued_at + LIFETIME),
                # Due for renewal, by the same rule as the cache: issued at least refresh_after seconds ago.
                issued_before=_utc(now - self._refresh_after + 1),
                rejected=rejected,
            )
        except StorageError as exc:
            # Sending with a token of our own risks a 429 from another process's token; not sending is worse.
            log.warning("shared APNs provider token unavailable, using this process's own: %s", exc)
            if rejected is not None:
                self._rejected[key] = rejected
            return replace(current, check_at=self._clock() + STORE_RETRY)
        issued_at = int(stored.issued_at.timestamp())
        return _Token(stored.value, issued_at, issued_at + self._refresh_after)


def _cache_key(settings: ApnsSettings) -> _CacheKey:
    return (settings.team_id, settings.key_id, settings.key_fingerprint)


def _store_key(key: _CacheKey) -> str:
    team_id, key_id, fingerprint = key
    return f"apns:{team_id}:{key_id}:{fingerprint}"


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _sign(settings: ApnsSettings, now: int) -> str:
    key = signing_key(settings.private_key.get_secret_value())
    # typ None drops PyJWT's default "typ": "JWT", so the header is exactly Apple's documented {alg, kid}.
    headers = {"kid": settings.key_id, "typ": None}
    return jwt.encode({"iss": settings.team_id, "iat": now}, key, algorithm="ES256", headers=headers)
