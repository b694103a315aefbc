"""OAuth2 access tokens for FCM: the JWT-bearer grant (RFC 7523) signed with the service account's key.

Why not google-auth's `service_account.Credentials`: its refresh is blocking (a thread per refresh), it posts
through `requests` (a second HTTP stack whose CA handling would have to mirror the gateway's extra CA), and it
judges expiry by its own wall clock, so tests could not move time. The grant is one signed JWT and one form
POST, done here on the provider's own httpx client and clock (google-auth does exactly this underneath).

Tokens are cached per credential until shortly before they expire; one refresh runs at a time per
credential, and a failed refresh is remembered briefly so a burst of sends does not hammer the endpoint.
Neither the key nor the tokens are ever logged or put into error messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import jwt
import orjson

from tidings.providers.fcm.errors import CredentialError, TokenError
from tidings.providers.fcm.settings import ServiceAccount
from tidings.providers.retry import retry_after

log = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600  # Google's maximum for a JWT-bearer assertion
REFRESH_MARGIN = 300.0  # stop using a token this long before it expires: sends in flight must not carry a dead one
FAILURE_HOLD = 5.0  # after a failed refresh, sends fail fast (Retry) for this long instead of each trying again
MAX_FAILURE_HOLD = 60.0  # ... or as long as the endpoint's Retry-After asks, up to this

_Key = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    use_until: float


def signed_assertion(account: ServiceAccount, audience: str, now: float) -> str:
    """The RS256 JWT the token endpoint exchanges for an access token (RFC 7523 section 2.1)."""
    issued = int(now)
    claims = {
        "iss": account.client_email,
        "scope": SCOPE,
        "aud": audience,
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME,
    }
    headers = {"kid": account.private_key_id} if account.private_key_id else None
    try:
        return jwt.encode(claims, account.private_key.get_secret_value(), algorithm="RS256", headers=headers)
    except (ValueError, TypeError, jwt.PyJWTError):
        # Not chained: the underlying errors can quote key material.
        raise CredentialError("service_account.private_key is not a usable RSA private key") from None


class AccessTokens:
    def __init__(self, http: httpx.AsyncClient, token_url: str, clock: Callable[[], float]) -> None:
        self._http = http
        self._token_url = token_url
        self._clock = clock
        self._tokens: dict[_Key, _Token] = {}
        self._failures: dict[_Key, tuple[float, TokenError]] = {}
        self._locks: dict[_Key, asyncio.Lock] = {}
        self.fetches = 0  # token requests made, for metrics and tests

    async def get(self, account: ServiceAccount) -> str:
        """A valid access token for `account`; raises TokenError (retry later) or CredentialError (broken key)."""
        key = self._key(account)
        if (token := self._fresh(key)) is not None:
            return token
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            # Whoever held the lock before us may have refreshed already: the double check keeps it to one fetch.
            if (token := self._fresh(key)) is not None:
                return token
            failed = self._failures.get(key)
            if failed is not None and self._clock() < failed[0]:
                raise TokenError(failed[1].reason, status=failed[1].status, after=failed[0] - self._clock())
            try:
                fetched = await self._fetch(account)
            except TokenError as exc:
                hold = min(exc.after, MAX_FAILURE_HOLD) if exc.after is not None else FAILURE_HOLD
                self._failures[key] = (self._clock() + hold, exc)
                log.warning("fcm access token refresh failed for %s: %s", account.client_email, exc.reason)
                raise
            self._failures.pop(key, None)
            self._tokens[key] = fetched
            return fetched.value

    def invalidate(self, account: ServiceAccount, token: str) -> None:
        """Forget `token` after FCM refused it (401). Only that token: a newer one fetched meanwhile stays."""
        key = self._key(account)
        cached = self._tokens.get(key)
        if cached is not None and cached.value == token:
            del self._tokens[key]

    def _fresh(self, key: _Key) -> str | None:
        cached = self._tokens.get(key)
        return cached.value if cached is not None and self._clock() < cached.use_until else None

    def _key(self, account: ServiceAccount) -> _Key:
        # A digest, not the key itself, so a rotated key (even under the same key id) gets its own token.
        digest = hashlib.sha256(account.private_key.get_secret_value().encode()).hexdigest()
        return (self._token_url, account.client_email, account.private_key_id, digest)

    async def _fetch(self, account: ServiceAccount) -> _Token:
        self.fetches += 1
        started = self._clock()
        form = {"grant_type": GRANT_TYPE, "assertion": signed_assertion(account, self._token_url, started)}
        try:
            response = await self._http.post(self._token_url, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise TokenError(f"token endpoint unreachable ({type(exc).__name__})") from exc
        document = _json_object(response.content)
        if response.status_code != 200:
            # OAuth2 errors ({"error": "invalid_grant", "error_description": ...}) hold no secrets.
            error = str(document.get("error") or "")[:100]
            after = retry_after(response.headers.get("retry-after"), self._clock())
            raise TokenError(
                f"token endpoint answered {response.status_code} {error}".rstrip(),
                status=response.status_code,
                after=after,
            )
        value, expires_in = document.get("access_token"), document.get("expires_in", ASSERTION_LIFETIME)
        if (
            not isinstance(value, str)
            or not value
            or isinstance(expires_in, bool)
            or not isinstance(expires_in, int | float)
        ):
            raise TokenError("token endpoint answered 200 without a usable access_token", status=200)
        # Measured from before the request, so the margin also covers the time the request took.
        return _Token(value, started + expires_in - min(REFRESH_MARGIN, expires_in / 2))


def _json_object(body: bytes) -> dict[str, object]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return document if isinstance(document, dict) else {}
