"""Beams Tokens: the HS256 JWTs a customer's server gives a device to prove its user id (docs/protocol/beams.md §3).

Claims are `sub` (user id), `exp` and `iss` (`https://{instance}.pushnotifications.pusher.com`); the key
is the instance secret key's UTF-8 bytes. Every official server SDK makes them; `PUT .../user` checks them.
Only PyJWS (the signature layer) is used: claims are checked here, against an injected clock, so
PyJWT's own claim rules (and its wall clock) never decide anything.
"""

from __future__ import annotations

import math
from typing import Any

import jwt
import orjson

from tidings.errors import BeamsError, BeamsErrorKind

ALGORITHM = "HS256"
MAX_SUB_LENGTH = 164
_SCHEME = "https://"


def issuer(instance_id: str) -> str:
    return f"{_SCHEME}{instance_id}.pushnotifications.pusher.com"


def issue(instance_id: str, secret_key: str, user_id: str, *, now: float, lifetime: int = 86400) -> str:
    """A Beams Token for `user_id`, shaped like the SDKs' `generateToken` output."""
    claims = {"sub": user_id, "exp": int(now) + lifetime, "iss": issuer(instance_id)}
    return jwt.encode(claims, secret_key, algorithm=ALGORITHM)


def verify(token: str, *, instance_id: str, secret_key: str, now: float) -> str:
    """The user id (`sub`) of a valid token; BeamsError (400/401/403) otherwise.

    The signature is checked before any claim is looked at, so an unauthenticated caller learns
    nothing beyond "Unauthorized" from a forged token.
    """
    claims = _verified_claims(token, secret_key)
    # Descriptions are the device API documentation's own wording.
    for name, field in (("exp", "expiration"), ("sub", "subject"), ("iss", "issuer")):
        if name not in claims:
            raise BeamsError(BeamsErrorKind.REJECTED, f"Missing {field} ({name}) field in JWT")
    exp = claims["exp"]
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        raise BeamsError(BeamsErrorKind.REJECTED, "JWT exp claim must be a number")
    sub = claims["sub"]
    if not isinstance(sub, str) or not 1 <= len(sub) <= MAX_SUB_LENGTH:
        raise BeamsError(
            BeamsErrorKind.REJECTED, f"JWT subject (sub) must be between 1-{MAX_SUB_LENGTH} characters long"
        )
    if "\x00" in sub:  # no database keeps NUL in text; no SDK can mean it
        raise BeamsError(BeamsErrorKind.REJECTED, "JWT subject (sub) must not contain NUL characters")
    # The Swift server SDK writes `iss` without the scheme; accept exactly those two spellings.
    expected = issuer(instance_id)
    if claims["iss"] not in (expected, expected.removeprefix(_SCHEME)):
        raise BeamsError(BeamsErrorKind.FORBIDDEN, "Invalid JWT issuer.")
    # No upper bound on exp: the python SDK computes it with local time, the Kotlin one the other way round.
    if exp <= now:
        raise BeamsError(BeamsErrorKind.UNAUTHORIZED, "Invalid JWT: the token has expired")
    return sub


def _verified_claims(token: str, secret_key: str) -> dict[str, Any]:
    # A JWT is ASCII; header values can carry anything (even lone surrogates), which must not crash the decoder.
    if not token.isascii():
        raise BeamsError(BeamsErrorKind.UNAUTHORIZED, "`Authorization` header token is malformed.")
    try:
        # algorithms=[HS256] refuses "none", HS384/512, RS*/ES* (incl. the RS-with-HMAC-key confusion).
        payload = jwt.PyJWS().decode(token, secret_key, algorithms=[ALGORITHM])
    except jwt.InvalidAlgorithmError as exc:
        raise _unauthorized("the algorithm must be HS256") from exc
    except jwt.InvalidSignatureError as exc:
        raise _unauthorized("signature verification failed") from exc
    except jwt.PyJWTError as exc:
        raise BeamsError(BeamsErrorKind.UNAUTHORIZED, "`Authorization` header token is malformed.") from exc
    try:
        claims = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise _unauthorized("the payload is not JSON") from exc
    if not isinstance(claims, dict):
        raise _unauthorized("the payload is not a JSON object")
    return claims


def _unauthorized(why: str) -> BeamsError:
    return BeamsError(BeamsErrorKind.UNAUTHORIZED, f"Invalid JWT: {why}")
