"""The device API's bodies: a registration, metadata, a new FCM token.

Whether a device token suits its gateway is the provider's rule (providers/*/device_token.py), the one
delivery applies before each send: the caller passes it in, and its refusal becomes 400 InvalidToken here.
What this module checks of a token is only that it is a string that fits a device row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from tidings.beams.models import Platform
from tidings.beams.validation.names import MAX_ID_LENGTH
from tidings.beams.validation.request import bad_request, load_object
from tidings.errors import BeamsError, BeamsErrorKind, InvalidDeviceToken

MAX_DEVICES_PER_USER_PER_PLATFORM = 100
# Our own bounds (the real service does not document them): generous for every SDK, small enough
# that one device row or request stays cheap.
# FCM tokens are ~160-200 chars, APNs 64-200 hex, web subscriptions ~300-700 base64. Kept under 2 KB so a
# token always fits PostgreSQL's btree index entry limit (~2.7 KB) on (instance_id, token).
MAX_TOKEN_LENGTH = 2000
MAX_METADATA_SIZE = 4096  # compact JSON bytes; SDKs send {"sdkVersion", "<os>Version"}
MAX_DEVICE_BODY = 16 * 1024  # register / metadata / token bodies

# A platform's token rule: the token as stored, or InvalidDeviceToken saying why not.
TokenRule = Callable[[str], str]


@dataclass(frozen=True)
class Registration:
    token: str  # as the platform's rule keeps it (web: the base64 PushSubscription; apns: lowercased hex)
    metadata: dict[str, Any]
    bundle_identifier: str | None  # APNs only
    known_previous_client_ids: tuple[str, ...]  # FCM only


def parse_registration(platform: Platform, body: bytes, token_rule: TokenRule) -> Registration:
    request = load_object(body, MAX_DEVICE_BODY)
    token = _token(request.get("token"))
    metadata = _metadata(request.get("metadata"))
    token = _apply(token_rule, token)
    bundle_identifier: str | None = None
    previous: tuple[str, ...] = ()
    if platform == Platform.APNS:
        bundle_identifier = _optional_str(request.get("bundleIdentifier"), "bundleIdentifier", 255)
    elif platform == Platform.FCM:
        previous = _client_ids(request.get("knownPreviousClientIds"))
    return Registration(token, metadata, bundle_identifier, previous)


def parse_metadata(body: bytes) -> dict[str, Any]:
    return _metadata(load_object(body, MAX_DEVICE_BODY))


def parse_token(body: bytes, token_rule: TokenRule) -> str:
    """PUT .../token: an FCM device's new registration token."""
    return _apply(token_rule, _token(load_object(body, MAX_DEVICE_BODY).get("token")))


def invalid_token(why: str) -> BeamsError:
    # Title "InvalidToken": the Android SDK stops retrying a registration only on that `error`.
    return BeamsError(BeamsErrorKind.INVALID_TOKEN, why)


def _apply(token_rule: TokenRule, token: str) -> str:
    try:
        return token_rule(token)
    except InvalidDeviceToken as exc:
        raise invalid_token(str(exc)) from None


def _token(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise invalid_token("`token` must be a non-empty string")
    if len(value) > MAX_TOKEN_LENGTH:
        raise invalid_token(f"`token` is too long, max length is {MAX_TOKEN_LENGTH}")
    return value


def _metadata(value: object) -> dict[str, Any]:
    if value is None:  # Gson and Swift leave nil fields out, but a null must not fail a registration
        return {}
    if not isinstance(value, dict):
        raise bad_request("`metadata` must be an object")
    if len(orjson.dumps(value)) > MAX_METADATA_SIZE:
        raise bad_request(f"`metadata` is too large, max {MAX_METADATA_SIZE} bytes of JSON")
    return value


def _client_ids(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(item, str) and 1 <= len(item) <= MAX_ID_LENGTH for item in value
    ):
        raise bad_request("`knownPreviousClientIds` must be an array of device ids")
    return tuple(dict.fromkeys(value))


def _optional_str(value: object, field: str, max_length: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        raise bad_request(f"`{field}` must be a string of 1 to {max_length} characters")
    return value
