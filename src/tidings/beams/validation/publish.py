"""The publish API: what a publish to interests or to users may carry, and the status of every refusal.

Schema refusals answer 422 with "`field`: message" descriptions (the recorded shape of the real service's);
the size limits and a too-long user id answer 400 "Bad request", as the real service does.

User-first routing (docs/user-first-delivery.md): a publish to users may carry `"channels": {"event": ..., "data": ...}`
next to `web`/`apns`/`fcm`; each user signed in on the linked Channels app then gets that event on
`#server-to-user-{id}` instead of the push. It is a Tidings extension, so its refusals are 400 "Bad request"
with a description naming `channels`. `parse_publish` checks its shape and stores `data` as the string
subscribers receive; `check_routing` checks it against the linked app (its limits), which the caller looks up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from tidings.beams.models import TargetKind
from tidings.beams.validation.names import MAX_ID_LENGTH, USER_ID_TOO_LONG, interest_rule, is_interest
from tidings.beams.validation.request import (
    bad_request,
    check_content_type,
    is_http_url,
    is_int_between,
    load_object,
    show,
)
from tidings.channels.apps import App, AppLimits
from tidings.channels.names import check_event_name
from tidings.errors import BeamsError, BeamsErrorKind

MAX_INTERESTS_PER_PUBLISH = 100
MAX_USERS_PER_PUBLISH = 1000
MAX_INTERESTS_BODY = 10 * 1024
MAX_USERS_BODY = 200 * 1024
MAX_TIME_TO_LIVE = 2419200  # 4 weeks: the documented web maximum, and FCM's

ROUTING = "channels"  # the key of the routing object in a publish body (and in the stored payload)
_PLATFORMS = ("apns", "fcm", "web")
_OBJECT_FIELDS = {"apns": ("aps", "data"), "fcm": ("notification", "data"), "web": ("notification", "data")}


@dataclass(frozen=True)
class PublishRequest:
    kind: TargetKind
    targets: tuple[str, ...]  # deduplicated, first occurrence order
    payload: dict[str, Any]  # the body without the target key: {apns?, fcm?, web?, webhookUrl?, channels?, ...}

    @property
    def routed(self) -> RoutedEvent | None:
        return routed_event(self.payload)


@dataclass(frozen=True)
class RoutedEvent:
    """The Channels event of a routed publish, as subscribers receive it: `data` is already the string."""

    event: str
    data: str


def routed_event(payload: dict[str, Any]) -> RoutedEvent | None:
    """The event of a stored (validated) payload, or None for a publish that is not routed."""
    section = payload.get(ROUTING)
    if not isinstance(section, dict):
        return None
    return RoutedEvent(section["event"], section["data"])


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
    if ROUTING in request:
        if kind != "users":
            raise bad_request(
                "`channels` is only for publishes to users (publishes/users): a user signed in on the linked "
                "Channels app gets the event instead of the push. Interests have no signed-in user to route to."
            )
        payload[ROUTING] = _routing_section(request[ROUTING])
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


def _routing_section(section: object) -> dict[str, str]:
    """`{"event": name, "data": string or any JSON value}`; data is kept as the string subscribers receive,
    encoded as the Channels HTTP API and the pusher SDKs encode a non-string (compact JSON)."""
    if not isinstance(section, dict):
        raise bad_request('`channels` must be an object: {"event": "order-shipped", "data": ...}')
    unknown = sorted(set(section) - {"event", "data"})
    if unknown:
        raise bad_request(f"`channels`: unknown field {show(unknown[0])}; it takes `event` and `data`")
    if "event" not in section:
        raise bad_request("`channels.event` is required")
    # The Channels API's rule; the length is the linked app's limit, checked in check_routing.
    error = check_event_name(section["event"], max_length=MAX_USERS_BODY)
    if error is not None:
        raise bad_request(f"`channels.event`: {error}")
    if "data" not in section:
        raise bad_request("`channels.data` is required (a string, or any JSON value)")
    data = section["data"]
    if not isinstance(data, str):
        try:
            data = orjson.dumps(data).decode()
        except orjson.JSONEncodeError as exc:  # deeper than orjson encodes (load_object refused most before)
            raise bad_request("`channels.data` must be a string or a JSON value") from exc
    return {"event": section["event"], "data": data}


def check_routing(routed: RoutedEvent, app: App | None, instance_id: str) -> None:
    """A routed publish against the Channels app linked to its instance: there must be one, and the event must
    fit that app's limits (the Channels HTTP API's: event name length, data size)."""
    if app is None:
        raise bad_request(
            f"`channels` needs a Channels app linked to this Beams instance, and none is: link one with "
            f"`tidings apps update APP_ID --beams-instance {instance_id}`."
        )
    limits: AppLimits = app.limits
    error = check_event_name(routed.event, max_length=limits.max_event_name_length)
    if error is not None:
        raise bad_request(f"`channels.event`: {error}")
    size = len(routed.data.encode())
    if size > limits.max_event_data_bytes:
        raise bad_request(
            f"`channels.data` is too large: {size} bytes once encoded, the limit is {limits.max_event_data_bytes} "
            "bytes (the linked app's max_event_data_bytes)"
        )


def _unprocessable(field: str, message: str) -> BeamsError:
    return BeamsError(BeamsErrorKind.INVALID_PUBLISH, f"`{field}`: {message}")
