"""Signing and verifying Channels HTTP API requests (docs/protocol/channels.md §4.1).

The signature is hex HMAC-SHA256 over `METHOD\\nPATH\\nQUERY`, QUERY being every parameter but
`auth_signature`, keys lowercased, sorted, joined as `k=v&...` with values *not* URL-escaped.
The verifier is deliberately tolerant of the official SDKs' quirks: `body_md5` on a GET (pusher-http-python
sends md5 of the empty body), and a path that was signed before or after percent-decoding.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from urllib.parse import unquote

from tidings.channels.signatures import hmac_hex
from tidings.errors import Unauthorized

AUTH_VERSION = "1.0"
_REQUIRED = ("auth_key", "auth_timestamp", "auth_version", "auth_signature")
# Enough digits for any real unix time; bounded so int() never meets a pathological string.
_TIMESTAMP_RE = re.compile(r"[0-9]{1,15}")


def string_to_sign(method: str, path: str, params: Iterable[tuple[str, str]]) -> str:
    signed = sorted((k.lower(), v) for k, v in params if k.lower() != "auth_signature")
    query = "&".join(f"{k}={v}" for k, v in signed)
    return f"{method.upper()}\n{path}\n{query}"


def sign_params(
    key: str,
    secret: str,
    method: str,
    path: str,
    params: dict[str, str],
    body: bytes = b"",
    timestamp: int | None = None,
) -> dict[str, str]:
    """`params` plus the auth_* parameters (and body_md5 for a non-empty body) of a signed request."""
    signed = dict(params)
    signed["auth_key"] = key
    signed["auth_timestamp"] = str(int(time.time()) if timestamp is None else timestamp)
    signed["auth_version"] = AUTH_VERSION
    if body:
        signed["body_md5"] = hashlib.md5(body).hexdigest()
    signed["auth_signature"] = hmac_hex(secret, string_to_sign(method, path, signed.items()))
    return signed


def auth_key_of(params: Iterable[tuple[str, str]]) -> str | None:
    """The `auth_key` parameter, used to find the app before verifying. None when absent."""
    for k, v in params:
        if k.lower() == "auth_key":
            return v
    return None


def verify_request(
    *,
    method: str,
    path: str,
    params: Sequence[tuple[str, str]],
    body: bytes,
    key: str,
    secret: str,
    now: float,
    max_skew: float = 600,
) -> None:
    """Raise Unauthorized unless the request is signed by `key`/`secret` within `max_skew` seconds of `now`.

    `path` is the raw request path (no query string) and `params` the decoded query parameters.
    """
    # Keys are lowercased for signing, so `a=1&A=2` would be ambiguous: refuse any repeat.
    by_key: dict[str, str] = {}
    for k, v in params:
        lk = k.lower()
        if lk in by_key:
            raise Unauthorized(f"Duplicate query parameter {k[:40]!r}")
        by_key[lk] = v

    missing = [name for name in _REQUIRED if name not in by_key]
    if missing:
        raise Unauthorized(f"Missing authentication parameter(s): {', '.join(missing)}")
    if by_key["auth_key"] != key:
        raise Unauthorized(f"Unknown auth_key {by_key['auth_key'][:40]!r}")
    if by_key["auth_version"] != AUTH_VERSION:
        raise Unauthorized(f"Unsupported auth_version {by_key['auth_version']!r}, expected {AUTH_VERSION!r}")
    _check_timestamp(by_key["auth_timestamp"], now, max_skew)
    _check_body_md5(by_key.get("body_md5"), body)
    _check_signature(method, path, params, by_key["auth_signature"], secret)


def _check_timestamp(raw: str, now: float, max_skew: float) -> None:
    if not _TIMESTAMP_RE.fullmatch(raw):
        raise Unauthorized(f"auth_timestamp must be whole seconds since the epoch, got {raw[:40]!r}")
    ts = int(raw)
    if abs(now - ts) > max_skew:
        raise Unauthorized(
            f"Timestamp expired: Given timestamp ({_iso(ts)}) not within {max_skew:g}s of server time ({_iso(now)})"
        )


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):  # beyond what datetime can show
        return str(int(ts))


def _check_body_md5(received: str | None, body: bytes) -> None:
    if received is None:
        if body:
            raise Unauthorized("body_md5 is required when the request has a body")
        return
    # Checked on every method, GET included: the python SDK sends md5(b"") there.
    expected = hashlib.md5(body).hexdigest()
    if received.lower() != expected:
        raise Unauthorized(f"body_md5 does not match the request body: expected {expected}, got {received[:40]!r}")


def _check_signature(method: str, path: str, params: Sequence[tuple[str, str]], received: str, secret: str) -> None:
    got = received.encode(errors="surrogatepass")
    candidates = [path]
    decoded = unquote(path)
    if decoded != path:
        # An SDK may sign the path before escaping it (a channel name with '@' or ','), or after.
        candidates.append(decoded)
    # Check every candidate so the time taken does not depend on which one matched.
    ok = False
    for candidate in candidates:
        expected = hmac_hex(secret, string_to_sign(method, candidate, params)).encode()
        ok |= hmac.compare_digest(expected, got)
    if not ok:
        shown = string_to_sign(method, path, params)
        raise Unauthorized(
            f"Invalid signature: you should have sent HmacSHA256Hex({shown!r}, your_secret_key), "
            f"but you sent {received[:80]!r}"
        )
