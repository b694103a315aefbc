"""OAuth2 access tokens for FCM: the JWT-bearer grant (RFC 7523) signed with the service account's key.

Why not google-auth's `service_account.Credentials`: its refresh is blocking (a thread per refresh), it posts
through `requests` (a second HTTP stack whose CA handling would have to mirror the gateway's extra CA), and it
judges expiry by its own wall clock, so tests could not move time. The grant is one signed JWT and one form
POST, done here on the provider's own httpx client and clock (google-auth does exactly this underneath).

Tokens are cached per credential until shortly before they expire; one refresh runs at a time per
credential, and a failed refresh is remembered briefly so a burst of sends does not hammer the endpoint.
Neither the key nor the tokens are ever logged or put into error messages.

With a shared store (the database), every process uses one token per credential, refreshed by one of them:
- a process whose cache is empty or due adopts the stored token when it is still good;
- when the stored token is due but still valid, the process that claims the refresh (a row beside the token,
  taken like a lease) fetches a new one; the others keep sending with the old one, looking again each second;
- otherwise (none stored, refused, or about to expire) the process fetches one and installs it, unless
  another process installed a good one meanwhile: then that one is used and the fetched one is dropped. So
  processes starting at once may each make a grant (Google allows many live tokens per account), but they
  settle on the one stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
import jwt
import orjson

from tidings.errors import StorageError
from tidings.providers.fcm.errors import CredentialError, TokenError
from tidings.providers.fcm.settings import ServiceAccount
from tidings.providers.retry import retry_after

if TYPE_CHECKING:  # the store is handed in by whoever builds the provider; providers do not import storage
    from tidings.storage.gateway_tokens import GatewayToken, GatewayTokenStore

log = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600  # Google's maximum for a JWT-bearer assertion
REFRESH_MARGIN = 300.0  # stop using a token this long before it expires: sends in flight must not carry a dead one
FAILURE_HOLD = 5.0  # after a failed refresh, sends fail fast (Retry) for this long instead of each trying again
MAX_FAILURE_HOLD = 60.0  # ... or as long as the endpoint's Retry-After asks, up to this
# Shared store: a process refreshing a due token keeps the others from refreshing it too for this long (a token
# request takes at most about 10 s); they use the old token meanwhile, looking for the new one every
# CLAIM_RECHECK seconds, but not within LAST_USE seconds of its expiry.
REFRESH_CLAIM = 30.0
CLAIM_RECHECK = 1.0
LAST_USE = 30.0

_Key = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    issued_at: float  # when the request for it started
    expires_at: float  # as the grant said
    use_until: float  # then a newer one is looked for

    @classmethod
    def of(cls, value: str, issued_at: float, expires_at: float) -> _Token:
        # Sends in flight must not carry a dead token: stop REFRESH_MARGIN early, or at half life if shorter.
        return cls(value, issued_at, expires_at, expires_at - min(REFRESH_MARGIN, (expires_at - issued_at) / 2))


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
    def __init__(
        self,
        http: httpx.AsyncClient,
        token_url: str,
        clock: Callable[[], float],
        *,
        store: GatewayTokenStore | None = None,
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._clock = clock
        self._store = store
        self._owner = uuid.uuid4().hex  # names this process's refresh claims
        self._tokens: dict[_Key, _Token] = {}
        self._rejected: dict[_Key, str] = {}  # tokens FCM refused, not to be adopted from the store
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
            shared = await self._from_store(key)
            if shared is not None:
                self._tokens[key] = shared
                return shared.value
            try:
                fetched = await self._fetch(account)
            except TokenError as exc:
                hold = min(exc.after, MAX_FAILURE_HOLD) if exc.after is not None else FAILURE_HOLD
                self._failures[key] = (self._clock() + hold, exc)
                log.warning("fcm access token refresh failed for %s: %s", account.client_email, exc.reason)
                raise
            self._failures.pop(key, None)
            installed = await self._install(key, fetched)
            self._tokens[key] = installed
            return installed.value

    def invalidate(self, account: ServiceAccount, token: str) -> None:
        """Forget `token` after FCM refused it (401). Only that token: a newer one fetched meanwhile stays.

        In the shared store it is replaced only while it is still the refused one: processes that all saw it
        refused adopt the first replacement instead of each fetching their own.
        """
        key = self._key(account)
        cached = self._tokens.get(key)
        if cached is not None and cached.value == token:
            del self._tokens[key]
            self._rejected[key] = token

    async def _from_store(self, key: _Key) -> _Token | None:
        """The stored token if it is good to use, or due but being refreshed by another process; None: fetch."""
        if self._store is None:
            return None
        try:
            stored = await self._store.get(_store_key(key))
        except StorageError as exc:
            log.warning("shared fcm access token unavailable, fetching this process's own: %s", exc)
            return None
        if stored is None or stored.value == self._rejected.get(key):
            return None
        token, now = _from_stored(stored), self._clock()
        if now < token.use_until:
            self._rejected.pop(key, None)
            return token
        if now >= token.expires_at - LAST_USE or await self._claim_refresh(self._store, key, now):
            return None
        return replace(token, use_until=now + CLAIM_RECHECK)

    async def _claim_refresh(self, store: GatewayTokenStore, key: _Key, now: float) -> bool:
        """True if this process is to refresh the stored token: no other process claimed that in the last
        REFRESH_CLAIM seconds (the claim is a row of its own in the store, taken when missing or expired)."""
        try:
            claim = await store.get_or_install(
                _store_key(key) + "#refresh",
                self._owner,
                issued_at=_utc(now),
                expires_at=_utc(now + REFRESH_CLAIM),
                expires_before=_utc(now),
            )
        except StorageError as exc:
            log.warning("shared fcm access token refresh not coordinated: %s", exc)
            return True
        return claim.value == self._owner

    async def _install(self, key: _Key, fetched: _Token) -> _Token:
        """Store `fetched` unless another process stored a good token meanwhile; the token to use."""
        if self._store is None:
            return fetched
        rejected = self._rejected.pop(key, None)
        try:
            stored = await self._store.get_or_install(
                _store_key(key),
                fetched.value,
                issued_at=_utc(fetched.issued_at),
                expires_at=_utc(fetched.expires_at),
                # Not good any more: inside the margin this process would refresh at (REFRESH_MARGIN, or half
                # of this token's life when that is shorter).
                expires_before=_utc(self._clock() + fetched.expires_at - fetched.use_until),
                rejected=rejected,
            )
        except StorageError as exc:
            log.warning("shared fcm access token not saved, using this process's own: %s", exc)
            return fetched
        token = _from_stored(stored)
        return token if self._clock() < token.use_until else fetched

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
        return _Token.of(value, started, started + expires_in)


def _store_key(key: _Key) -> str:
    # The key's digest is cut short: enough to tell a rotated key apart, and the table holds no more of it.
    token_url, client_email, key_id, digest = key
    return f"fcm:{client_email}:{key_id}:{digest[:16]}:{token_url}"


def _from_stored(stored: GatewayToken) -> _Token:
    return _Token.of(stored.value, stored.issued_at.timestamp(), stored.expires_at.timestamp())


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _json_object(body: bytes) -> dict[str, object]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return document if isinstance(document, dict) else {}
