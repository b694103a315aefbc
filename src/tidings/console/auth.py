"""Who may use the console: the console token, a session cookie derived from it, and a limit on wrong guesses.

- The token is compared in constant time (`hmac.compare_digest` of SHA-256 digests: neither the content nor the
  length of the right token shows in the time a wrong one takes).
- A session cookie is `<expiry>.<HMAC-SHA256(token, "tidings-console-session:<expiry>")>`: stateless, so any node of
  a cluster accepts a cookie another node issued, and changing the token ends every session.
- Wrong tokens (login form or `Authorization: Bearer`) are counted per client address: beyond `attempts` within
  `window` seconds, every try from that address is refused with 429 until the window has passed, right token or
  not. The table of addresses is bounded.

Pure: time is passed in (the `clock`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from tidings.errors import ApiError, Unauthorized

COOKIE = "tidings_console"
SESSION_SECONDS = 12 * 3600
ATTEMPTS = 10  # wrong tokens per address ...
WINDOW = 60.0  # ... within this many seconds
MAX_ADDRESSES = 10_000


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


class ConsoleAuth:
    def __init__(
        self, token: str, *, clock: Callable[[], float] = time.time, attempts: int = ATTEMPTS, window: float = WINDOW,
        session_seconds: int = SESSION_SECONDS,
    ) -> None:
        if not token:
            raise ValueError("an empty console token")
        self._token = _digest(token)
        self._key = token.encode("utf-8", "surrogatepass")
        self._clock = clock
        self._attempts = attempts
        self._window = window
        self.session_seconds = session_seconds
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    # -- the token ----------------------------------------------------------------------------------------

    def login(self, given: str, address: str) -> str:
        """A session cookie value for the right token; raises ApiError (429) or Unauthorized otherwise."""
        self.check_token(given, address)
        return self.session()

    def check_token(self, given: str, address: str) -> None:
        self._check_limit(address)
        if not hmac.compare_digest(_digest(given), self._token):
            self._failed(address)
            raise Unauthorized("Wrong console token")

    def check_bearer(self, header: str, address: str) -> None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("Authorization must be `Bearer <console token>`")
        self.check_token(value.strip(), address)

    # -- sessions -----------------------------------------------------------------------------------------

    def session(self) -> str:
        expiry = str(int(self._clock()) + self.session_seconds)
        return f"{expiry}.{self._mac(expiry)}"

    def check_session(self, cookie: str | None) -> bool:
        if not cookie:
            return False
        expiry, _, mac = cookie.partition(".")
        if not expiry.isdigit() or len(expiry) > 12:
            return False
        if not hmac.compare_digest(mac.encode("ascii", "replace"), self._mac(expiry).encode("ascii")):
            return False
        return int(expiry) > self._clock()

    def _mac(self, expiry: str) -> str:
        return hmac.new(self._key, f"tidings-console-session:{expiry}".encode(), hashlib.sha256).hexdigest()

    # -- wrong guesses ------------------------------------------------------------------------------------

    def _recent(self, address: str) -> deque[float]:
        failures = self._failures.get(address)
        if failures is None:
            return deque()
        horizon = self._clock() - self._window
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures

    def _check_limit(self, address: str) -> None:
        if len(self._recent(address)) >= self._attempts:
            raise ApiError("Too many wrong console tokens from this address; try again in a minute", status=429)

    def _failed(self, address: str) -> None:
        failures = self._failures.pop(address, None)
        if failures is None:
            failures = deque(maxlen=self._attempts)
        failures.append(self._clock())
        self._failures[address] = failures  # most recent last
        while len(self._failures) > MAX_ADDRESSES:
            self._failures.popitem(last=False)
