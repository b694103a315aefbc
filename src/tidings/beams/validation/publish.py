"""The publish API: what a publish to interests or to users may carry, and the status of every refusal.

Schema refusals answer 422 with "`field`: message" descriptions (the recorded shape of the real service's);
the size limits and a too-long user id answer 400 "Bad request", as the real service does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tidings.beams.models import TargetKind
from tidings.beams.validation.names import MAX_ID_LENGTH, USER_ID_TOO_LONG, interest_rule, is_interest
from tidings.beams.validation.request import (
    bad_request,
    check_content_type,
    is_http_url,
    is_int_between,
    load_object,
)
from tidings.errors import BeamsError, BeamsErrorKind

MAX_INTERESTS_PER_PUBLISH = 100
MAX_USERS_PER_PUBLISH = 1000
MAX_INTERESTS_BODY = 10 * 1024
MAX_USERS_BODY = 200 * 1024
MAX_TIME_TO_LIVE = 2419200  # 4 weeks: the documented web maximum, and FCM's

_PLATFORMS = ("apns", "fcm", "web")
_OBJECT_FIELDS = {"apns": ("aps", "data"), "fcm": ("notification", "data"), "web": ("notification", "data")}


@dataclass(frozen=True)
class PublishRequest:
    kind: TargetKind
    targets: tuple[str, ...]  # deduplicated, first occurrence order
    payload: dict[str, Any]  # the body without the target key: {apns?, fcm?, web?, webhookUrl?, ...}


def parse_publish(body: bytes, content_type: str | None, kind: TargetKind) -> PublishRequest:
    check_content_type(content_type)
    limit = MAX_INTERESTS_BODY if kind == "interests" else MAX_USERS_BODY
    if len(body) > limit:
        raise bad_request(f"Request body size is too large (max {limit // 1024}KiB).")
    request = load_object(body)
    targets = _publish_targets(request, kind)
    _check_platforms(request)
    if "webhookUrl" in request and not is_http_url(request["webhookUrl"]):
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
            if not is_interest(target):
                raise _unprocessable(f"interests[{index}]", interest_rule(target))
        elif not isinstance(target, str) or not target:
            raise _unprocessable(f"users[{index}]", "user ids must be non-empty strings")
        elif len(target) > MAX_ID_LENGTH:
            raise bad_request(USER_ID_TOO_LONG)  # the status and text the real service sends
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
            if not is_int_between(section["time_to_live"], 0, MAX_TIME_TO_LIVE):
                raise _unprocessable(f"{name}.time_to_live", f"must be an integer from 0 to {MAX_TIME_TO_LIVE}")
    for name in present:
        # data.pusher carries the SDKs' tracking metadata; the server writes it (payloads.py).
        if "pusher" in request[name].get("data", {}):
            raise _unprocessable(f"{name}.data.pusher", "the key `pusher` is reserved")


def _unprocessable(field: str, message: str) -> BeamsError:
    return BeamsError(BeamsErrorKind.INVALID_PUBLISH, f"`{field}`: {message}")
