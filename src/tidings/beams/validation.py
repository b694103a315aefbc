"""What the Beams APIs accept, and the exact error each refusal carries (reference sections 2, 4, 6, 7).

Everything here takes the raw request body (bytes) and either returns plain values or raises
BeamsError(kind, description); the web layer renders that as {"error", "description"}.
Titles copy the real service where it is known: 400 "Bad request" (lowercase r, as recorded), 422
"Bad Request" with "`field`: message" descriptions (the recorded shape of its schema errors).
Bodies are parsed with orjson, which refuses what storage and push payloads could not carry later:
invalid UTF-8, lone surrogates, NaN/Infinity; `_load_object` then refuses NUL characters (PostgreSQL keeps
none, in text or JSONB) and nesting deeper than MAX_JSON_DEPTH. Paths are checked by `check_path`.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard
from urllib.parse import unquote_to_bytes, urlsplit

import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from tidings.beams.models import Platform, TargetKind
from tidings.errors import BeamsError, BeamsErrorKind

__all__ = [
    "MAX_DEVICES_PER_USER_PER_PLATFORM",
    "MAX_ID_LENGTH",
    "MAX_INTERESTS_BODY",
    "MAX_INTERESTS_PER_DEVICE",
    "MAX_INTERESTS_PER_PUBLISH",
    "MAX_USERS_BODY",
    "MAX_USERS_PER_PUBLISH",
    "PublishRequest",
    "Registration",
    "ReportingEvent",
    "INVALID_TOKEN",
    "WebSubscription",
    "check_content_type",
    "check_interest",
    "check_path",
    "check_user_id",
    "decode_web_subscription",
    "encode_cursor",
    "parse_fcm_token",
    "parse_interest_set",
    "parse_list_limit",
    "parse_metadata",
    "parse_publish",
    "parse_registration",
    "parse_reporting_event",
]

MAX_INTERESTS_PER_PUBLISH = 100
MAX_USERS_PER_PUBLISH = 1000
MAX_INTERESTS_PER_DEVICE = 5000
MAX_ID_LENGTH = 164
MAX_INTERESTS_BODY = 10 * 1024
MAX_USERS_BODY = 200 * 1024
MAX_DEVICES_PER_USER_PER_PLATFORM = 100

# Our own bounds (the real service does not document them): generous for every SDK, small enough
# that one device row or request stays cheap.
# FCM tokens are ~160-200 chars, APNs 64-200 hex, web subscriptions ~300-700 base64. Kept under 2 KB so a
# token always fits PostgreSQL's btree index entry limit (~2.7 KB) on (instance_id, token).
MAX_TOKEN_LENGTH = 2000
MAX_METADATA_SIZE = 4096  # compact JSON bytes; SDKs send {"sdkVersion", "<os>Version"}
MAX_DEVICE_BODY = 16 * 1024  # register / metadata / token bodies
# {"interests": [...]} at the limits: 5000 names of 164 characters (ASCII, never escaped), each quoted and
# followed by a comma, plus 64 KiB for the braces and any whitespace a JSON encoder puts in (~880 KiB).
MAX_INTEREST_SET_BODY = MAX_INTERESTS_PER_DEVICE * (MAX_ID_LENGTH + 3) + 64 * 1024
MAX_REPORTING_BODY = 16 * 1024
# Nesting of any JSON body (publish payloads, metadata). orjson encodes at most 254 levels and a push payload
# wraps the customer's object a few levels deeper; real payloads use a handful.
MAX_JSON_DEPTH = 64
MAX_TIME_TO_LIVE = 2419200  # 4 weeks: the documented web maximum, and FCM's
INVALID_TOKEN = "InvalidToken"  # the title of every refused device token
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 100

_INTEREST = re.compile(r"[A-Za-z0-9_\-=@,.;]{1,164}")
_DIGITS = re.compile(r"[0-9]{1,9}")  # [0-9], not \d: no Arabic-Indic or other Unicode digits
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_BAD_REQUEST = "Bad request"
_USER_ID_TOO_LONG = f"'User id' is too long, max length is {MAX_ID_LENGTH}"
_PLATFORMS = ("apns", "fcm", "web")
_OBJECT_FIELDS = {"apns": ("aps", "data"), "fcm": ("notification", "data"), "web": ("notification", "data")}


# ------------------------------------------------------------------------------------------ names


def check_interest(name: str) -> None:
    if not _is_interest(name):
        raise BeamsError(BeamsErrorKind.INVALID_INTEREST, "`interest-name` given is not valid.")


def check_user_id(user_id: str) -> None:
    if not isinstance(user_id, str) or not user_id:
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, "'User id' must not be empty")
    if len(user_id) > MAX_ID_LENGTH:
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, _USER_ID_TOO_LONG)
    if not _is_unicode_text(user_id) or "\x00" in user_id:
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, "'User id' must be valid Unicode text without NUL characters")


def check_path(raw_path: str) -> None:
    """A request path as sent (still percent-encoded), before any id is taken from it: every escape is `%`
    and two hex digits, and the decoded path is UTF-8 text without NUL (no database keeps NUL in text).

    Ids in Beams paths are opaque, so a path failing this names nothing that could exist: 400 for every route.
    """
    if "%" in raw_path and _BAD_ESCAPE.search(raw_path):
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, "The path has a malformed percent-escape (`%` must be followed by "
                                            "two hex digits).")
    try:
        decoded = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeError:  # decoded bytes that are not UTF-8, or lone surrogates in the path as received
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, "The path is not UTF-8 text once percent-decoded.") from None
    if "\x00" in decoded:
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, "The path must not contain NUL characters (%00).")


def check_content_type(content_type: str | None) -> None:
    """Only application/json, any parameters (charset) allowed. Call it only when there is a body."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise BeamsError(BeamsErrorKind.INVALID_CONTENT_TYPE, "Only `application/json` is supported.")


def _is_interest(name: object) -> bool:
    return isinstance(name, str) and _INTEREST.fullmatch(name) is not None


def _interest_rule(name: object) -> str:
    return (
        f"{_show(name)} is not a valid interest name: interest names are 1 to {MAX_ID_LENGTH} characters"
        " from A-Z a-z 0-9 _ - = @ , . ;"
    )


def _is_unicode_text(text: str) -> bool:
    # A str from a percent-decoded path can hold lone surrogates, which no database can store.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _show(value: object) -> str:
    """`value` quoted for an error description, cut short: descriptions must stay small."""
    text = repr(value)
    return text if len(text) <= 64 else text[:60] + "..."


# ---------------------------------------------------------------------------------------- publish


@dataclass(frozen=True)
class PublishRequest:
    kind: TargetKind
    targets: tuple[str, ...]  # deduplicated, first occurrence order
    payload: dict[str, Any]  # the body without the target key: {apns?, fcm?, web?, webhookUrl?, ...}


def parse_publish(body: bytes, content_type: str | None, kind: TargetKind) -> PublishRequest:
    check_content_type(content_type)
    limit = MAX_INTERESTS_BODY if kind == "interests" else MAX_USERS_BODY
    if len(body) > limit:
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, f"Request body size is too large (max {limit // 1024}KiB)."
        )
    request = _load_object(body)
    targets = _publish_targets(request, kind)
    _check_platforms(request)
    if "webhookUrl" in request and not _is_http_url(request["webhookUrl"]):
        raise _unprocessable("webhookUrl", "must be an http or https URL")
    payload = {key: value for key, value in request.items() if key != kind}
    return PublishRequest(kind=kind, targets=tuple(dict.fromkeys(targets)), payload=payload)


def _publish_targets(request: dict[str, Any], kind: TargetKind) -> list[str]:
    if kind not in request:
        raise _unprocessable(kind, f"{kind} is required")
    other = "users" if kind == "interests" else "interests"
    if other in request:
        # Beams publishes to interests and to users in separate requests (Authenticated Users docs).
        raise _unprocessable(other, f"not allowed when publishing to {kind}")
    targets = request[kind]
    maximum = MAX_INTERESTS_PER_PUBLISH if kind == "interests" else MAX_USERS_PER_PUBLISH
    if not isinstance(targets, list):
        raise _unprocessable(kind, "must be an array")
    if not 1 <= len(targets) <= maximum:
        raise _unprocessable(kind, f"must contain between 1 and {maximum} {kind}, got {len(targets)}")
    for index, target in enumerate(targets):
        if kind == "interests":
            if not _is_interest(target):
                raise _unprocessable(f"interests[{index}]", _interest_rule(target))
        elif not isinstance(target, str) or not target:
            raise _unprocessable(f"users[{index}]", "user ids must be non-empty strings")
        elif len(target) > MAX_ID_LENGTH:
            # The status and text the real service sends.
            raise BeamsError(BeamsErrorKind.BAD_REQUEST, _USER_ID_TOO_LONG)
    return targets


def _check_platforms(request: dict[str, Any]) -> None:
    present = [name for name in _PLATFORMS if name in request]
    if not present:
        raise BeamsError(BeamsErrorKind.INVALID_PUBLISH, "at least one of `apns`, `fcm` or `web` is required")
    for name in present:
        if not isinstance(request[name], dict):
            raise _unprocessable(name, "must be an object")
    for name in present:
        # The shapes the delivery code reads; everything else in a platform object passes through as is.
        section = request[name]
        for field in _OBJECT_FIELDS[name]:
            if field in section and not isinstance(section[field], dict):
                raise _unprocessable(f"{name}.{field}", "must be an object")
        if name != "apns" and "time_to_live" in section:
            if not _is_int_between(section["time_to_live"], 0, MAX_TIME_TO_LIVE):
                raise _unprocessable(f"{name}.time_to_live", f"must be an integer from 0 to {MAX_TIME_TO_LIVE}")
    for name in present:
        # data.pusher carries the SDKs' tracking metadata; the server writes it (payloads.py).
        if "pusher" in request[name].get("data", {}):
            raise _unprocessable(f"{name}.data.pusher", "the key `pusher` is reserved")


def _is_http_url(value: object) -> TypeGuard[str]:
    # urlsplit silently drops tabs and newlines (WHATWG); refuse them, and spaces, before they reach an HTTP client.
    if not isinstance(value, str) or len(value) > 2048 or not value.isprintable() or " " in value:
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return False


def _is_int_between(value: object, low: int, high: int) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _unprocessable(field: str, message: str) -> BeamsError:
    return BeamsError(BeamsErrorKind.INVALID_PUBLISH, f"`{field}`: {message}")


# -------------------------------------------------------------------------------------- device API


@dataclass(frozen=True)
class Registration:
    token: str  # as sent (web: the base64 PushSubscription; apns: lowercased hex)
    metadata: dict[str, Any]
    bundle_identifier: str | None  # APNs only
    known_previous_client_ids: tuple[str, ...]  # FCM only


def parse_registration(platform: Platform, body: bytes, *, https_only: bool = True) -> Registration:
    """A device registration. Web endpoints must be https unless `https_only` is off (push_allow_private_networks);
    whether their host is public needs DNS, which the web layer checks (providers/netguard.py)."""
    request = _load_object(body, MAX_DEVICE_BODY)
    token = _token(request.get("token"))
    metadata = _metadata(request.get("metadata"))
    bundle_identifier: str | None = None
    previous: tuple[str, ...] = ()
    if platform == Platform.WEB:
        decode_web_subscription(token, https_only=https_only)
    elif platform == Platform.APNS:
        if not _HEX.fullmatch(token):
            raise invalid_token("APNs device tokens are hex strings")
        token = token.lower()  # the iOS SDK sends lowercase; one spelling per device token
        bundle_identifier = _optional_str(request.get("bundleIdentifier"), "bundleIdentifier", 255)
    else:
        previous = _client_ids(request.get("knownPreviousClientIds"))
    return Registration(token, metadata, bundle_identifier, previous)


@dataclass(frozen=True)
class WebSubscription:
    """A browser PushSubscription, what Web Push delivery (RFC 8030/8291) needs."""

    endpoint: str
    p256dh: bytes  # the browser's 65-byte uncompressed P-256 point
    auth: bytes  # the 16-byte auth secret


def decode_web_subscription(token: str, *, https_only: bool = False) -> WebSubscription:
    """The subscription in a web device token: base64 of the PushSubscription JSON (`btoa(JSON.stringify(sub))`).

    Delivery reads stored tokens with any http(s) endpoint; registration passes `https_only` (RFC 8030 push
    services are https; plain http is for local development only).
    """
    try:
        subscription = orjson.loads(_b64decode(token))
    except ValueError:  # binascii.Error, UnicodeError and orjson.JSONDecodeError all are
        subscription = None
    if not isinstance(subscription, dict):
        raise invalid_token("a web token must be the base64 of a PushSubscription JSON object")
    endpoint = subscription.get("endpoint")
    if not _is_http_url(endpoint):
        raise invalid_token("the subscription `endpoint` must be an http or https URL")
    if https_only and not endpoint.lower().startswith("https:"):
        raise invalid_token("the subscription `endpoint` must be an https URL")
    keys = subscription.get("keys")
    keys = keys if isinstance(keys, dict) else {}
    p256dh = _b64_key(keys.get("p256dh"))
    if p256dh is None or len(p256dh) != 65 or not _is_p256_point(p256dh):
        raise invalid_token("the subscription `keys.p256dh` must be a base64url P-256 public key")
    auth = _b64_key(keys.get("auth"))
    if auth is None or len(auth) != 16:
        raise invalid_token("the subscription `keys.auth` must be a base64url 16-byte secret")
    return WebSubscription(endpoint=endpoint, p256dh=p256dh, auth=auth)


def invalid_token(why: str) -> BeamsError:
    # Title "InvalidToken": the Android SDK stops retrying a registration only on that `error` (reference 8).
    return BeamsError(BeamsErrorKind.INVALID_TOKEN, why)


def _b64decode(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not (browsers write the first, PushSubscription keys the second)."""
    if not text.isascii():
        raise ValueError("not base64")
    text = text.replace("-", "+").replace("_", "/").rstrip("=")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _b64_key(value: object) -> bytes | None:
    if not isinstance(value, str) or len(value) > 256:
        return None
    try:
        return _b64decode(value)
    except ValueError:
        return None


def _is_p256_point(raw: bytes) -> bool:
    # Checked now so that delivery never meets a key it cannot do ECDH with.
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        return False
    return True


def parse_metadata(body: bytes) -> dict[str, Any]:
    return _metadata(_load_object(body, MAX_DEVICE_BODY))


def parse_fcm_token(body: bytes) -> str:
    return _token(_load_object(body, MAX_DEVICE_BODY).get("token"))


def parse_interest_set(body: bytes) -> list[str]:
    request = _load_object(body, MAX_INTEREST_SET_BODY)
    interests = request.get("interests")
    if not isinstance(interests, list):
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, "`interests` must be an array of interest names")
    for name in interests:
        if not _is_interest(name):
            raise BeamsError(BeamsErrorKind.INVALID_INTEREST, "`interest-name` given is not valid.")
    unique = list(dict.fromkeys(interests))
    if len(unique) > MAX_INTERESTS_PER_DEVICE:
        raise BeamsError(
            BeamsErrorKind.TOO_MANY_INTERESTS, f"A device can have at most {MAX_INTERESTS_PER_DEVICE} interests"
        )
    return unique


def parse_list_limit(limit: str | None, cursor: str | None) -> tuple[int, int]:
    """(limit, offset) for listing a device's interests; the cursor is an offset this server issued."""
    size = DEFAULT_LIST_LIMIT
    if limit is not None:
        if not _DIGITS.fullmatch(limit) or not 1 <= int(limit) <= MAX_LIST_LIMIT:
            raise BeamsError(BeamsErrorKind.BAD_REQUEST, "`limit` given is not valid.")
        size = int(limit)
    offset = 0
    if cursor:  # the web SDK leaves an empty cursor out; treat `?cursor=` the same
        if not _DIGITS.fullmatch(cursor):
            raise BeamsError(BeamsErrorKind.BAD_REQUEST, "`cursor` given is not valid.")
        offset = int(cursor)
    return size, offset


def encode_cursor(offset: int) -> str:
    """The `nextCursor` for a page that starts at `offset`; parse_list_limit reads it back."""
    return str(offset)


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
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, "`metadata` must be an object")
    if len(orjson.dumps(value)) > MAX_METADATA_SIZE:
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, f"`metadata` is too large, max {MAX_METADATA_SIZE} bytes of JSON")
    return value


def _client_ids(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(item, str) and 1 <= len(item) <= MAX_ID_LENGTH for item in value
    ):
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, "`knownPreviousClientIds` must be an array of device ids")
    return tuple(dict.fromkeys(value))


def _optional_str(value: object, field: str, max_length: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, f"`{field}` must be a string of 1 to {max_length} characters")
    return value


# ------------------------------------------------------------------------------------- reporting

EventType = Literal["delivery", "open"]
_EVENT_TYPES: dict[str, EventType] = {"delivery": "delivery", "open": "open"}


@dataclass(frozen=True)
class ReportingEvent:
    event: EventType
    publish_id: str
    device_id: str
    timestamp_secs: int
    user_id: str | None = None
    app_in_background: bool | None = None
    has_displayable_content: bool | None = None
    has_data: bool | None = None
    instance_id: str | None = None  # iOS and Android repeat it in the body; web does not

    @property
    def extra(self) -> dict[str, Any]:
        """The optional fields that were sent, under their wire names (what storage keeps beside the event)."""
        sent = {
            "appInBackground": self.app_in_background,
            "hasDisplayableContent": self.has_displayable_content,
            "hasData": self.has_data,
            "instanceId": self.instance_id,
        }
        return {name: value for name, value in sent.items() if value is not None}


def parse_reporting_event(body: bytes) -> ReportingEvent:
    request = _load_object(body, MAX_REPORTING_BODY)
    event = request.get("event")
    # Web sends "delivery"/"open", iOS and Android "Delivery"/"Open".
    kind = _EVENT_TYPES.get(event.lower()) if isinstance(event, str) else None
    if kind is None:
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, "`event` must be `delivery` or `open`")
    timestamp = request.get("timestampSecs")
    if not _is_int_between(timestamp, 0, 2**63 - 1):
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, "`timestampSecs` must be a non-negative integer")
    return ReportingEvent(
        event=kind,
        publish_id=_required_id(request, "publishId"),
        device_id=_required_id(request, "deviceId"),
        timestamp_secs=timestamp,
        user_id=_optional_id(request, "userId"),
        app_in_background=_optional_bool(request, "appInBackground"),
        has_displayable_content=_optional_bool(request, "hasDisplayableContent"),
        has_data=_optional_bool(request, "hasData"),
        instance_id=_optional_id(request, "instanceId"),
    )


def _required_id(request: dict[str, Any], field: str) -> str:
    value = request.get(field)
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_LENGTH:
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, f"`{field}` must be a string of 1 to {MAX_ID_LENGTH} characters")
    return value


def _optional_id(request: dict[str, Any], field: str) -> str | None:
    value = request.get(field)
    if value is None or value == "":
        return None
    return _required_id(request, field)


def _optional_bool(request: dict[str, Any], field: str) -> bool | None:
    value = request.get(field)
    if value is not None and not isinstance(value, bool):
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, f"`{field}` must be a boolean")
    return value


# ------------------------------------------------------------------------------------------ shared


def _load_object(body: bytes, max_size: int | None = None) -> dict[str, Any]:
    if max_size is not None and len(body) > max_size:
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, f"Request body too large, max {max_size} bytes")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, "Failed to read body as a JSON object.")
    _check_storable(value)
    return value


def _check_storable(value: dict[str, Any]) -> None:
    """Refuse a parsed body holding NUL in any key or string, or nested deeper than MAX_JSON_DEPTH.

    Iterative, so a deep body costs a list, not Python stack frames.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise _nul_in_body()
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise BeamsError(
                    BeamsErrorKind.BAD_REQUEST, f"The JSON body is nested too deep (max {MAX_JSON_DEPTH} levels)."
                )
            if isinstance(item, dict):
                if any("\x00" in key for key in item):
                    raise _nul_in_body()
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)


def _nul_in_body() -> BeamsError:
    return BeamsError(BeamsErrorKind.BAD_REQUEST, "The JSON body must not contain NUL characters (\\u0000).")
