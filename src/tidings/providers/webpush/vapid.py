"""VAPID (RFC 8292): the `Authorization: vapid t=<JWT>, k=<public key>` header, signed once and reused.

An ES256 signature per request would be wasted work at thousands of sends per second, and push services
rate-limit by key rather than by token, so one JWT per (instance key, push service origin, subject) is
kept until it nears expiry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt

from tidings.beams import vapid as keys
from tidings.beams.models import Instance
from tidings.providers.webpush.settings import JWT_LIFETIME, JWT_REFRESH_MARGIN, vapid_subject

_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_CACHED = 10_000  # (instance, push service) pairs; a handful of push services exist per instance


def audience(endpoint: str) -> str:
    """The origin of a push endpoint (scheme://host[:port]), the JWT `aud` RFC 8292 section 2 asks for."""
    parts = urlsplit(endpoint)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets in an origin
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


@dataclass(frozen=True, slots=True)
class _Signed:
    header: str
    expires: float


class VapidSigner:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock  # wall clock: `exp` is checked against the push service's idea of now
        self._cache: dict[tuple[str, str, str, str], _Signed] = {}

    def authorization(self, instance: Instance, endpoint: str) -> str:
        """The Authorization header value; ValueError if the instance's VAPID key is unusable."""
        aud = audience(endpoint)
        subject = vapid_subject(instance)
        # The public key is part of the key so that a rotated VAPID key is never paired with an old JWT.
        cache_key = (instance.id, instance.vapid_public_key, aud, subject)
        now = self._clock()
        hit = self._cache.get(cache_key)
        if hit is not None and hit.expires - now > JWT_REFRESH_MARGIN:
            return hit.header
        expires = int(now) + JWT_LIFETIME
        token = jwt.encode(
            {"aud": aud, "exp": expires, "sub": subject},
            keys.load_private_key(instance.vapid_private_key),
            algorithm="ES256",
            headers={"typ": "JWT"},
        )
        signed = _Signed(f"vapid t={token}, k={instance.vapid_public_key}", expires)
        if len(self._cache) >= _MAX_CACHED:
            self._cache = {k: v for k, v in self._cache.items() if v.expires - now > JWT_REFRESH_MARGIN}
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()  # bounds memory whatever happens; the cost is one signature per entry
        self._cache[cache_key] = signed
        return signed.header
